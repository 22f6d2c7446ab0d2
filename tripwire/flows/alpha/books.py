"""Order-book snapshots as model inputs, and their triple-barrier labels. Pure numpy, no torch.

A **snapshot** is the top ``K`` levels of each side (price, size) at one book update; a missing
level repeats the last price present with size 0. A **window** is the last ``N`` snapshots up to
and including the one a prediction is made at, normalised so one model means the same at any
price level and on any coin:

* prices as **bps from the mid of the window's last snapshot** (so the window shows both the
  book's shape and how the book moved into the present);
* sizes as ``log1p(size)`` standardised by the training set's mean and std (kept with the model).

One token per snapshot, ``4·K`` features: bid bps, ask bps, bid size z, ask size z (by level).

**Label** (triple barrier, López de Prado): from snapshot ``i``, the micro-price
(``(bid·ask_sz + ask·bid_sz) / (bid_sz + ask_sz)`` at the top) is followed for ``horizon``
snapshots; 1 if it first rises ``barrier_bps`` above its value at ``i``, 0 if it first falls
``barrier_bps`` below; at the time limit the sign of its return labels it (``sign``; a zero
return is dropped) or it is dropped (``drop``). With symmetric barriers the expected move given
P(up) = p is about ``(2p − 1) · barrier_bps``: the served ``pred_move_bps``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BPS = 1e4


@dataclass
class Snapshots:
    """``n`` book snapshots of one coin, time-ordered: arrays of shape (n,) and (n, K)."""

    t_ms: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray

    def __len__(self) -> int:
        return len(self.t_ms)

    @property
    def levels(self) -> int:
        return int(self.bid_px.shape[1])

    @property
    def mid(self) -> np.ndarray:
        return np.asarray((self.bid_px[:, 0] + self.ask_px[:, 0]) / 2.0)

    @property
    def micro(self) -> np.ndarray:
        b, a, bs, as_ = self.bid_px[:, 0], self.ask_px[:, 0], self.bid_sz[:, 0], self.ask_sz[:, 0]
        total = bs + as_
        return np.asarray(np.where(total > 0, (b * as_ + a * bs) / np.where(total > 0, total, 1.0), (a + b) / 2.0))

    def slice(self, lo: int, hi: int) -> Snapshots:
        return Snapshots(
            self.t_ms[lo:hi], self.bid_px[lo:hi], self.bid_sz[lo:hi], self.ask_px[lo:hi], self.ask_sz[lo:hi]
        )


def _side(levels: Sequence[Any], k: int) -> tuple[list[float], list[float]] | None:
    """(prices, sizes) of one side's first ``k`` levels; l2Book dicts or (px, sz) pairs."""
    px, sz = [], []
    for lvl in levels[:k]:
        if isinstance(lvl, dict):
            p, s = float(lvl["px"]), float(lvl["sz"])
        else:
            p, s = float(lvl[0]), float(lvl[1])
        px.append(p)
        sz.append(s)
    if not px:
        return None
    while len(px) < k:  # a thin book: the last price again, nothing resting there
        px.append(px[-1])
        sz.append(0.0)
    return px, sz


def snapshot_row(bids: Sequence[Any], asks: Sequence[Any], k: int) -> tuple[list[float], ...] | None:
    """One snapshot's four rows, or None when a side is empty or the book is crossed."""
    b, a = _side(bids, k), _side(asks, k)
    if b is None or a is None or b[0][0] <= 0 or a[0][0] <= b[0][0]:
        return None
    return b[0], b[1], a[0], a[1]


def from_rows(times: list[int], rows: list[tuple[list[float], ...]], k: int) -> Snapshots:
    if not rows:
        z = np.zeros((0, k))
        return Snapshots(np.zeros(0, dtype=np.int64), z, z, z, z)
    cols = [np.array([r[j] for r in rows], dtype=np.float64) for j in range(4)]
    return Snapshots(np.array(times, dtype=np.int64), *cols)


def from_messages(messages: Iterable[Any], coin: str, k: int, every_ms: int = 0) -> Snapshots:
    """The l2Book messages of ``coin`` among ``messages`` (WebSocket shape), as snapshots; with
    ``every_ms``, a book only when at least that long after the last one kept — the hot path's
    ``md.book`` throttle, so the model trains on the cadence it is served at."""
    times: list[int] = []
    rows: list[tuple[list[float], ...]] = []
    for msg in messages:
        if type(msg) is not dict or msg.get("channel") != "l2Book":
            continue
        data = msg.get("data") or {}
        if data.get("coin") != coin:
            continue
        try:
            levels = data["levels"]
            row = snapshot_row(levels[0], levels[1], k)
            t = int(data["time"])
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        if row is None or (times and t < times[-1] + every_ms):
            continue
        times.append(t)
        rows.append(row)
    return from_rows(times, rows, k)


def read_snapshots(files: Sequence[str | Path], coin: str, k: int, every_ms: int = 0) -> Snapshots:
    """Recorded files (archive ``.lz4`` or NDJSON, or folders: docs/DATA.md) → ``coin``'s books."""
    from tripwire.sim.replay.runner import replay_stream  # the replay reader: one format, one parser

    return from_messages(replay_stream([str(f) for f in files], False, 0), coin, k, every_ms)


# -- normalised windows ----------------------------------------------------------------------


@dataclass(frozen=True)
class SizeScale:
    """Mean and std of ``log1p(size)`` over the training snapshots (saved with the model)."""

    mean: float
    std: float

    @staticmethod
    def fit(s: Snapshots) -> SizeScale:
        logs = np.log1p(np.concatenate([s.bid_sz.ravel(), s.ask_sz.ravel()]))
        std = float(logs.std()) if len(logs) else 1.0
        return SizeScale(float(logs.mean()) if len(logs) else 0.0, std if std > 1e-9 else 1.0)


def windows(s: Snapshots, idx: np.ndarray, n: int, scale: SizeScale) -> np.ndarray:
    """(len(idx), n, 4K) float32: the window ending at each index (each index ≥ n − 1)."""
    idx = np.asarray(idx, dtype=np.int64)
    rows = idx[:, None] - (n - 1) + np.arange(n)[None, :]
    ref = s.mid[idx][:, None, None]
    bid_bps = (s.bid_px[rows] - ref) / ref * BPS
    ask_bps = (s.ask_px[rows] - ref) / ref * BPS
    bid_z = (np.log1p(s.bid_sz[rows]) - scale.mean) / scale.std
    ask_z = (np.log1p(s.ask_sz[rows]) - scale.mean) / scale.std
    return np.concatenate([bid_bps, ask_bps, bid_z, ask_z], axis=2).astype(np.float32)


class BookWindow:
    """The last ``n`` snapshots of one coin as they arrive (the model server's state)."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.rows: deque[tuple[int, tuple[list[float], ...]]] = deque(maxlen=n)

    def push(self, t_ms: int, bids: Sequence[Any], asks: Sequence[Any]) -> bool:
        row = snapshot_row(bids, asks, self.k)
        if row is None:
            return False
        self.rows.append((t_ms, row))
        return True

    @property
    def full(self) -> bool:
        return len(self.rows) == self.n

    def window(self, scale: SizeScale) -> np.ndarray:
        s = from_rows([t for t, _ in self.rows], [r for _, r in self.rows], self.k)
        return windows(s, np.array([self.n - 1]), self.n, scale)


# -- labels ----------------------------------------------------------------------------------


def triple_barrier(price: np.ndarray, horizon: int, barrier_bps: float, timeout_label: str = "sign") -> np.ndarray:
    """Per index: 1.0 (upper barrier first), 0.0 (lower first or a negative timeout), NaN (no
    label: too close to the end, or dropped at the time limit)."""
    n = len(price)
    out = np.full(n, np.nan)
    for i in range(n - horizon):
        p0 = price[i]
        path = (price[i + 1 : i + 1 + horizon] - p0) / p0 * BPS
        up = np.flatnonzero(path >= barrier_bps)
        down = np.flatnonzero(path <= -barrier_bps)
        first_up = up[0] if len(up) else horizon
        first_down = down[0] if len(down) else horizon
        if first_up < first_down:
            out[i] = 1.0
        elif first_down < first_up:
            out[i] = 0.0
        elif timeout_label == "sign" and path[-1] != 0:
            out[i] = 1.0 if path[-1] > 0 else 0.0
    return out


@dataclass
class LabelledWindows:
    """The indices that have a full window and a label, their labels and times."""

    idx: np.ndarray
    y: np.ndarray
    t_ms: np.ndarray


def labelled(s: Snapshots, n: int, horizon: int, barrier_bps: float, timeout_label: str = "sign") -> LabelledWindows:
    y = triple_barrier(s.micro, horizon, barrier_bps, timeout_label)
    idx = np.flatnonzero(~np.isnan(y))
    idx = idx[idx >= n - 1]
    return LabelledWindows(idx, y[idx], s.t_ms[idx])


def expected_move_bps(p_up: np.ndarray | float, barrier_bps: float) -> np.ndarray | float:
    """P(up first) → the predicted micro-price move, bps (symmetric barriers)."""
    return (2.0 * np.asarray(p_up) - 1.0) * barrier_bps
