"""Fixtures shared across the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server (SQLite, in a temporary directory) for every module that needs one.

    Starting a server costs 8–10 s on this machine; the modules that need one each used to start
    their own. Tests only read back what they created themselves (runs by id or name, deployments
    by name), so sharing it changes nothing they assert. Logs are not shipped to the API: SQLite
    serialises writes and the server answers 503 on "database is locked".
    """
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: False}),
    ):
        yield
