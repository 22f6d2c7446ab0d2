"""Issue #10: every process that cannot reach a dependency at start says which, where and what
to start — one line, exit status 2, no traceback — or, for one it can do without, says so and
starts. Each test runs the real command (``python -m tripwire.cli …``) against a dead port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.fixtures import REPO
from tripwire.commands import dependencies
from tripwire.errors import UserError


def dead_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    e = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    e.pop("MONGODB_URI", None)
    return e


def tripwire(
    *args: str, cwd, extra_env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tripwire.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(**(extra_env or {})),
    )


def one_clear_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    [line] = [x for x in r.stderr.splitlines() if x.startswith("tripwire ")]
    return line


def test_hotpath_in_sim_mode_with_no_simulator_names_it_and_how_to_start_it(tmp_path):
    """It used to retry for two minutes and die with a traceback."""
    port = dead_port()
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(f"mode: sim\nexchange:\n  sim_url: http://127.0.0.1:{port}\n")
    start = time.monotonic()
    r = tripwire(
        "hotpath",
        "run",
        "--config",
        str(cfg),
        "--risk",
        str(REPO / "config/risk.yaml"),
        "--metrics-port",
        "0",
        "--events",
        f"ipc://{tmp_path}/e.sock",
        "--commands",
        f"ipc://{tmp_path}/c.sock",
        cwd=REPO,
    )
    line = one_clear_line(r)
    assert line.startswith(
        f"tripwire hotpath: cannot reach the simulator at "
        f"http://127.0.0.1:{port} (mode sim, exchange.sim_url): start it with "
        f"`tripwire sim --port {port}`"
    ), line
    assert time.monotonic() - start < 30


def test_hotpath_names_the_url_given_on_the_command_line(tmp_path):
    port = dead_port()
    r = tripwire(
        "hotpath",
        "run",
        "--api-url",
        f"http://localhost:{port}",
        "--risk",
        str(REPO / "config/risk.yaml"),
        "--metrics-port",
        "0",
        "--events",
        f"ipc://{tmp_path}/e.sock",
        "--commands",
        f"ipc://{tmp_path}/c.sock",
        cwd=REPO,
    )
    line = one_clear_line(r)
    assert f"the simulator at http://localhost:{port} (mode demo, --api-url)" in line
    assert f"`tripwire sim --port {port}`" in line


def test_recorder_without_its_store_names_it_and_what_to_start(tmp_path):
    port = dead_port()
    r = tripwire(
        "flows",
        "record",
        "--store",
        f"mongodb://user:secret@127.0.0.1:{port}/tw",
        "--events",
        f"ipc://{tmp_path}/e.sock",
        "--metrics-port",
        "0",
        cwd=tmp_path,
    )
    line = one_clear_line(r)
    assert f"cannot reach the store at mongodb://user:***@127.0.0.1:{port}/tw" in line
    assert "start MongoDB" in line and "Connection refused" in line
    assert "secret" not in r.stderr and "Topology" not in line


def test_dispatcher_without_its_store_names_it(tmp_path):
    port = dead_port()
    r = tripwire(
        "flows",
        "dispatch",
        "--store",
        f"mongodb://127.0.0.1:{port}/tw",
        "--run-dir",
        str(tmp_path / "bus"),
        "--metrics-port",
        "0",
        cwd=tmp_path,
        extra_env={"PREFECT_API_URL": f"http://127.0.0.1:{dead_port()}/api"},
    )
    line = one_clear_line(r)
    assert f"cannot reach the store at mongodb://127.0.0.1:{port}/tw" in line


def test_dispatcher_without_prefect_or_hot_path_says_so_and_runs(tmp_path):
    """Prefect is optional for the dispatcher (it decides without it, docs/DISPATCH.md), and
    the hot path may come later: one line each, then it runs until stopped."""
    prefect = f"http://127.0.0.1:{dead_port()}/api"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tripwire.cli",
            "flows",
            "dispatch",
            "--run-dir",
            str(tmp_path / "bus"),
            "--store",
            f"sqlite:///{tmp_path}/d.sqlite",
            "--metrics-port",
            "0",
        ],
        cwd=tmp_path,
        env=env(PREFECT_API_URL=prefect),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "analysis goes on without it" in line or not line:  # logged from its loop
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert f"no hot path at ipc://{tmp_path}/bus/events.sock yet" in out, out
    assert (
        f"cannot reach the Prefect API at {prefect} (PREFECT_API_URL): start it with `prefect server start`" in out
    ), out
    assert "decided here by the local model at once" in out
    assert proc.returncode == 0, out + rest
    assert "decided without Prefect 0; runs recorded after their decision 0, not recorded 0" in rest


def test_flows_serve_without_prefect_names_it(tmp_path):
    prefect = f"http://127.0.0.1:{dead_port()}/api"
    r = tripwire("flows", "serve", cwd=REPO, extra_env={"PREFECT_API_URL": prefect})
    line = one_clear_line(r)
    assert line.startswith(
        f"tripwire flows: cannot reach the Prefect API at {prefect} "
        f"(PREFECT_API_URL): start it with `prefect server start`"
    ), line


def test_api_without_store_or_prefect_says_which_and_serves(tmp_path):
    """The control plane stays up (pause and flatten need neither); each missing dependency
    gets its line."""
    store_port, prefect_port, port = dead_port(), dead_port(), dead_port()
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(
        f"store:\n  uri: mongodb://127.0.0.1:{store_port}/tw\n"
        f"prefect:\n  api_url: http://127.0.0.1:{prefect_port}/api\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tripwire.cli", "api", "--config", str(cfg), "--port", str(port)],
        cwd=REPO,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (
        f"cannot reach the store at mongodb://127.0.0.1:{store_port}/tw (store.uri or "
        "MONGODB_URI): start MongoDB" in out
    ), out
    assert (
        f"cannot reach the Prefect API at http://127.0.0.1:{prefect_port}/api "
        "(prefect.api_url): start it with `prefect server start`" in out
    ), out


def test_a_remote_exchange_is_waited_for_then_named():
    """At boot the network may lag: a remote exchange gets some time, a local simulator none."""
    slept = []
    remote = "http://192.0.2.1:9"  # TEST-NET-1: never answers
    with pytest.raises(UserError) as e:
        dependencies.require_exchange(
            "testnet", remote, "exchange.api_url", wait_s=1, timeout_s=0.3, sleep=slept.append
        )
    assert str(e.value).startswith(
        f"cannot reach the exchange at {remote} (mode testnet, exchange.api_url): check this host's network"
    )
    assert slept
    slept.clear()
    with pytest.raises(UserError):
        dependencies.require_exchange(
            "sim", f"http://127.0.0.1:{dead_port()}", "exchange.sim_url", wait_s=60, sleep=slept.append
        )
    assert slept == []
