"""Market scenarios built for a strategy, where the recordings do not have the market it needs.

``funding_spike``: a perpetual whose funding is extreme for some hours, for the funding carry
(docs/CARRY.md). The bundled hour's funding is the generator's baseline (≈ 0.125 bps an hour,
Hyperliquid's interest-rate floor), far below any carry's hurdle; this scenario is *synthetic*
and says so: a seeded random-walk book (``l2Book`` every 5 s, 10 levels a side) and
``activeAssetCtx`` every 30 s whose ``funding`` follows an hourly profile in bps per hour. It is
a test of the strategy's mechanics and accounting, not evidence that such carries exist.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

# bps per hour, one entry per hour: two calm hours, six hours of extreme positive funding,
# then back to the baseline (the carry opens in hour 2 and closes in hour 8)
FUNDING_SPIKE_PROFILE: tuple[float, ...] = (0.125, 0.125, 10.0, 12.0, 10.0, 8.0, 10.0, 6.0, 0.5, 0.125)
BOOK_EVERY_MS = 5_000
CTX_EVERY_MS = 30_000
HOUR_MS = 3_600_000
START_MS = 1_704_110_400_000  # 2024-01-01 12:00 UTC, the bundled hour's start

SCENARIOS = ("funding_spike",)


def funding_spike(
    coin: str = "BTC",
    seed: int = 7,
    profile_bps: Sequence[float] = FUNDING_SPIKE_PROFILE,
    start_px: float = 42_800.0,
    start_ms: int = START_MS,
    sigma_bps_per_sqrt_s: float = 0.5,
) -> Iterator[dict[str, Any]]:
    """The scenario's WebSocket messages in time order (``l2Book`` and ``activeAssetCtx``)."""
    rng = random.Random(seed)
    mid = start_px
    end_ms = start_ms + len(profile_bps) * HOUR_MS
    step_sigma = sigma_bps_per_sqrt_s * 1e-4 * math.sqrt(BOOK_EVERY_MS / 1000)
    t = start_ms
    while t < end_ms:
        mid *= math.exp(rng.gauss(0.0, step_sigma))
        yield _book(coin, mid, t, rng)
        if (t - start_ms) % CTX_EVERY_MS == 0:
            rate = profile_bps[(t - start_ms) // HOUR_MS] / 1e4
            yield _ctx(coin, mid, rate, t)
        t += BOOK_EVERY_MS


def _book(coin: str, mid: float, t_ms: int, rng: random.Random) -> dict[str, Any]:
    tick = 1.0  # BTC's tick at 42 800 (5 significant figures)
    best_bid = math.floor(mid - 0.5)
    best_ask = max(best_bid + tick, math.ceil(mid + 0.5))

    def level(px: float) -> dict[str, Any]:
        return {"px": f"{px:.1f}", "sz": f"{rng.uniform(0.2, 3.0):.5f}", "n": rng.randint(1, 9)}

    bids = [level(best_bid - i * tick) for i in range(10)]
    asks = [level(best_ask + i * tick) for i in range(10)]
    return {"channel": "l2Book", "data": {"coin": coin, "time": t_ms, "levels": [bids, asks]}}


def _ctx(coin: str, mid: float, rate: float, t_ms: int) -> dict[str, Any]:
    px = f"{mid:.1f}"
    return {
        "channel": "activeAssetCtx",
        "data": {
            "coin": coin,
            "ctx": {
                "funding": f"{rate:.8f}",
                "openInterest": "1000.0",
                "prevDayPx": px,
                "dayNtlVlm": "0.0",
                "premium": f"{rate:.8f}",
                "oraclePx": px,
                "markPx": px,
                "midPx": px,
                "impactPxs": [px, px],
            },
            "time": t_ms,
        },
    }
