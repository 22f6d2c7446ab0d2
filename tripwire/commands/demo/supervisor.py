"""Child processes for the demo: start, wait until ready, log to files, stop cleanly.

Every child gets ``PR_SET_PDEATHSIG`` (Linux): if the supervisor dies, even by SIGKILL, the
kernel sends its children SIGTERM, so a demo never leaves orphans. Stopping is in reverse start
order (consumers before producers: the API and flows go before the hot path, the hot path
before its exchange), SIGTERM first so each flushes what it holds, SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the supervisor's own shutdown path still stops its children


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartError(Exception):
    """A child did not come up; the message says which, why, and where its log is."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path
    ready: threading.Event = field(default_factory=threading.Event)
    lines: list[str] = field(default_factory=list)  # the last lines, for error messages

    def tail(self, n: int = 15) -> str:
        return "".join(self.lines[-n:])


class Supervisor:
    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **(env or {})}
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        ready_line: str | None = None,
        env: dict[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Child:
        log_path = self.log_dir / f"{name}.log"
        proc = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        )
        child = Child(name, proc, log_path)
        self.children.append(child)

        def pump() -> None:
            with log_path.open("w") as log:
                for line in proc.stdout:  # type: ignore[union-attr]  # stdout is a pipe: Popen(stdout=PIPE)
                    log.write(line)
                    log.flush()
                    child.lines.append(line)
                    del child.lines[:-50]
                    if ready_line is not None and ready_line in line:
                        child.ready.set()
                    if on_line is not None:
                        on_line(line)

        threading.Thread(target=pump, name=f"log {name}", daemon=True).start()
        if ready_line is None:
            child.ready.set()
        return child

    def python(self, name: str, *args: str, **kw) -> Child:
        return self.start(name, [sys.executable, "-m", "tripwire.cli", *args], **kw)

    def wait_ready(self, child: Child, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not child.ready.wait(0.1):
            if child.proc.poll() is not None:
                raise StartError(
                    f"{child.name} exited with {child.proc.returncode} during start-up "
                    f"(log: {child.log_path}):\n{child.tail()}"
                )
            if time.monotonic() > deadline:
                raise StartError(
                    f"{child.name} not ready after {timeout_s:.0f} s (log: {child.log_path}):\n{child.tail()}"
                )

    def wait_http(self, child: Child, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if child.proc.poll() is not None:
                raise StartError(
                    f"{child.name} exited with {child.proc.returncode} during start-up "
                    f"(log: {child.log_path}):\n{child.tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        child.ready.set()
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise StartError(
                    f"{child.name} did not answer {url} within {timeout_s:.0f} s "
                    f"(log: {child.log_path}):\n{child.tail()}"
                )
            time.sleep(0.25)

    def failed(self) -> list[Child]:
        return [c for c in self.children if c.proc.poll() is not None]

    def stop_all(self, grace_s: float = 15.0, keep: tuple[str, ...] = ()) -> dict[str, int | None]:
        """SIGTERM in reverse start order, each given ``grace_s`` to exit; then SIGKILL."""
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            if child.name in keep:
                continue
            p = child.proc
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(grace_s)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            codes[child.name] = p.returncode
        return codes
