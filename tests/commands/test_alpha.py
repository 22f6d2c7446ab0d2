"""``tripwire alpha ppo`` and ``tripwire backtest --gamma-policy`` end to end on the bundled
hour: a trained policy is compared with fixed γ and no quoting, fees and rebates apart."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.fixtures import RECORDING, REPO

pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")
pytest.importorskip("stable_baselines3", reason="the alpha extra is not installed: pip install '.[alpha]'")


def tripwire(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tripwire", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("ppo") / "gamma.zip"
    r = tripwire("alpha", "ppo", str(RECORDING), "--timesteps", "128", "--train-share", "0.9", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "fixed γ" in r.stdout and "PPO γ" in r.stdout and out.exists()
    return str(out)


def test_the_backtest_compares_no_quoting_fixed_gamma_and_the_ppo_gamma(policy, tmp_path):
    out = tmp_path / "bt"
    r = tripwire(
        "backtest",
        str(RECORDING),
        "--strategy",
        "quoting",
        "--gamma-policy",
        f"ppo:{policy}",
        "--latency-ms",
        "50",
        "--maker-fee",
        "-0.0002",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    c = orjson.loads((out / "summary.json").read_bytes())["comparison"]
    assert list(c) == ["no_quoting", "quoting", "quoting_ppo_gamma"]
    for row in c.values():
        assert {"pnl_usd", "fees_paid_usd", "rebates_usd", "fills"} <= set(row)
    assert c["quoting_ppo_gamma"]["rebates_usd"] > 0  # a maker rebate, reported apart from fees
    g = c["quoting_ppo_gamma"]["gamma_policy"]
    assert g["coins"]["BTC"]["decisions"] > 300  # every 10 s of the hour
    assert 0.25 <= g["coins"]["BTC"]["scale_min"] <= g["coins"]["BTC"]["scale_max"] <= 4.0
    assert "quoting_ppo_gamma" in r.stdout
    assert "quoting ppo gamma" in (out / "report.html").read_text()


def test_gamma_policy_options_are_checked(tmp_path):
    r = tripwire("backtest", "--gamma-policy", "ppo:x.zip", "--out", str(tmp_path))
    assert r.returncode == 2 and "--gamma-policy is read only with --strategy quoting" in r.stderr
    r = tripwire("backtest", "--strategy", "quoting", "--gamma-policy", "sac:x.zip", "--out", str(tmp_path))
    assert r.returncode == 2 and "expected ppo:PATH" in r.stderr
    missing = tmp_path / "missing.zip"
    r = tripwire("backtest", "--strategy", "quoting", "--gamma-policy", f"ppo:{missing}", "--out", str(tmp_path))
    assert r.returncode == 2 and "no such PPO policy file" in r.stderr
    r = tripwire("backtest", "--predictions", "m.pt", "--out", str(tmp_path))
    assert r.returncode == 2 and "--predictions is read only with --strategy quoting" in r.stderr
    r = tripwire("backtest", "--strategy", "quoting", "--predictions", str(missing), "--out", str(tmp_path))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_alpha_train_prints_the_walk_forward_and_saves_the_candidate(tmp_path):
    models = tmp_path / "models"
    r = tripwire(
        "alpha",
        "train",
        str(RECORDING),
        "--epochs",
        "1",
        "--models-dir",
        str(models),
        "--model-file",
        str(models / "m.pt"),
    )
    assert r.returncode == 0, r.stderr
    for name in ("transformer", "logistic", "no_skill"):
        assert f"| {name} |" in r.stdout
    assert len(list(models.glob("alpha_model-*.pt"))) == 1
    assert ("promoted" in r.stdout) and ((models / "m.pt").exists() == ("not promoted" not in r.stdout))


def test_alpha_serve_names_a_missing_model_file(tmp_path):
    r = tripwire("alpha", "serve", "--model-file", str(tmp_path / "none.pt"))
    assert r.returncode == 2 and "none.pt: no such file (train one: tripwire alpha train)" in r.stderr
