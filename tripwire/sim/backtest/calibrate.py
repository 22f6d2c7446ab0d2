"""κ for config/quoting.yaml from a recording: how far from the mid its trades reached.

Walks the replayed messages (books and trades, synthetic ones included when asked), measures
each trade's distance from the coin's last mid in bps and fits the arrival rate's decay with
:func:`tripwire.hotpath.quoting.calibrate.fit_intensity`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tripwire.hotpath.quoting.calibrate import Intensity, fit_intensity
from tripwire.sim.replay.recordings import exchange_time_ms
from tripwire.sim.replay.runner import replay_stream

GRID_BPS = tuple(x / 4 for x in range(0, 41))  # 0 to 10 bps in quarter bps


def trade_distances(messages: Iterable[object], coin: str) -> tuple[list[float], float]:
    """(each trade's distance from the last mid in bps, the span of exchange time in s)."""
    mid = 0.0
    out: list[float] = []
    first = last = 0
    for msg in messages:
        if type(msg) is not dict:
            continue
        t = exchange_time_ms(msg)
        if t:
            first, last = first or t, max(last, t)
        data = msg.get("data")
        channel = msg.get("channel")
        if channel == "l2Book" and type(data) is dict and data.get("coin") == coin:
            bids, asks = data["levels"]
            if bids and asks:
                mid = (float(bids[0]["px"]) + float(asks[0]["px"])) / 2.0
        elif channel == "trades" and type(data) is list and mid > 0:
            for tr in data:
                if tr.get("coin") == coin:
                    out.append(abs(float(tr["px"]) - mid) / mid * 1e4)
    return out, (last - first) / 1000.0


def estimate_kappa(files: Sequence[str | Path], coin: str, synthetic: bool, seed: int) -> Intensity:
    distances, span_s = trade_distances(replay_stream(files, synthetic, seed), coin)
    return fit_intensity(distances, span_s, GRID_BPS)
