"""The README's first command: the whole system on the bundled recording, as processes.

One short demo (the hour at 240×) must end with a non-empty report — triggers fired, orders on
the simulator, decisions applied, rows in the store, flow runs in Prefect — expose every
metric the Grafana dashboard queries, and leave no process behind. A second run is stopped by
SIGTERM half-way and must shut down cleanly too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures import REPO
from tests.ops.dashboard import dashboard_metrics


def demo(run_dir, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TRIPWIRE_"))}
    env.pop("MONGODB_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tripwire.cli", "demo", "--speed", "240", "--run-dir", str(run_dir), "--no-pin", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): count it as gone (its parent has exited)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def assert_no_orphans(run_dir) -> None:
    pids = json.loads((run_dir / "pids.json").read_text())
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not {n: p for n, p in pids.items() if alive(p)}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("demo")
    proc = demo(run_dir)
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out, run_dir


def test_the_demo_ends_with_a_non_empty_report(finished):
    code, out, run_dir = finished
    assert code == 0, out[-3000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["triggers_fired"] >= 1, out[-3000:]
    assert report["simulator"]["fills"] >= 1
    assert report["decisions_applied"] >= 1
    assert report["one_way"]["violations"] == []  # no stop/take-profit outlives its position
    assert report["store_rows"].get("triggers", 0) >= 1
    assert report["store_rows"].get("decisions", 0) >= 1
    assert report["store_rows"].get("trades", 0) >= 1
    assert report["prefect_flow_runs"] >= 1
    assert "=== tripwire demo report ===" in out


def test_every_metric_the_dashboard_queries_is_exported_by_the_running_demo(finished):
    _, _, run_dir = finished
    scraped = set((run_dir / "metrics.txt").read_text().split())
    wanted = dashboard_metrics(REPO / "ops/grafana/tripwire.json")
    assert wanted - scraped == set()


def test_the_demo_leaves_no_process_behind(finished):
    assert_no_orphans(finished[2])


def test_sigterm_stops_the_whole_demo_cleanly(tmp_path):
    proc = demo(tmp_path, "--duration", "600")
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]  # stdout is a pipe: Popen(stdout=PIPE)
        lines.append(line)
        if line.startswith("all up"):
            break
    else:
        raise AssertionError("".join(lines[-30:]))
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert "stopped:" in out and "unclean" not in out, out[-3000:]
    assert_no_orphans(tmp_path)


def test_the_demo_report_shows_smart_money_with_data_behind_it(finished):
    """The leaderboard of the simulator's traders is ranked at start, their positions polled,
    a signal computed from them, and ls_ratio reaches the hot path: it is in the triggers'
    feature snapshots from the first signal on."""
    from tripwire.flows.store import open_store

    _, out, run_dir = finished
    sm = json.loads((run_dir / "report.json").read_text())["smart_money"]
    assert sm["errors"] == [], sm["errors"]
    assert sm["runs"]["leaderboard"] >= 1 and sm["runs"]["poll"] >= 1 and sm["runs"]["signals"] >= 1
    assert sm["tracked"] >= 10 and len(sm["top_traders"]) == 5
    assert sm["holding"] >= 1  # tracked traders' positions, polled from the simulator
    btc = sm["signals"]["BTC"]
    assert btc["n_long"] + btc["n_short"] >= 1  # computed from those positions
    assert "smart money" in out and "signal BTC" in out
    store = open_store(f"sqlite:///{run_dir / 'tripwire.sqlite'}")
    try:
        first_signal_ms = min(s["ts"] for s in store.find("signals"))
        triggers = store.find("triggers")
    finally:
        store.close()
    # the push lands within wall-clock moments: 10 demo minutes are 2.5 s at 240×
    after = [t for t in triggers if t["ts"] > first_signal_ms + 600_000]
    assert any("ls_ratio" in t["features"] for t in triggers)
    assert all("ls_ratio" in t["features"] and "smart_money_bias" in t["features"] for t in after)
