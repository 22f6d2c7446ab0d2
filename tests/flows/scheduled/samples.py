"""Answers in Hyperliquid's real shapes (strings for numbers), built for the tests."""

from __future__ import annotations

from typing import Any

HOUR_MS = 3_600_000


def meta_and_asset_ctxs() -> list[Any]:
    """BTC and ETH live, one delisted coin (as mainnet lists them)."""
    return [
        {
            "universe": [
                {"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
                {"name": "ETH", "szDecimals": 4, "maxLeverage": 25},
                {"name": "OLD", "szDecimals": 0, "maxLeverage": 3, "isDelisted": True},
            ],
            "marginTables": [],
        },
        [
            {
                "funding": "0.0000125",
                "openInterest": "30123.45",
                "prevDayPx": "100000.0",
                "dayNtlVlm": "2512345678.9",
                "premium": "0.00021",
                "oraclePx": "101000.0",
                "markPx": "101020.0",
                "midPx": "101019.5",
                "impactPxs": ["101015.0", "101025.0"],
                "dayBaseVlm": "24900.1",
            },
            {
                "funding": "-0.00000625",
                "openInterest": "512000.0",
                "prevDayPx": "2500.0",
                "dayNtlVlm": "900000000.0",
                "premium": "-0.0001",
                "oraclePx": "2450.0",
                "markPx": "2449.5",
                "midPx": None,
                "impactPxs": None,
                "dayBaseVlm": "360000.0",
            },
            {
                "funding": "0.0",
                "openInterest": "0.0",
                "prevDayPx": "1.0",
                "dayNtlVlm": "0.0",
                "premium": None,
                "oraclePx": "1.0",
                "markPx": "1.0",
                "midPx": None,
                "impactPxs": None,
                "dayBaseVlm": "0.0",
            },
        ],
    ]


def funding_rows(coin: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """Hourly settlements in [start, end], at most 500 (the API's page size)."""
    first = -(-start_ms // HOUR_MS) * HOUR_MS
    return [
        {"coin": coin, "fundingRate": f"{0.0000125 + i * 1e-7:.10f}", "premium": "0.0002", "time": t}
        for i, t in enumerate(range(first, end_ms + 1, HOUR_MS))
    ][:500]


def clearinghouse_state(account_value: float, positions: list[tuple[str, float, float, float]]) -> dict[str, Any]:
    """``positions``: (coin, szi, entry_px, mark)."""
    ntl = sum(abs(s) * m for _, s, _, m in positions)
    summary = {
        "accountValue": f"{account_value}",
        "totalNtlPos": f"{ntl}",
        "totalRawUsd": f"{account_value}",
        "totalMarginUsed": f"{ntl / 10}",
    }
    return {
        "marginSummary": summary,
        "crossMarginSummary": dict(summary),
        "crossMaintenanceMarginUsed": "0.0",
        "withdrawable": f"{account_value}",
        "assetPositions": [
            {
                "type": "oneWay",
                "position": {
                    "coin": c,
                    "szi": f"{s}",
                    "leverage": {"type": "cross", "value": 10},
                    "entryPx": f"{e}",
                    "positionValue": f"{abs(s) * m}",
                    "unrealizedPnl": f"{s * (m - e)}",
                    "returnOnEquity": "0.0",
                    "liquidationPx": None,
                    "marginUsed": f"{abs(s) * m / 10}",
                    "maxLeverage": 40,
                    "cumFunding": {"allTime": "0.0", "sinceOpen": "0.0", "sinceChange": "0.0"},
                },
            }
            for c, s, e, m in positions
        ],
        "time": 1_700_000_000_000,
    }
