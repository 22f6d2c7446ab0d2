"""Choosing the backend from a URI (and the MONGODB_URI override)."""

from __future__ import annotations

import pytest

from tripwire.config.settings import load_settings
from tripwire.flows.store import MONGODB_URI_ENV, Store, StoreError, open_store, store_from_settings
from tripwire.flows.store.sqlite import SqliteStore


class FakeMongo:
    def __init__(self, uri):
        self.uri = uri


@pytest.fixture
def fake_mongo(monkeypatch):
    import tripwire.flows.store.mongo

    monkeypatch.setattr(tripwire.flows.store.mongo, "MongoStore", FakeMongo)


def test_a_relative_sqlite_uri_is_a_file_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///run/sub/t.sqlite")
    assert isinstance(s, SqliteStore) and isinstance(s, Store)
    assert (tmp_path / "run" / "sub" / "t.sqlite").exists()
    s.close()


def test_an_absolute_sqlite_uri_has_four_slashes(tmp_path, monkeypatch):
    monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    s = open_store(f"sqlite:///{tmp_path}/abs.sqlite")
    assert s.path == tmp_path / "abs.sqlite"
    s.close()


def test_mongodb_uri_in_the_environment_wins_unless_told_otherwise(tmp_path, monkeypatch, fake_mongo):
    monkeypatch.setenv(MONGODB_URI_ENV, "mongodb://db.example:27017/tw")
    assert open_store(f"sqlite:///{tmp_path}/x.sqlite").uri == "mongodb://db.example:27017/tw"
    s = open_store(f"sqlite:///{tmp_path}/x.sqlite", env=False)
    assert isinstance(s, SqliteStore)
    s.close()


def test_a_mongodb_uri_opens_the_mongodb_store(monkeypatch, fake_mongo):
    monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    assert open_store("mongodb+srv://u:p@cluster.example/tw").uri == "mongodb+srv://u:p@cluster.example/tw"


@pytest.mark.parametrize(
    "uri", ["postgres://u:secret@h/db", "sqlite://relative.db", "sqlite:///", "run/tripwire.sqlite", ""]
)
def test_an_unsupported_uri_is_refused_naming_it_without_its_password(uri, monkeypatch):
    monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    with pytest.raises(StoreError) as e:
        open_store(uri)
    assert "secret" not in str(e.value)
    if uri:
        assert repr(uri.replace("secret", "***")) in str(e.value)


def test_store_from_settings_uses_store_uri(tmp_path, monkeypatch):
    monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    f = tmp_path / "settings.yaml"
    f.write_text(f"store:\n  uri: sqlite:///{tmp_path}/from-settings.sqlite\n")
    s = store_from_settings(load_settings(f))
    assert s.path == tmp_path / "from-settings.sqlite"
    s.close()
