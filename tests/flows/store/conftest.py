"""The ``store`` fixture: every contract test runs on SQLite and on MongoDB: the server
MONGODB_URI names when set, else nx-27017 started for the session (see tests/conftest.py). Each
MongoDB test gets a throw-away database, dropped afterwards."""

from __future__ import annotations

import pytest

from tests.flows.store.nx_server import throwaway_mongo_store


@pytest.fixture(params=["sqlite", "mongodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from tripwire.flows.store.sqlite import SqliteStore

        s = SqliteStore(tmp_path / "store.sqlite")
        yield s
        s.close()
        return
    with throwaway_mongo_store(request.getfixturevalue("mongodb_uri")) as s:
        yield s
