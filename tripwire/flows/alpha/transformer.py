"""The order-book sequence model (needs the ``alpha`` extra: PyTorch, CPU).

In the spirit of LiT (limit-order-book transformers): each snapshot of the window is one token
(:func:`tripwire.flows.alpha.books.windows`, ``4·K`` normalised features), projected to
``d_model``, given a learned position embedding, passed through a small pre-norm
``TransformerEncoder``; the last token's output (the present, having attended to the past) is
read out as the logit of "the micro-price reaches +barrier before −barrier". Trained with binary
cross-entropy and AdamW; a fixed number of epochs, no early stopping on the test block (the
walk-forward fold's test block is never seen).

The artifact is one ``torch.save`` file: the state dict plus a plain ``meta`` dict (shape,
labels, size scale, metrics), loaded back with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tripwire.flows.alpha.books import SizeScale
from tripwire.flows.alpha.config import AlphaConfig

ARTIFACT_KIND = "tripwire.alpha.lob_transformer/1"


class ModelFileError(Exception):
    """An alpha model file that cannot be used; the message names the file and the reason."""


class LobTransformer(nn.Module):
    def __init__(self, features: int, window: int, d_model: int = 32, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.proj = nn.Linear(features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=0.1, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.proj(x) + self.pos)
        return self.head(h[:, -1, :]).squeeze(-1)


@dataclass
class Fitted:
    model: LobTransformer
    meta: dict[str, Any]

    def predict(self, x: np.ndarray, batch: int = 1024) -> np.ndarray:
        """P(up) per window (n, window, 4K)."""
        self.model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                out.append(torch.sigmoid(self.model(torch.from_numpy(x[i : i + batch]))).numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    @property
    def scale(self) -> SizeScale:
        return SizeScale(float(self.meta["size_mean"]), float(self.meta["size_std"]))


def fit(x: np.ndarray, y: np.ndarray, cfg: AlphaConfig, scale: SizeScale) -> Fitted:
    """Train on windows ``x`` (n, window, 4K) float32 and labels ``y`` (n,) in {0, 1}."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    batch = cfg.batch
    gen = np.random.default_rng(cfg.seed)
    model = LobTransformer(x.shape[2], x.shape[1], cfg.d_model, cfg.heads, cfg.layers)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    t0 = time.perf_counter()
    model.train()
    for _ in range(cfg.epochs):
        order = torch.from_numpy(gen.permutation(len(x)))
        for i in range(0, len(x), batch):
            sel = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[sel]), yt[sel])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    meta = {
        "kind": ARTIFACT_KIND,
        "features": int(x.shape[2]),
        "window": int(x.shape[1]),
        "levels": cfg.levels,
        "book_every_ms": cfg.book_every_ms,
        "d_model": cfg.d_model,
        "heads": cfg.heads,
        "layers": cfg.layers,
        "horizon": cfg.horizon,
        "barrier_bps": cfg.barrier_bps,
        "coin": cfg.coin,
        "size_mean": scale.mean,
        "size_std": scale.std,
        "train_samples": len(x),
        "train_s": round(time.perf_counter() - t0, 3),
        "torch": str(torch.__version__),
    }
    return Fitted(model, meta)


def save(f: Fitted, path: str | Path, **extra: Any) -> Path:
    """Write atomically (a reader never sees half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    # plain JSON types only: weights_only loading refuses anything else (numpy scalars included)
    meta = json.loads(json.dumps({**f.meta, **extra}, default=float))
    torch.save({"meta": meta, "state_dict": f.model.state_dict()}, tmp)
    tmp.replace(p)
    return p


def load(path: str | Path) -> Fitted:
    p = Path(path)
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
        meta = blob["meta"]
        if meta.get("kind") != ARTIFACT_KIND:
            raise ModelFileError(f"{p}: not an alpha model file (kind {meta.get('kind')!r}, expected {ARTIFACT_KIND})")
        model = LobTransformer(meta["features"], meta["window"], meta["d_model"], meta["heads"], meta["layers"])
        model.load_state_dict(blob["state_dict"])
    except ModelFileError:
        raise
    except FileNotFoundError:
        raise ModelFileError(f"{p}: no such file (train one: tripwire alpha train)") from None
    except Exception as e:  # noqa: BLE001  (torch.load's unpickler raises any type on a foreign file)
        raise ModelFileError(f"{p}: unreadable alpha model file: {e}") from None
    model.eval()
    return Fitted(model, dict(meta))
