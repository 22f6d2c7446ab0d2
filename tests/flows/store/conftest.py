"""The ``store`` fixture: every contract test runs on SQLite, and on MongoDB when MONGODB_URI
names a server (a throw-away database per test, dropped afterwards)."""

from __future__ import annotations

import os
import uuid

import pytest

from tripwire.flows.store import MONGODB_URI_ENV


@pytest.fixture(params=["sqlite", "mongodb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from tripwire.flows.store.sqlite import SqliteStore

        s = SqliteStore(tmp_path / "store.sqlite")
        yield s
        s.close()
        return
    uri = os.environ.get(MONGODB_URI_ENV)
    if not uri:
        pytest.skip(
            f"{MONGODB_URI_ENV} is not set: the MongoDB backend runs this suite only "
            "against a real server (e.g. MONGODB_URI=mongodb://127.0.0.1:27017)"
        )
    from tripwire.flows.store.mongo import MongoStore

    db = f"tripwire_test_{uuid.uuid4().hex[:12]}"
    s = MongoStore(uri, db)
    yield s
    s._client.drop_database(db)
    s.close()
