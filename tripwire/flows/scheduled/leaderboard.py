"""Scoring the leaderboard, pure: rows → a score per trader → the ``top_n`` to track.

A row (Hyperliquid's stats server, all values strings)::

    {"ethAddress": "0x…", "accountValue": "123.4", "displayName": null | "…", "prize": 0,
     "windowPerformances": [["day", {"pnl", "roi", "vlm"}], ["week", …], ["month", …],
                            ["allTime", …]]}

``roi`` is a fraction (0.05 = 5 %). Non-finite values ("NaN") and missing windows count as 0.

**Score** = 0.30·P(all-time ROI) + 0.25·P(month ROI) + 0.20·P(week ROI)
+ 0.15·P(account value) + 0.10·P(month volume) (weights configurable), where P is the
*rank percentile* among the ranked traders: 0 for the lowest value, 1 for the highest, ties
sharing their average rank. Ranks rather than raw values or z-scores because these metrics are
heavy-tailed (one account's 40,000 % ROI would swamp every other difference) and in different
units; a percentile is bounded, unit-free and moves only when the order changes. Only accounts
worth at least ``min_account_value_usd`` are ranked (a huge ROI on a tiny account says nothing
about the market); volume is the month's, the window that says "trades now and a lot".

**Likely active** (has positions open today): day ROI > 0.01 % *and* day PnL > 0.1 % of the
account *and* day volume > $100k (thresholds configurable).
"""

from __future__ import annotations

import array
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tripwire.flows.scheduled.config import RefreshLeaderboardConfig
from tripwire.flows.scheduled.upstream import BadUpstreamData

WINDOWS = ("day", "week", "month", "allTime")
FIELDS = ("account_value", *(f"{w}_{m}" for w in ("day", "week", "month", "all_time") for m in ("pnl", "roi", "vlm")))
COL = {name: i for i, name in enumerate(FIELDS)}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_BAD_ROW_SHARE = 0.01  # more malformed rows than this: the format changed, fail the run


def _f(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def parse_row(raw: dict[str, Any]) -> tuple[str, str | None, tuple[float, ...]] | None:
    """(lower-case address, display name, values in ``FIELDS`` order), or None if the row has
    no valid address or no windowPerformances list."""
    address = raw.get("ethAddress")
    perf = raw.get("windowPerformances")
    if not isinstance(address, str) or not _ADDRESS.match(address) or not isinstance(perf, list):
        return None
    windows: dict[str, Any] = {}
    for item in perf:
        if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], dict):
            windows[item[0]] = item[1]
    values = [_f(raw.get("accountValue"))]
    for w in WINDOWS:
        p = windows.get(w, {})
        values += [_f(p.get("pnl")), _f(p.get("roi")), _f(p.get("vlm"))]
    name = raw.get("displayName")
    return address.lower(), name if isinstance(name, str) else None, tuple(values)


class LeaderboardTable:
    """The parsed leaderboard, column-wise (50,000 rows as one float array, not 50,000 dicts)."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.names: list[str | None] = []
        # 8 bytes a value: a list of float tuples would take ~5× the memory.
        self._flat = array.array("d")
        self.bad_rows = 0
        self._values: np.ndarray | None = None

    def add(self, raw: dict[str, Any]) -> None:
        parsed = parse_row(raw)
        if parsed is None:
            self.bad_rows += 1
            return
        self.addresses.append(parsed[0])
        self.names.append(parsed[1])
        self._flat.extend(parsed[2])
        self._values = None

    def __len__(self) -> int:
        return len(self.addresses)

    @property
    def values(self) -> np.ndarray:
        if self._values is None:
            self._values = np.frombuffer(self._flat, dtype=np.float64).reshape(-1, len(FIELDS)).copy()
        return self._values

    def col(self, name: str) -> np.ndarray:
        return self.values[:, COL[name]]

    def check(self, source: str) -> None:
        """BadUpstreamData when the answer is empty or mostly unreadable."""
        total = len(self) + self.bad_rows
        if len(self) == 0:
            raise BadUpstreamData(f"{source}: no readable rows ({self.bad_rows} malformed); nothing stored")
        if self.bad_rows > MAX_BAD_ROW_SHARE * total:
            raise BadUpstreamData(
                f"{source}: {self.bad_rows} of {total} rows malformed (no valid "
                f"ethAddress or windowPerformances): has the format changed? "
                f"nothing stored"
            )


def rank_percentile(x: np.ndarray) -> np.ndarray:
    """Each value's rank among ``x`` scaled to 0..1 (lowest 0, highest 1; ties share their
    average rank; a single value is 1)."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    avg_rank = first + (counts - 1) / 2.0  # 0-based average rank of each distinct value
    return avg_rank[inverse] / (n - 1)


COMPONENTS = {  # score component → the column it ranks
    "all_time_roi": "all_time_roi",
    "month_roi": "month_roi",
    "week_roi": "week_roi",
    "account_value": "account_value",
    "volume": "month_vlm",
}


@dataclass
class Scored:
    """Scores of the ranked (eligible) rows: ``index`` into the table, best first."""

    index: np.ndarray
    score: np.ndarray
    components: dict[str, np.ndarray]
    likely_active: np.ndarray
    eligible: int


def likely_active(table: LeaderboardTable, cfg: RefreshLeaderboardConfig) -> np.ndarray:
    av = table.col("account_value")
    day_pnl = table.col("day_pnl")
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl_share = np.where(av > 0, day_pnl / np.where(av > 0, av, 1.0), 0.0)
    return (
        (table.col("day_roi") > cfg.active_min_day_roi)
        & (pnl_share > cfg.active_min_day_pnl_share)
        & (table.col("day_vlm") > cfg.active_min_day_volume_usd)
    )


def score_table(table: LeaderboardTable, cfg: RefreshLeaderboardConfig) -> Scored:
    """Rank the eligible traders; ties in score go to the larger account, then the address."""
    eligible = np.flatnonzero(table.col("account_value") >= cfg.min_account_value_usd)
    weights = cfg.weights.model_dump()
    comps = {name: rank_percentile(table.col(column)[eligible]) for name, column in COMPONENTS.items()}
    score = sum(weights[name] * comps[name] for name in COMPONENTS) if len(eligible) else np.zeros(0)
    addresses = np.array([table.addresses[i] for i in eligible], dtype=object)
    # lexsort: the last key is the primary one.
    order = (
        np.lexsort((addresses, -table.col("account_value")[eligible], -score))
        if len(eligible)
        else np.zeros(0, dtype=np.int64)
    )
    active = likely_active(table, cfg)[eligible]
    return Scored(
        index=eligible[order],
        score=np.asarray(score)[order],
        components={k: v[order] for k, v in comps.items()},
        likely_active=active[order],
        eligible=len(eligible),
    )


def tracked_docs(table: LeaderboardTable, scored: Scored, top_n: int, ts_ms: int) -> list[dict[str, Any]]:
    """The ``tracked_traders`` documents of the best ``top_n``, rank 1 first."""
    docs = []
    for rank, (i, score) in enumerate(zip(scored.index[:top_n], scored.score[:top_n]), 1):
        v = table.values[i]
        k = rank - 1
        docs.append(
            {
                "address": table.addresses[i],
                "rank": rank,
                "score": round(float(score), 6),
                "display_name": table.names[i],
                "components": {name: round(float(c[k]), 6) for name, c in scored.components.items()},
                "likely_active": bool(scored.likely_active[k]),
                "account_value": float(v[COL["account_value"]]),
                **{f: float(v[COL[f]]) for f in FIELDS[1:]},
                "updated_ts": ts_ms,
            }
        )
    return docs


def history_docs(tracked: list[dict[str, Any]], ts_ms: int) -> list[dict[str, Any]]:
    """One ``leaderboard_history`` row per tracked trader: how ranks and scores move over days."""
    keep = (
        "address",
        "rank",
        "score",
        "likely_active",
        "account_value",
        "all_time_roi",
        "month_roi",
        "week_roi",
        "day_roi",
        "day_pnl",
        "month_vlm",
    )
    return [{"ts": ts_ms, **{k: d[k] for k in keep}} for d in tracked]
