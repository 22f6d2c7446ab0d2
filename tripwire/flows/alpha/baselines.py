"""What the transformer must beat, on the same windows and labels. Numpy only.

* **no skill**: the training set's share of up-labels, for every window (AUC 0.5; its Brier
  score is the label variance — a model worse than this knows less than the base rate);
* **logistic**: the retraining flow's own L2 logistic regression
  (:func:`tripwire.flows.scheduled.training.fit_logistic`, Newton steps) on six hand-made features
  of the same window — the book features a person would try first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tripwire.flows.alpha.books import BPS, Snapshots
from tripwire.flows.scheduled.training import fit_logistic

HAND_FEATURES = (
    "imbalance_1",  # (bid_sz − ask_sz) / (bid_sz + ask_sz) at the top
    "imbalance_5",  # the same over the top five levels
    "micro_minus_mid_bps",
    "spread_bps",
    "ret_window_bps",  # mid return over the window
    "ret_5_bps",  # mid return over the last five snapshots
)


def hand_features(s: Snapshots, idx: np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    mid = s.mid
    b1, a1 = s.bid_sz[idx, 0], s.ask_sz[idx, 0]
    b5, a5 = s.bid_sz[idx, :5].sum(axis=1), s.ask_sz[idx, :5].sum(axis=1)
    imb1 = (b1 - a1) / np.maximum(b1 + a1, 1e-12)
    imb5 = (b5 - a5) / np.maximum(b5 + a5, 1e-12)
    micro = (s.micro[idx] - mid[idx]) / mid[idx] * BPS
    spread = (s.ask_px[idx, 0] - s.bid_px[idx, 0]) / mid[idx] * BPS
    ret_w = (mid[idx] - mid[idx - (n - 1)]) / mid[idx - (n - 1)] * BPS
    back5 = np.maximum(idx - 5, 0)
    ret_5 = (mid[idx] - mid[back5]) / mid[back5] * BPS
    return np.column_stack([imb1, imb5, micro, spread, ret_w, ret_5])


@dataclass(frozen=True)
class NoSkill:
    p: float

    @staticmethod
    def fit(y: np.ndarray) -> NoSkill:
        return NoSkill(float(np.mean(y)) if len(y) else 0.5)

    def predict(self, count: int) -> np.ndarray:
        return np.full(count, self.p)


@dataclass(frozen=True)
class Logistic:
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: float

    @staticmethod
    def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> Logistic:
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        z = np.clip((x - mean) / std, -3.0, 3.0)
        w, b = fit_logistic(z, y.astype(np.float64), l2)
        return Logistic(mean, std, w, b)

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = np.clip((x - self.mean) / self.std, -3.0, 3.0)
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z @ self.w + self.b, -30, 30))))
