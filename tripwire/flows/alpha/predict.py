"""A trained model's predictions over recorded books, as the backtest and the γ environment
read them (:class:`tripwire.sim.backtest.gamma.Predictions`). Needs the ``alpha`` extra.

Each prediction at a book uses only that book and the ``window − 1`` before it (what the model
server would have had then); books before the first full window predict nothing (0 bps).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tripwire.flows.alpha import transformer
from tripwire.flows.alpha.books import Snapshots, expected_move_bps, read_snapshots, windows
from tripwire.sim.backtest.gamma import Predictions


def predict_snapshots(s: Snapshots, model: transformer.Fitted) -> Predictions:
    n = int(model.meta["window"])
    idx = np.arange(n - 1, len(s))
    if not len(idx):
        return Predictions([], [])
    p = model.predict(windows(s, idx, n, model.scale))
    move = expected_move_bps(p, float(model.meta["barrier_bps"]))
    return Predictions([int(t) for t in s.t_ms[idx]], [float(v) for v in np.asarray(move)])


def predict_files(files: Sequence[str | Path], coin: str, model_file: str | Path) -> Predictions:
    model = transformer.load(model_file)
    every = int(model.meta.get("book_every_ms", 0))
    return predict_snapshots(read_snapshots(files, coin, int(model.meta["levels"]), every), model)
