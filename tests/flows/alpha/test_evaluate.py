"""The order-book transformer: it learns a pattern, it is judged walk-forward against the
baselines, and a model that is not better is never promoted."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")

from tests.flows.alpha.synthetic import snapshots
from tripwire.flows.alpha import transformer
from tripwire.flows.alpha.books import SizeScale, labelled, windows
from tripwire.flows.alpha.config import AlphaConfig
from tripwire.flows.alpha.evaluate import decide, train_and_promote, walk_forward
from tripwire.flows.scheduled.training import auc


def small(tmp_path, **over) -> AlphaConfig:
    base = dict(
        levels=3,
        window=6,
        horizon=4,
        barrier_bps=1.5,
        folds=2,
        epochs=4,
        stride=1,
        batch=64,
        d_model=16,
        heads=2,
        layers=1,
        models_dir=tmp_path / "models",
        model_file=tmp_path / "models" / "alpha_model.pt",
    )
    return AlphaConfig(**{**base, **over})


def test_the_transformer_learns_what_the_book_says_better_than_no_skill(tmp_path):
    cfg = small(tmp_path)
    s = snapshots(1500, edge=0.45)
    wf = walk_forward(s, cfg)
    m = wf.metrics()
    assert m["transformer"]["n"] > 500
    assert m["transformer"]["auc"] > 0.6  # the imbalance predicts the next tick
    assert m["transformer"]["brier"] < m["no_skill"]["brier"]


def test_on_a_random_walk_nothing_is_promoted_and_the_model_in_use_stays(tmp_path):
    cfg = small(tmp_path, min_improvement=0.05)
    cfg.model_file.parent.mkdir(parents=True)
    cfg.model_file.write_bytes(b"the model in use")
    r = train_and_promote(snapshots(1200, edge=0.0, seed=3), cfg, "v1")
    assert not r.promoted
    assert "does not beat" in r.reason
    assert cfg.model_file.read_bytes() == b"the model in use"
    assert r.path is not None and r.path.exists()  # the candidate is kept, with its metrics
    assert transformer.load(r.path).meta["promoted"] is False


def test_a_better_candidate_is_promoted_and_served_from_the_model_file(tmp_path):
    cfg = small(tmp_path)
    s = snapshots(1500, edge=0.45)
    r = train_and_promote(s, cfg, "v2")
    m = r.metrics
    if m["logistic"]["auc"] >= m["transformer"]["auc"]:
        # the logistic model reads the imbalance linearly too: then it must not be promoted
        assert not r.promoted and "logistic" in r.reason
        return
    assert r.promoted, r.reason
    loaded = transformer.load(cfg.model_file)
    assert loaded.meta["version"] == "v2"


def test_decide_refuses_a_candidate_worse_than_any_rival():
    cfg = AlphaConfig()
    good = {"auc": 0.60, "brier": 0.24, "n": 500}
    assert decide({"transformer": good, "logistic": {"auc": 0.55, "n": 500}, "no_skill": {"auc": 0.5}}, cfg)[0]
    ok, why = decide({"transformer": good, "logistic": {"auc": 0.62}, "no_skill": {"auc": 0.5}}, cfg)
    assert not ok and "logistic" in why
    ok, why = decide(
        {"transformer": good, "logistic": {"auc": 0.5}, "no_skill": {"auc": 0.5}, "current": {"auc": 0.61}}, cfg
    )
    assert not ok and "current" in why
    ok, why = decide({"transformer": {"auc": 0.49, "n": 500}, "logistic": {"auc": 0.4}, "no_skill": {"auc": 0.5}}, cfg)
    assert not ok and "no_skill" in why
    ok, why = decide({"transformer": {"auc": 0.7, "n": 10}}, cfg)
    assert not ok and "out-of-sample" in why
    brier = AlphaConfig(metric="brier")
    ok, why = decide({"transformer": good, "logistic": {"brier": 0.25}, "no_skill": {"brier": 0.23}}, brier)
    assert not ok and "no_skill" in why


def test_a_saved_model_predicts_the_same_after_loading(tmp_path):
    cfg = small(tmp_path, epochs=1)
    s = snapshots(400, edge=0.45)
    lw = labelled(s, cfg.window, cfg.horizon, cfg.barrier_bps)
    scale = SizeScale.fit(s)
    x = windows(s, lw.idx, cfg.window, scale)
    fitted = transformer.fit(x, lw.y, cfg, scale)
    path = transformer.save(fitted, tmp_path / "m.pt", version="x")
    loaded = transformer.load(path)
    np.testing.assert_allclose(loaded.predict(x), fitted.predict(x), rtol=1e-6)
    assert loaded.scale == scale
    assert 0.0 <= auc(lw.y, loaded.predict(x)) <= 1.0


def test_a_file_that_is_not_a_model_is_named_in_the_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(transformer.ModelFileError, match="bad.pt: unreadable alpha model file"):
        transformer.load(bad)
    with pytest.raises(transformer.ModelFileError, match="no such file"):
        transformer.load(tmp_path / "missing.pt")
