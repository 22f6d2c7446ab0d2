"""Walk-forward evaluation of the transformer against the logistic and no-skill baselines on
the same recorded books, and promotion only if it is better (needs the ``alpha`` extra).

Samples (one per labelled window, time-ordered) are cut into ``folds + 1`` consecutive blocks;
fold k trains every model on the blocks before k and predicts block k. Training samples whose
label looks into the test block (the last ``horizon`` before it) are **purged**: their labels
would carry the test block's prices. The pooled out-of-sample predictions give AUC, Brier score
and hit rate — the retraining flow's own metrics (:mod:`tripwire.flows.scheduled.training`).

Promotion: the candidate (refitted on every sample) replaces ``model_file`` only when its
walk-forward ``metric`` beats the no-skill baseline, the logistic baseline and the model in use
(predicting the same windows) by ``min_improvement``. The candidate file is always written
(``<models_dir>/alpha_model-<version>.pt``) with its metrics, promoted or not.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tripwire.flows.alpha import transformer
from tripwire.flows.alpha.baselines import Logistic, NoSkill, hand_features
from tripwire.flows.alpha.books import SizeScale, Snapshots, labelled, windows
from tripwire.flows.alpha.config import AlphaConfig
from tripwire.flows.scheduled.training import better, metrics

MIN_TRAIN = 200
MIN_EVAL = 100


@dataclass
class AlphaWalkForward:
    y: np.ndarray
    predictions: dict[str, np.ndarray]  # transformer, logistic, no_skill, current (if one)
    folds: list[dict[str, Any]] = field(default_factory=list)
    train_s: float = 0.0

    def metrics(self) -> dict[str, dict[str, Any]]:
        out = {name: _clean(metrics(self.y, p)) for name, p in self.predictions.items()}
        if "no_skill" in out and out["no_skill"].get("n"):
            # a constant ranks nothing: AUC 0.5 by definition (pooled, the folds' different
            # constants would rank the samples by fold instead)
            out["no_skill"]["auc"] = 0.5
        return out


def _clean(m: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else round(v, 6) if isinstance(v, float) else v)
        for k, v in m.items()
    }


def walk_forward(s: Snapshots, cfg: AlphaConfig, current: transformer.Fitted | None = None) -> AlphaWalkForward:
    lw = labelled(s, cfg.window, cfg.horizon, cfg.barrier_bps, cfg.timeout_label)
    edges = np.linspace(0, len(lw.idx), cfg.folds + 2).astype(int)
    ys: list[np.ndarray] = []
    preds: dict[str, list[np.ndarray]] = {"transformer": [], "logistic": [], "no_skill": []}
    if current is not None:
        preds["current"] = []
    folds, train_s = [], 0.0
    hf = hand_features(s, lw.idx, cfg.window)
    for k in range(1, cfg.folds + 1):
        test = np.arange(edges[k], edges[k + 1])
        first_test_snapshot = lw.idx[edges[k]] if len(test) else 0
        train = np.arange(0, edges[k])
        train = train[lw.idx[train] + cfg.horizon < first_test_snapshot]  # purge: labels ending in the test block
        if len(train) < MIN_TRAIN or not len(test) or lw.y[train].min() == lw.y[train].max():
            continue
        scale = SizeScale.fit(s.slice(0, int(lw.idx[train[-1]]) + 1))
        t0 = time.perf_counter()
        sub = train[:: cfg.stride]
        model = transformer.fit(windows(s, lw.idx[sub], cfg.window, scale), lw.y[sub], cfg, scale)
        train_s += time.perf_counter() - t0
        x_test = windows(s, lw.idx[test], cfg.window, scale)
        preds["transformer"].append(model.predict(x_test))
        preds["logistic"].append(Logistic.fit(hf[train], lw.y[train]).predict(hf[test]))
        preds["no_skill"].append(NoSkill.fit(lw.y[train]).predict(len(test)))
        if current is not None:
            preds["current"].append(_current_predictions(current, s, lw.idx[test], cfg))
        ys.append(lw.y[test])
        folds.append({"fold": k, "train": len(train), "test": len(test), "purged": int(edges[k] - len(train))})
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731  (a one-line helper)
    return AlphaWalkForward(cat(ys), {n: cat(p) for n, p in preds.items()}, folds, round(train_s, 3))


def _current_predictions(current: transformer.Fitted, s: Snapshots, idx: np.ndarray, cfg: AlphaConfig) -> np.ndarray:
    """The model in use on the same windows, with its own shape and size scale (NaN where it
    cannot read them: a different window or level count)."""
    m = current.meta
    if m.get("levels") != s.levels or int(m["window"]) > int(idx.min()) + 1:
        return np.full(len(idx), np.nan)
    return current.predict(windows(s, idx, int(m["window"]), current.scale))


def decide(m: dict[str, dict[str, Any]], cfg: AlphaConfig) -> tuple[bool, str]:
    cand = m.get("transformer", {})
    n = cand.get("n", 0)
    if n < MIN_EVAL:
        return False, f"only {n} out-of-sample predictions (need {MIN_EVAL}) to judge"
    arrow = "higher" if cfg.metric == "auc" else "lower"

    def val(name: str) -> float:
        v = m.get(name, {}).get(cfg.metric)
        return float("nan") if v is None else float(v)

    for rival in ("no_skill", "logistic", "current"):
        if rival not in m:
            continue
        if rival == "current" and math.isnan(val("current")):
            continue  # the model in use cannot read these windows: judged against the baselines
        c, r = val("transformer"), val(rival)
        if not better({cfg.metric: c}, {cfg.metric: r}, cfg.metric, cfg.min_improvement):
            return False, (
                f"kept the current model: walk-forward {cfg.metric} {_fmt(c)} does not beat {rival}'s {_fmt(r)} "
                f"({arrow} is better, margin {cfg.min_improvement:g})"
            )
    beaten = ", ".join(f"{r} {_fmt(val(r))}" for r in ("no_skill", "logistic", "current") if r in m)
    return True, f"promoted: walk-forward {cfg.metric} {_fmt(val('transformer'))} beats {beaten}"


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.4f}"


@dataclass
class AlphaResult:
    version: str
    promoted: bool
    reason: str
    samples: int
    metrics: dict[str, dict[str, Any]]
    folds: list[dict[str, Any]]
    path: Path | None
    model_file: Path
    train_s: float  # walk-forward folds + final fit, seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "promoted": self.promoted,
            "reason": self.reason,
            "samples": self.samples,
            "metrics": self.metrics,
            "folds": self.folds,
            "path": str(self.path) if self.path else None,
            "model_file": str(self.model_file),
            "train_s": self.train_s,
        }


def train_and_promote(s: Snapshots, cfg: AlphaConfig, version: str, store: Any = None) -> AlphaResult:
    """Walk-forward, final fit on every labelled window, save, promote if better, record."""
    current = None
    if cfg.model_file.exists():
        try:
            current = transformer.load(cfg.model_file)
        except transformer.ModelFileError:
            current = None  # an unreadable file in use is replaced by any candidate that beats the baselines
    wf = walk_forward(s, cfg, current)
    m = wf.metrics()
    promoted, reason = decide(m, cfg)
    lw = labelled(s, cfg.window, cfg.horizon, cfg.barrier_bps, cfg.timeout_label)
    path = None
    train_s = wf.train_s
    if len(lw.idx) >= MIN_TRAIN and lw.y.min() != lw.y.max():
        scale = SizeScale.fit(s)
        t0 = time.perf_counter()
        sub = np.arange(0, len(lw.idx), cfg.stride)
        final = transformer.fit(windows(s, lw.idx[sub], cfg.window, scale), lw.y[sub], cfg, scale)
        train_s += time.perf_counter() - t0
        path = transformer.save(
            final,
            cfg.models_dir / f"alpha_model-{version}.pt",
            version=version,
            walk_forward=m,
            promoted=promoted,
            reason=reason,
        )
        if promoted:
            cfg.model_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cfg.model_file.with_name(cfg.model_file.name + ".tmp")
            shutil.copyfile(path, tmp)
            tmp.replace(cfg.model_file)
    else:
        promoted, reason = False, f"{len(lw.idx)} labelled windows with one outcome or too few (need {MIN_TRAIN})"
    result = AlphaResult(version, promoted, reason, len(lw.idx), m, wf.folds, path, cfg.model_file, round(train_s, 3))
    if store is not None:
        store.insert_many(
            "models", [{"_id": f"alpha_model-{version}", "ts": int(time.time() * 1000), **result.to_dict()}]
        )
    return result


def result_markdown(r: AlphaResult) -> str:
    head = f"**Order-book transformer: {'promoted' if r.promoted else 'not promoted'}** — {r.reason}\n\n"
    head += f"{r.samples} labelled windows, trained in {r.train_s:.1f} s"
    head += f"; saved `{r.path}`\n\n" if r.path else "\n\n"
    rows = [
        f"| {name} | {v.get('auc')} | {v.get('brier')} | {v.get('hit_rate')} | {v.get('n')} |"
        for name, v in r.metrics.items()
    ]
    return head + "| model | AUC | Brier | hit rate | n oos |\n|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n"
