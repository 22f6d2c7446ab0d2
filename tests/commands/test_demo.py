"""The README's first command: the whole system on the bundled recording, as processes.

One short demo (the hour at 240×, with ``--keep-ui``) must end with a non-empty report —
triggers fired, orders on the simulator, decisions applied, rows in the store, flow runs in
Prefect by state, a per-trigger table that agrees with the store and the hot path's ledger —
expose every metric the Grafana dashboard queries, keep every deployment served after the
report (a run created then, through the Prefect API, completes), serve a Prefect UI whose
settings name its own API, and leave no process behind once stopped. A second run is stopped
by SIGTERM half-way and must shut down cleanly too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

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


def prefect(api: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{api}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def run_a_deployment_after_the_report(ui: str) -> dict:
    """What a user does in the UI after the report: "Run" on snapshot_market; the run's last
    state (through the same API the UI calls)."""
    api = f"{ui}/api"
    [dep] = [d for d in prefect(api, "/deployments/filter", {}) if d["name"] == "snapshot_market"]
    run = prefect(api, f"/deployments/{dep['id']}/create_flow_run", {})
    deadline = time.monotonic() + 240  # a loaded machine: polled every 2 s, a subprocess start
    while time.monotonic() < deadline:
        run = prefect(api, f"/flow_runs/{run['id']}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(1)
    return run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The demo with --keep-ui: read until the report is out and the UIs are kept, then act as
    a user of the kept UI, then Ctrl-C (SIGTERM) it."""
    run_dir = tmp_path_factory.mktemp("demo")
    proc = demo(run_dir, "--keep-ui")
    lines: list[str] = []
    kept: dict = {}
    try:
        for line in proc.stdout:  # type: ignore[union-attr]  # stdout is a pipe: Popen(stdout=PIPE)
            lines.append(line)
            if line.startswith("--keep-ui:"):
                report = json.loads((run_dir / "report.json").read_text())
                ui = report["links"]["prefect_ui"]
                with urllib.request.urlopen(f"{ui}/ui-settings", timeout=30) as r:
                    kept["ui_settings"] = json.loads(r.read())
                kept["run"] = run_a_deployment_after_the_report(ui)
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=180)
    return proc.returncode, "".join(lines) + rest, run_dir, kept


def test_the_demo_ends_with_a_non_empty_report(finished):
    code, out, run_dir, _ = finished
    assert code == 0, out[-3000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["triggers_fired"] >= 1, out[-3000:]
    assert report["simulator"]["fills"] >= 1
    assert report["decisions_applied"] >= 1
    assert report["one_way"]["violations"] == []  # no stop/take-profit outlives its position
    assert report["store_rows"].get("triggers", 0) >= 1
    assert report["store_rows"].get("decisions", 0) >= 1
    assert report["store_rows"].get("trades", 0) >= 1
    assert "=== tripwire demo report ===" in out


def test_the_report_counts_finished_flow_runs_by_state_and_names_the_scheduled_ones(finished):
    code, out, run_dir, _ = finished
    runs = json.loads((run_dir / "report.json").read_text())["prefect_flow_runs"]
    # the analysis runs (one per trigger) at least have finished by the report
    assert runs["finished"].get("COMPLETED", 0) >= 1, runs
    assert set(runs["finished"]) <= {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    # Prefect's scheduler creates runs ahead: counted apart, per deployment, never as finished
    assert "snapshot_market" in runs["scheduled"] and runs["scheduled"]["snapshot_market"]["count"] >= 1
    assert "Prefect flow runs  finished:" in out and "scheduled for later" in out


def test_the_report_ends_with_per_trigger_outcomes_that_agree_with_the_store_and_the_ledger(finished):
    from tripwire.flows.store import open_store

    _, out, run_dir, _ = finished
    report = json.loads((run_dir / "report.json").read_text())
    rows = {r["trigger_id"]: r for r in report["outcomes"]}
    store = open_store(f"sqlite:///{run_dir / 'tripwire.sqlite'}")
    try:
        triggers = {t["trigger_id"] for t in store.find("triggers")}
        decisions = {d["trigger_id"]: d for d in store.find("decisions")}
        fills = store.find("fills")
    finally:
        store.close()
    assert set(rows) == triggers and len(triggers) == report["triggers_fired"]
    for tid, row in rows.items():
        d = decisions.get(tid)
        assert (row["decision"], row["source"]) == ((d["kind"], d["source"]) if d else (None, None))
        assert row["source"] in (None, "llm", "local", "n8n", "operator")
        ledger = report["pnl_by_trigger"].get(tid)
        if ledger is not None:  # the hot path's own attribution
            assert row["pnl"] == ledger["pnl"] and row["fees"] == ledger["fees"]
            assert row["open"] == ledger["lots"]
    # a trigger's entry is its own entry fills in the store: their size and average price
    entered = [r for r in rows.values() if r["entry"]]
    assert entered, out[-3000:]
    for r in entered:
        own = [f for f in fills if f["trigger_id"] == r["trigger_id"] and f["leg"] == "entry"]
        assert r["entry"]["sz"] == pytest.approx(sum(f["sz"] for f in own))
        assert r["entry"]["px"] == pytest.approx(sum(f["sz"] * f["px"] for f in own) / sum(f["sz"] for f in own))
    # an exit is at most the entry, at the prices of fills that closed
    closing_px = {f["px"] for f in fills if f["leg"] != "entry"}
    for r in rows.values():
        if r["exit"]:
            assert r["exit"]["sz"] <= r["entry"]["sz"] + 1e-12
            # an average of those prices: within them, to float rounding (x.00000000001)
            assert min(closing_px) * (1 - 1e-12) <= r["exit"]["px"] <= max(closing_px) * (1 + 1e-12)
    # the table is the report's last part, one line per trigger
    tail = out[out.index("per-trigger outcomes") :]
    assert all(f"#{i} " in tail for i in range(1, len(rows) + 1))


def test_the_live_view_explains_warm_up_the_new_legs_and_the_replays_end(finished):
    _, out, _, _ = finished
    assert "warm-up: a rule cannot fire until every feature it reads" in out
    assert "■ replay ended" in out
    assert " set: " in out and "when the price reaches" in out  # the legs the exchange holds
    assert "% of equity" in out
    if "! breaker stale_data" in out.split("■ replay ended", 1)[1]:
        assert "expected, not a failure" in out


def test_with_keep_ui_a_deployment_run_created_after_the_report_completes(finished):
    _, out, _, kept = finished
    assert kept.get("run", {}).get("state_type") == "COMPLETED", (kept, out[-3000:])


def test_the_printed_prefect_ui_calls_its_own_api(finished):
    _, _, run_dir, kept = finished
    ui = json.loads((run_dir / "report.json").read_text())["links"]["prefect_ui"]
    assert kept["ui_settings"]["api_url"] == f"{ui}/api"


def test_every_metric_the_dashboard_queries_is_exported_by_the_running_demo(finished):
    _, _, run_dir, _ = finished
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

    _, out, run_dir, _ = finished
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
    missing = [
        (t["coin"], t["ts"] - first_signal_ms)
        for t in after
        if not ("ls_ratio" in t["features"] and "smart_money_bias" in t["features"])
    ]
    assert not missing, (missing, sm["signals"])
