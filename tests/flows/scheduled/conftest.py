"""Shared fixtures: a fresh SQLite store per test (the real store, in a temporary file)."""

from __future__ import annotations

import pytest

from tripwire.flows.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    s.close()
