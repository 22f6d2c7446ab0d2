"""Fixtures shared across the whole suite."""

from __future__ import annotations

import os
import time

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server (SQLite, in a temporary directory) for every module that needs one.

    Starting a server costs 8–10 s on this machine; the modules that need one each used to start
    their own. Tests only read back what they created themselves (runs by id or name, deployments
    by name), so sharing it changes nothing they assert. Logs are not shipped to the API: SQLite
    serialises writes and the server answers 503 on "database is locked". For the same reason
    the server does not run the services that write what no test reads (the event log, task-run
    rows, automations): with them, a burst of flow runs had the server's own writers holding the
    database long enough for API calls to time out.
    """
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    quiet_server = {
        "server.services.event_persister.enabled": False,
        "server.services.task_run_recorder.enabled": False,
        "server.services.triggers.enabled": False,
    }
    with (
        temporary_settings(updates=quiet_server),
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: False}),
    ):
        yield
        stop_prefect_services()  # before the harness's own unbounded drain


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory):
    """A MongoDB server for the store's MongoDB half: the one ``MONGODB_URI`` names when set
    (a real MongoDB), else nx-27017 (a MongoDB wire-protocol server on SQLite) started once
    for the session in a temporary directory and stopped at its end."""
    from tripwire.flows.store import MONGODB_URI_ENV

    uri = os.environ.get(MONGODB_URI_ENV)
    if uri:
        yield uri
        return
    from tests.flows.store.nx_server import nx_27017

    t0 = time.monotonic()
    with nx_27017(tmp_path_factory.mktemp("nx-27017")) as uri:
        print(f"\nnx-27017 at {uri}, answering ping after {time.monotonic() - t0:.2f} s")
        yield uri


def pytest_unconfigure(config):
    """Let the interpreter exit when Prefect's client services still hold undeliverable work
    (see :func:`stop_prefect_services`)."""
    stop_prefect_services()


def stop_prefect_services(timeout_s: float = 20.0) -> None:
    """Stop Prefect's client-side event and log workers, dropping what they still hold.

    They drain with no deadline (at interpreter exit, and in ``prefect_test_harness``'s own
    teardown), and each queued event whose server is gone costs about 8 s of reconnect
    attempts: with tens of events left for a test server that has stopped (another module's),
    a process hung for many minutes after its last test. At the end of the session nothing
    left in those queues is wanted: drop it, stop each worker, and wait a bounded time for the
    one item each may be sending.
    """
    import concurrent.futures
    import gc
    import queue
    import sys

    services = sys.modules.get("prefect._internal.concurrency.services")
    if services is None:
        return
    pending = []

    def is_service(obj: object) -> bool:
        try:
            return isinstance(obj, services._QueueServiceBase)
        except ReferenceError:  # a weakref proxy whose object is gone
            return False

    for service in [obj for obj in gc.get_objects() if is_service(obj)]:
        if service._done_event is None or service._done_event.is_set():
            continue  # never started, or finished
        while True:
            try:
                service._queue.get_nowait()
            except queue.Empty:
                break
            service._queue.task_done()
        if service._stopped:
            service._queue.put_nowait(None)  # the stop sentinel was among what was dropped
        pending.append(service._drain(at_exit=True))
    concurrent.futures.wait(pending, timeout=timeout_s)
