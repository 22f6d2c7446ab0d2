"""``flows.retrain_model.alpha``: the order-book model's shape, labels and training.

Numpy-free and torch-free: the flows' settings are validated at start whether or not the
``alpha`` extra is installed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class AlphaConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(False, description="train the transformer candidate in retrain_model (needs .[alpha])")
    files: tuple[Path, ...] = Field((), description="recorded l2Book files or folders; empty: settings.replay.files")
    coin: str = "BTC"
    model_file: Path = Field(Path("data/models/alpha_model.pt"), description="the promoted model, served")
    models_dir: Path = Path("data/models")
    levels: int = Field(10, ge=1, le=20, description="top K levels per side")
    # the hot path publishes md.book at most once a second (tripwire/hotpath/events.py,
    # BOOK_EVERY_MS): training on the same cadence keeps window and horizon the same in time
    book_every_ms: int = Field(1000, ge=0, description="keep a recorded book only this long after the last kept")
    window: int = Field(20, ge=2, le=256, description="N snapshots per sequence")
    horizon: int = Field(20, ge=1, description="vertical barrier, in snapshots")
    barrier_bps: float = Field(1.5, gt=0, description="horizontal barriers, bps of the micro-price")
    timeout_label: str = Field("sign", pattern="^(sign|drop)$")
    folds: int = Field(4, ge=2, le=20)
    # sized for one CPU core on a shared 2-core machine (BENCHMARKS.md): ~1 min for an hour's books
    stride: int = Field(2, ge=1, description="train on every stride-th window (neighbours overlap almost whole)")
    epochs: int = Field(6, ge=1)
    batch: int = Field(256, ge=8)
    d_model: int = Field(16, ge=8)
    heads: int = Field(2, ge=1)
    layers: int = Field(1, ge=1)
    threads: int = Field(1, ge=1, description="torch intra-op threads (1: the other processes keep a core)")
    lr: float = Field(1e-3, gt=0)
    seed: int = 7
    metric: str = Field("auc", pattern="^(auc|brier)$")
    min_improvement: float = Field(0.0, ge=0)
