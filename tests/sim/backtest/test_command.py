"""``tripwire backtest`` end to end: options in, summary.json and report.html out."""

import subprocess
import sys

import orjson

from tests.fixtures import RECORDING, REPO


def tripwire(*args):
    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_backtest_writes_summary_and_report(tmp_path):
    out = tmp_path / "bt"
    r = tripwire("backtest", str(RECORDING), "--latency-ms", "50", "--out", str(out), "--seed", "7")
    assert r.returncode == 0, r.stderr
    assert "x real time" in r.stdout and f"wrote {out / 'summary.json'}" in r.stdout
    s = orjson.loads((out / "summary.json").read_bytes())
    assert s["latency"] == {"model": "constant", "ms": 50.0} and s["seed"] == 7
    assert s["triggers"] == 3
    assert (out / "report.html").read_text().count("<svg") == 5  # four plots and the price chart


def test_bad_options_are_user_errors(tmp_path):
    r = tripwire("backtest", "--latency-dist", "lognormal:50", "--out", str(tmp_path))
    assert r.returncode == 2 and "expected lognormal:MEDIAN_MS,SIGMA" in r.stderr
    r = tripwire("backtest", "--latency-ms", "5", "--latency-dist", "lognormal:5,1")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
    r = tripwire("backtest", str(tmp_path / "nope.lz4"), "--out", str(tmp_path))
    assert r.returncode == 2 and "nope.lz4: no such file" in r.stderr
    r = tripwire("backtest", "--equity", "-3", "--out", str(tmp_path))
    assert r.returncode == 2 and "--equity '-3'" in r.stderr


def test_the_backtest_and_service_helpers_import_nothing_from_the_flows_side():
    code = (
        "import sys, tripwire.sim.backtest, tripwire.sim.backtest.report, tripwire.hotpath.pinning, tripwire.hotpath.sdnotify; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prefect', 'pymongo', 'openai', 'fastapi', 'uvicorn', 'flows', 'api')))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_strategy_quoting_writes_the_comparison_with_fees_and_rebates_apart(tmp_path):
    out = tmp_path / "bt"
    r = tripwire(
        "backtest",
        str(RECORDING),
        "--strategy",
        "quoting",
        "--latency-ms",
        "50",
        "--maker-fee",
        "-0.0002",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    s = orjson.loads((out / "summary.json").read_bytes())
    c = s["comparison"]
    assert c["no_quoting"]["rebates_usd"] == 0 and c["quoting"]["rebates_usd"] > 0
    assert c["quoting"]["fills"] > c["no_quoting"]["fills"]
    assert s["quoting"]["actions"]["place"] > 0 and s["queue_model"] == "risk_averse"
    assert "rebates" in r.stdout and "Quoting vs no quoting" in (out / "report.html").read_text()


def test_quoting_options_are_checked(tmp_path):
    r = tripwire("backtest", "--quoting", "config/quoting.yaml", "--out", str(tmp_path))
    assert r.returncode == 2 and "--quoting is read only with --strategy quoting" in r.stderr
    bad = tmp_path / "q.yaml"
    bad.write_text("coins:\n  BTC: {enabled: true, size: 0.001, max_inventory: 0.002, gamma: -1, kappa: 0.5}\n")
    r = tripwire("backtest", "--strategy", "quoting", "--quoting", str(bad), "--out", str(tmp_path))
    assert r.returncode == 2 and "coins.BTC.gamma" in r.stderr
