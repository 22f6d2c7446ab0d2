"""``python -m bench alpha``: the order-book transformer on the bundled hour (needs ``.[alpha]``).

Prints: walk-forward training time and metrics against the logistic and no-skill baselines (the
retraining flow's defaults, ``flows.retrain_model.alpha``), the final fit's time, and the
inference latency of one prediction as the model server makes it (one window built from the
rolling book window, one forward pass), p50/p99 over every book of the hour.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np

RECORDING = Path(__file__).resolve().parent.parent / "data" / "recordings" / "BTC-l2Book-20240101-12.lz4"


def main() -> None:
    if importlib.util.find_spec("torch") is None:
        print("skipped: the alpha extra is not installed (pip install '.[alpha]')")
        return
    from tripwire.flows.alpha import evaluate, transformer
    from tripwire.flows.alpha.books import BookWindow, read_snapshots
    from tripwire.flows.alpha.config import AlphaConfig

    print(f"load average {os.getloadavg()[0]:.1f} (2 vCPUs; other sessions share the machine)")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = AlphaConfig(models_dir=Path(tmp), model_file=Path(tmp) / "alpha_model.pt")
        s = read_snapshots([RECORDING], cfg.coin, cfg.levels, cfg.book_every_ms)
        t0 = time.perf_counter()
        r = evaluate.train_and_promote(s, cfg, "bench")
        wall = time.perf_counter() - t0
        print(
            f"{len(s)} books, {r.samples} labelled windows; walk-forward ({cfg.folds} folds) + final fit: {wall:.1f} s"
        )
        for name, m in r.metrics.items():
            print(f"  {name:<12} AUC {m['auc']}  Brier {m['brier']}  hit rate {m['hit_rate']}  n {m['n']}")
        print(f"  {'promoted' if r.promoted else 'not promoted'}: {r.reason}")
        assert r.path is not None
        model = transformer.load(r.path)
    w = BookWindow(int(model.meta["window"]), int(model.meta["levels"]))
    lat = []
    for i in range(len(s)):
        w.push(int(s.t_ms[i]), list(zip(s.bid_px[i], s.bid_sz[i])), list(zip(s.ask_px[i], s.ask_sz[i])))
        if not w.full:
            continue
        t0 = time.perf_counter()
        model.predict(w.window(model.scale))
        lat.append((time.perf_counter() - t0) * 1e3)
    a = np.array(lat)
    print(
        f"inference, one book → one prediction ({len(a)} books): p50 {np.percentile(a, 50):.3f} ms, "
        f"p99 {np.percentile(a, 99):.3f} ms, max {a.max():.3f} ms"
    )
