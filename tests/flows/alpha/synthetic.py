"""Order books with a known pattern, for the model's tests.

Price 10 000 with 1-unit ticks (1 tick = 1 bps). At each snapshot the imbalance ``I`` of the
*second* level is drawn uniformly in [−1, 1] (bid size 1 + I, ask size 1 − I; the other levels
1) and the mid then moves one tick up with probability ``0.5 + edge·I``, else one tick down: the
book says where the price goes next, by ``edge``. ``edge=0`` is a pure random walk: nothing to
learn. (Not the top level: the micro-price, which the labels follow, already prices the top
level's imbalance, so a pattern there cancels out of the labels.)
"""

from __future__ import annotations

import numpy as np

from tripwire.flows.alpha.books import Snapshots


def snapshots(n: int, edge: float, seed: int = 1, levels: int = 3) -> Snapshots:
    rng = np.random.default_rng(seed)
    mid = 10_000.5
    t, bid_px, bid_sz, ask_px, ask_sz = [], [], [], [], []
    for i in range(n):
        imb = rng.uniform(-1, 1)
        t.append(1_700_000_000_000 + 600 * i)
        bid_px.append([mid - 0.5 - j for j in range(levels)])
        ask_px.append([mid + 0.5 + j for j in range(levels)])
        bid_sz.append([1.0, 1 + imb] + [1.0] * (levels - 2))
        ask_sz.append([1.0, 1 - imb] + [1.0] * (levels - 2))
        mid += 1.0 if rng.uniform() < 0.5 + edge * imb else -1.0
    return Snapshots(
        np.array(t, dtype=np.int64), np.array(bid_px), np.array(bid_sz), np.array(ask_px), np.array(ask_sz)
    )
