"""Fitting the local model, pure numpy: the exact form :mod:`tripwire.flows.analysis.local_model` scores.

Per rule family, the model is ``sigmoid(bias + Σ w_i z_i)`` with
``z_i = clip(side_i·(x_i − mean_i)/std_i, ±clip_z)`` and a missing feature contributing 0
(imputed at its mean). Training builds the same ``z`` matrix, so a fitted
:class:`~tripwire.flows.analysis.local_model.FamilyModel` scores a trigger exactly as it was fitted.

- Features: the family's heuristic features (plus configured extras) that are present in at
  least half of the family's samples and vary; means and stds from the training samples.
- Fit: L2-regularised logistic regression (bias not penalised) by Newton's method (IRLS) — a
  handful of exact steps for a few dozen weights, no learning rate to tune.
- Evaluation: walk-forward. Samples sorted by time are cut into ``folds + 1`` consecutive
  blocks; fold k trains on blocks 0…k−1 and predicts block k, so every prediction is made by a
  model that saw only the past (as in production). The pooled out-of-sample predictions give
  AUC (ranking), Brier score (calibration: mean squared error of the probability) and hit rate
  (share of continuations among the triggers the model would take, p > 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tripwire.flows.analysis.local_model import DIRECTIONAL, FamilyModel

MIN_COVERAGE = 0.5
CLIP_Z = 3.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled trigger: its model inputs (``model_inputs``), side, label and time."""

    trigger_id: str
    family: str
    x: dict[str, float]
    side_sign: int
    label: int
    t_ms: int


def standardisation(
    samples: Sequence[Sample], candidates: Sequence[str]
) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """(features, means, stds) of the candidates present in ≥ half the samples that vary."""
    feats, means, stds = [], [], []
    n = len(samples)
    for name in candidates:
        vals = np.array([s.x[name] for s in samples if name in s.x], dtype=np.float64)
        if n == 0 or len(vals) < MIN_COVERAGE * n:
            continue
        std = float(vals.std())
        if not math.isfinite(std) or std <= 1e-12:
            continue
        feats.append(name)
        means.append(float(vals.mean()))
        stds.append(std)
    return tuple(feats), tuple(means), tuple(stds)


def design(
    samples: Sequence[Sample],
    features: Sequence[str],
    means: Sequence[float],
    stds: Sequence[float],
    clip_z: float = CLIP_Z,
    directional: frozenset[str] = DIRECTIONAL,
) -> np.ndarray:
    """The z matrix (samples × features), computed as FamilyModel.contributions does."""
    z = np.zeros((len(samples), len(features)))
    for j, (name, mean, std) in enumerate(zip(features, means, stds)):
        orient = name in directional
        for i, s in enumerate(samples):
            v = s.x.get(name)
            if v is None:
                continue
            zz = (v - mean) / std
            if orient:
                zz *= s.side_sign
            z[i, j] = min(clip_z, max(-clip_z, zz))
    return z


def fit_logistic(z: np.ndarray, y: np.ndarray, l2: float, max_iter: int = 50) -> tuple[np.ndarray, float]:
    """(weights, bias) minimising log-loss + l2/2·|w|² by Newton steps."""
    n, k = z.shape
    x = np.hstack([z, np.ones((n, 1))])
    w = np.zeros(k + 1)
    penalty = np.full(k + 1, l2)
    penalty[-1] = 0.0
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w[:-1], float(w[-1])


def fit_family(samples: Sequence[Sample], candidates: Sequence[str], l2: float) -> FamilyModel | None:
    """A FamilyModel fitted on ``samples``; None when no feature is usable or one class is
    missing (nothing to learn)."""
    y = np.array([s.label for s in samples], dtype=np.float64)
    if len(samples) == 0 or y.min() == y.max():
        return None
    features, means, stds = standardisation(samples, candidates)
    if not features:
        return None
    weights, bias = fit_logistic(design(samples, features, means, stds), y, l2)
    return FamilyModel(features, means, stds, tuple(round(float(v), 6) for v in weights), round(bias, 6), CLIP_Z)


def predict(model: FamilyModel, samples: Sequence[Sample]) -> np.ndarray:
    """Probabilities through FamilyModel.contributions — the code the analysis runs."""
    out = np.empty(len(samples))
    for i, s in enumerate(samples):
        contrib, _ = model.contributions(s.x, s.side_sign)
        logit = model.bias + sum(contrib.values())
        out[i] = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
    return out


# -- metrics ---------------------------------------------------------------------------------


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN with one class."""
    pos = int(np.sum(y == 1))
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ranks = (first + (counts + 1) / 2.0)[inverse]  # 1-based average ranks
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def hit_rate(y: np.ndarray, p: np.ndarray) -> float:
    taken = p > 0.5
    return float(np.mean(y[taken])) if taken.any() else float("nan")


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | int]:
    return {
        "auc": auc(y, p),
        "brier": brier(y, p),
        "hit_rate": hit_rate(y, p),
        "taken": int(np.sum(p > 0.5)),
        "n": len(y),
    }


def better(
    candidate: dict[str, float | int], current: dict[str, float | int], metric: str, min_improvement: float
) -> bool:
    """Whether the candidate beats the current model on ``metric`` by ``min_improvement``
    (AUC: higher is better; Brier: lower is better). NaN never wins."""
    c, k = float(candidate[metric]), float(current[metric])
    if math.isnan(c):
        return False
    if math.isnan(k):
        return True
    return c - k > min_improvement if metric == "auc" else k - c > min_improvement


# -- walk-forward ----------------------------------------------------------------------------


@dataclass
class WalkForward:
    """Out-of-sample predictions of the candidate and the current model on the same samples."""

    y: np.ndarray
    candidate: np.ndarray
    current: np.ndarray
    folds: list[dict[str, int]]


def walk_forward(
    samples: Sequence[Sample],
    folds: int,
    fit: Callable[[Sequence[Sample]], FamilyModel | None],
    current: Callable[[Sequence[Sample]], np.ndarray],
    min_train: int = 20,
) -> WalkForward:
    """Fold k fits on the blocks before block k and predicts block k (samples sorted by time).
    A fold whose training part is too small or one-class is skipped."""
    ordered = sorted(samples, key=lambda s: (s.t_ms, s.trigger_id))
    edges = np.linspace(0, len(ordered), folds + 2).astype(int)
    ys, cand, cur, report = [], [], [], []
    for k in range(1, folds + 1):
        train, test = ordered[: edges[k]], ordered[edges[k] : edges[k + 1]]
        if len(train) < min_train or not test:
            continue
        model = fit(train)
        if model is None:
            continue
        ys.append(np.array([s.label for s in test], dtype=np.float64))
        cand.append(predict(model, test))
        cur.append(current(test))
        report.append({"fold": k, "train": len(train), "test": len(test)})
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731  (a one-line helper)
    return WalkForward(cat(ys), cat(cand), cat(cur), report)
