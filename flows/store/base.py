"""The store's one interface. Two implementations (SQLite, MongoDB) pass one contract suite.

Documents are JSON-like dicts. Queries use a small, documented subset of MongoDB's filter
language so the same call means the same thing on both backends:

* ``{"field": value}`` equality on a top-level field;
* ``{"field": {"$gt"|"$gte"|"$lt"|"$lte"|"$ne": v}}`` and ``{"field": {"$in": [...]}}``;
* several keys are ANDed. Nothing else (a filter outside the subset raises ``StoreError``).

Sort is a list of ``(field, 1 | -1)``. Every collection's documents carry ``_id`` (a string;
generated when absent); time-ordered collections carry ``ts`` (epoch milliseconds, int).
``upsert`` replaces the document whose ``key`` fields match, and reports whether anything
changed, so callers can store "only on change".
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol, runtime_checkable

Doc = dict[str, Any]
Filter = dict[str, Any]
Sort = list[tuple[str, int]]

# The collections (seed design + tripwire's own). Per-interval candles are ``candles_<iv>``.
CANDLE_INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")
COLLECTIONS = (
    *(f"candles_{iv}" for iv in CANDLE_INTERVALS),
    "orderbook_snapshots", "trades", "asset_ctx", "ticker", "funding_history", "open_interest",
    "liquidations", "tracked_traders", "trader_positions", "trader_current_state", "signals",
    "leaderboard_history",
    "triggers", "decisions", "orders", "fills", "models",
)


class StoreError(Exception):
    """A store operation failed or was asked something outside the contract; says which."""


@runtime_checkable
class Store(Protocol):
    def insert_many(self, collection: str, docs: Iterable[Doc]) -> int:
        """Insert all or none (one transaction / ordered bulk); returns how many."""

    def upsert(self, collection: str, key: Filter, doc: Doc) -> bool:
        """Replace the one document matching ``key`` (equality only) with ``doc`` (plus the key
        fields), inserting if none; True when something was inserted or changed."""

    def find(self, collection: str, filter: Filter | None = None, *, sort: Sort | None = None,
             limit: int | None = None, skip: int = 0) -> list[Doc]: ...

    def find_one(self, collection: str, filter: Filter | None = None, *,
                 sort: Sort | None = None) -> Doc | None: ...

    def count(self, collection: str, filter: Filter | None = None) -> int: ...

    def delete_many(self, collection: str, filter: Filter) -> int:
        """Delete what matches (an empty filter is refused: say ``{"_id": {"$ne": None}}``)."""

    def close(self) -> None: ...
