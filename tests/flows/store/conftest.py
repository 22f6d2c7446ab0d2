"""The ``store`` fixture: every contract test runs on SQLite and on MongoDB: the server
MONGODB_URI names when set, else nx-27017 started for the session (see tests/conftest.py). Each
MongoDB test gets a throw-away database, dropped afterwards."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(params=["sqlite", "mongodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from tripwire.flows.store.sqlite import SqliteStore

        s = SqliteStore(tmp_path / "store.sqlite")
        yield s
        s.close()
        return
    from tripwire.flows.store.mongo import MongoStore

    uri = request.getfixturevalue("mongodb_uri")
    db = f"tripwire_test_{uuid.uuid4().hex[:12]}"
    s = MongoStore(uri, db)
    yield s
    s._client.drop_database(db)
    s.close()
