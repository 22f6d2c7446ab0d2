"""A real MongoDB wire-protocol server for the tests: nx-27017 (pymongo → OP_MSG → SQLite) as a
subprocess on a free port in a temporary directory, or the server ``MONGODB_URI`` names.

Port 0 lets the kernel pick a free port (no race with other test runs); the server logs the
port it bound, which is read from its stderr. It is up when it answers ``ping``.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

_LISTENING = re.compile(r"Listening on [\d.]+:(\d+)")


@contextlib.contextmanager
def nx_27017(workdir: Path, timeout_s: float = 30.0) -> Iterator[str]:
    """Start nx-27017 with one SQLite file per database under ``workdir``; yield its URI."""
    import pymongo

    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from nx_27017.nx_27017 import main; main()",
                "--host", "127.0.0.1",
                "-p", "0",
                "--data-dir", str(workdir / "data"),
                "--pid-file", str(workdir / "nx.pid"),
                "--log-file", str(workdir / "nx.log"),
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        port = None
        while port is None:
            if proc.poll() is not None:
                raise RuntimeError(f"nx-27017 exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nx-27017 did not listen within {timeout_s} s: {log.read_text()[-2000:]}")
            m = _LISTENING.search(log.read_text())
            if m:
                port = int(m.group(1))
            else:
                time.sleep(0.02)
        uri = f"mongodb://127.0.0.1:{port}"
        client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(timeout_s * 1000))
        try:
            client.admin.command("ping")
        finally:
            client.close()
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def throwaway_mongo_store(uri: str, **kw: object) -> Iterator[object]:
    """A :class:`MongoStore` on a fresh database of the server at ``uri``, dropped afterwards."""
    import uuid

    from tripwire.flows.store.mongo import MongoStore

    db = f"tripwire_test_{uuid.uuid4().hex[:12]}"
    s = MongoStore(uri, db, **kw)  # type: ignore[arg-type]
    try:
        yield s
    finally:
        s._client.drop_database(db)
        s.close()
