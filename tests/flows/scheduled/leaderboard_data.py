"""A generated leaderboard in the stats server's real shape (all numbers as strings)."""

from __future__ import annotations

import numpy as np
import orjson


def generate(n: int, seed: int = 5) -> tuple[bytes, list[dict]]:
    """(the JSON body, its rows) for ``n`` traders with heavy-tailed, realistic-looking values;
    a few rows carry "NaN" and missing windows as the real one sometimes does."""
    rng = np.random.default_rng(seed)
    account = np.exp(rng.normal(9.0, 2.5, n))  # median ~$8k, tail to $100M+
    rows = []
    for i in range(n):
        av = account[i]
        windows = []
        for name, scale, vlm_days in (("day", 0.02, 1), ("week", 0.06, 7), ("month", 0.15, 30), ("allTime", 0.8, 365)):
            roi = float(rng.standard_t(3) * scale)
            vlm = float(av * np.exp(rng.normal(0.5, 1.5)) * vlm_days)
            windows.append([name, {"pnl": f"{roi * av:.6f}", "roi": f"{roi:.8f}", "vlm": f"{vlm:.2f}"}])
        if i % 997 == 13:
            windows[0][1]["roi"] = "NaN"
        if i % 1999 == 7:
            windows = windows[:2]  # no month / allTime window
        rows.append(
            {
                "ethAddress": f"0x{i:040x}",
                "accountValue": f"{av:.6f}",
                "windowPerformances": windows,
                "prize": 0,
                "displayName": None if i % 3 else f"trader {i}",
            }
        )
    return orjson.dumps({"leaderboardRows": rows}), rows
