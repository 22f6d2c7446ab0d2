"""retrain_model: labelled triggers → a fitted model that is saved, promoted only when it beats
the current one walk-forward, recorded in ``models``, and announced to the hot path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.flows.scheduled.fakes import FakeHotPath, run
from tripwire.flows.analysis.local_model import LocalModel
from tripwire.flows.scheduled.config import RetrainModelConfig
from tripwire.flows.scheduled.retrain_model import run_retrain_model

MIN = 60_000
START = 1_700_000_000_000 - 1_700_000_000_000 % MIN
ATR = 0.5


def seed_history(store, n: int, seed: int = 3, start: int = START) -> int:
    """``n`` squeeze triggers 15 minutes apart, each followed by bars that hit its take profit
    or its stop: continuation is likelier when the book leans *against* the trade (the
    opposite of what the heuristic assumes). Returns the time after the last window."""
    rng = np.random.default_rng(seed)
    triggers, candles = [], []
    for i in range(n):
        fired = start + i * 15 * MIN + 20_000
        side = 1 if rng.random() < 0.5 else -1
        imb = float(rng.normal(0, 0.3))
        cont = rng.random() < 1 / (1 + np.exp(3 * side * imb / 0.3))
        triggers.append(
            {
                "schema": 1,
                "trigger_id": f"t{i}",
                "rule": "squeeze_up" if side > 0 else "squeeze_down",
                "coin": "BTC",
                "side": "long" if side > 0 else "short",
                "features": {
                    "last_px": 100.0,
                    "atr_1m": ATR,
                    "book_imbalance": imb,
                    "cvd_slope_1m": float(rng.normal(0, 5e5)),
                    "spread_bps": 1.0,
                },
                "actions": [{"name": "place_bracket", "params": {"tp_atr": 1.5, "sl_atr": 1.0}}],
                "exch_ts_ns": fired * 1_000_000,
                "recv_ts_ns": fired * 1_000_000,
                "fired_ts_ns": fired * 1_000_000,
                "ts": fired,
            }
        )
        first = fired - fired % MIN + MIN
        for k in range(12):
            h = lo = c = 100.0
            if k == 2:
                move = (1.5 * ATR + 0.01) if cont else -(1.0 * ATR + 0.01)
                px = 100.0 + side * move
                h, lo, c = max(100.0, px), min(100.0, px), px
            candles.append(
                {
                    "coin": "BTC",
                    "t": first + k * MIN,
                    "T": first + k * MIN + 59_999,
                    "o": 100.0,
                    "h": h,
                    "l": lo,
                    "c": c,
                    "v": 1.0,
                    "ts": first + k * MIN,
                }
            )
    store.insert_many("triggers", triggers)
    store.insert_many("candles_1m", candles)
    return start + n * 15 * MIN + 60 * MIN


def _cfg(tmp_path: Path, **kw) -> RetrainModelConfig:
    return RetrainModelConfig(
        model_file=tmp_path / "models" / "local_model.json", models_dir=tmp_path / "models", time_limit_min=10, **kw
    )


def test_a_better_model_is_saved_promoted_recorded_and_reloaded(store, tmp_path):
    now = seed_history(store, 400)
    cfg = _cfg(tmp_path)
    address = f"ipc://{tmp_path}/commands.sock"

    async def go():
        async with FakeHotPath(address) as hot:
            return await run_retrain_model(store, address, cfg, now), hot.reloads

    result, reloads = run(go)
    assert result.promoted, result.reason
    assert set(result.outcomes) == {"tp", "sl"}  # every window hit a barrier
    assert result.samples == 400
    cand, cur = result.training.candidate, result.training.current
    print(
        f"\nwalk-forward AUC {cand['auc']:.3f} vs heuristic {cur['auc']:.3f}; Brier "
        f"{cand['brier']:.3f} vs {cur['brier']:.3f}; hit rate {cand['hit_rate']:.3f} vs "
        f"{cur['hit_rate']}"
    )
    assert cand["auc"] > cur["auc"] + 0.2
    assert result.path.name == f"local_model-{result.version}.json" and result.path.exists()
    model = LocalModel.load(cfg.model_file)
    assert model.source.startswith("file:") and "momentum" not in model.source.partition("heuristic")[2]
    assert model.families["momentum"].weights[model.families["momentum"].features.index("book_imbalance")] < 0
    [record] = store.find("models")
    assert record["promoted"] and record["version"] == result.version
    assert record["families"]["momentum"]["fitted"] and record["candidate"]["n"] > 0
    assert reloads == [str(cfg.model_file.resolve())]
    json.loads(cfg.model_file.read_text())  # strict JSON, no NaN


def test_a_candidate_that_is_not_better_by_the_margin_is_saved_but_not_promoted(store, tmp_path):
    now = seed_history(store, 300)
    cfg = _cfg(tmp_path, min_improvement=0.9)
    result = run(lambda: run_retrain_model(store, f"ipc://{tmp_path}/x.sock", cfg, now))
    assert not result.promoted and "kept the current model" in result.reason
    assert result.path.exists()
    assert not cfg.model_file.exists()  # the heuristic stays in use
    assert result.push is None
    assert store.find_one("models")["promoted"] is False


def test_too_few_labelled_triggers_train_nothing_and_say_so(store, tmp_path):
    now = seed_history(store, 20)
    result = run(lambda: run_retrain_model(store, None, _cfg(tmp_path), now))
    assert not result.promoted and result.path is None
    assert "no family had enough" in result.reason
    assert "20 labelled triggers, need 60" in store.find_one("models")["families"]["momentum"]["reason"]


def test_a_hot_path_that_is_down_does_not_undo_the_promotion(store, tmp_path):
    now = seed_history(store, 300)
    cfg = _cfg(tmp_path, push_timeout_s=0.3)
    result = run(lambda: run_retrain_model(store, f"ipc://{tmp_path}/nobody.sock", cfg, now))
    assert result.promoted and cfg.model_file.exists()
    assert not result.push.all_ok and "no command server reachable" in result.push.summary()
