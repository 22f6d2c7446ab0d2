"""The model fit: logistic regression recovers a known relation, metrics are the textbook ones,
walk-forward never trains on the future, and a fitted family scores through the analysis' own
code exactly as it was fitted."""

from __future__ import annotations

import numpy as np
import pytest

from tripwire.flows.analysis.local_model import FamilyModel, LocalModel, write_model_file
from tripwire.flows.analysis.trigger import TriggerInput
from tripwire.flows.scheduled.training import (
    Sample,
    auc,
    better,
    brier,
    fit_family,
    fit_logistic,
    hit_rate,
    predict,
    walk_forward,
)


def test_logistic_regression_recovers_the_weights_it_was_generated_with():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6000, 2))
    p = 1 / (1 + np.exp(-(1.5 * z[:, 0] - 1.0 * z[:, 1] + 0.3)))
    y = (rng.random(6000) < p).astype(float)
    w, b = fit_logistic(z, y, l2=0.1)
    assert w == pytest.approx([1.5, -1.0], abs=0.15) and b == pytest.approx(0.3, abs=0.1)


def test_auc_brier_and_hit_rate():
    y = np.array([0, 0, 1, 1.0])
    assert auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert auc(y, np.full(4, 0.5)) == 0.5
    assert np.isnan(auc(np.ones(3), np.ones(3)))
    assert brier(y, np.array([0, 0, 1, 0.5])) == pytest.approx(0.0625)
    assert hit_rate(y, np.array([0.6, 0.1, 0.7, 0.9])) == pytest.approx(2 / 3)


def test_promotion_compares_in_the_metrics_own_direction():
    assert better({"auc": 0.62}, {"auc": 0.60}, "auc", 0.0)
    assert not better({"auc": 0.62}, {"auc": 0.60}, "auc", 0.05)
    assert better({"brier": 0.20}, {"brier": 0.24}, "brier", 0.0)
    assert not better({"auc": float("nan")}, {"auc": 0.4}, "auc", 0.0)


def _samples(n: int, seed: int = 2) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        side = 1 if i % 2 else -1
        imb = float(rng.normal(0, 0.3))
        p = 1 / (1 + np.exp(3 * side * imb / 0.3))
        out.append(
            Sample(
                f"t{i}",
                "momentum",
                {"book_imbalance": imb, "spread_bps": 1.0 + i % 3},
                side,
                int(rng.random() < p),
                1_000 * i,
            )
        )
    return out


def test_walk_forward_only_ever_trains_on_the_past():
    seen = []

    def fit(train):
        seen.append(("train", max(s.t_ms for s in train)))
        return FamilyModel(("book_imbalance",), (0.0,), (1.0,), (1.0,))

    def current(test):
        seen.append(("test", min(s.t_ms for s in test)))
        return np.full(len(test), 0.5)

    samples = _samples(200)
    wf = walk_forward(list(reversed(samples)), folds=4, fit=fit, current=current)
    assert len(wf.folds) == 4 and len(wf.y) == sum(f["test"] for f in wf.folds)
    for (kind_a, last_train), (kind_b, first_test) in zip(seen[::2], seen[1::2]):
        assert (kind_a, kind_b) == ("train", "test") and last_train < first_test


def test_a_fitted_family_scores_through_the_analysis_code_as_it_was_fitted(tmp_path):
    samples = _samples(400)
    model = fit_family(samples, ("book_imbalance", "spread_bps", "cvd_slope_1m"), l2=1.0)
    assert model.features == ("book_imbalance", "spread_bps")  # cvd_slope_1m never present
    assert model.weights[0] < 0  # the relation was negative
    path = write_model_file(tmp_path / "m.json", {"momentum": model})
    loaded = LocalModel.from_file(path)
    s = samples[7]
    trigger = TriggerInput(
        trigger_id=s.trigger_id,
        rule="squeeze_up",
        coin="BTC",
        side="long" if s.side_sign > 0 else "short",
        features={k: float(v) for k, v in s.x.items()},
    )
    assert loaded.score(trigger).prob_cont == pytest.approx(predict(model, [s])[0], abs=1e-4)
