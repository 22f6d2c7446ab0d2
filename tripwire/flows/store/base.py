"""The store's one interface. Two implementations (SQLite, MongoDB) pass one contract suite.

Documents are JSON-like dicts (str, int, float, bool, None, lists and dicts of them). Queries use
a small, documented subset of MongoDB's filter language so the same call means the same thing on
both backends:

* ``{"field": value}`` equality on a top-level field, ``value`` a scalar (str, int, float,
  bool or None; None matches a missing field too);
* ``{"field": {"$gt"|"$gte"|"$lt"|"$lte"|"$ne": v}}`` and ``{"field": {"$in": [...]}}``
  (``$gt``…``$lte`` take a number or a string and match only fields of that kind, as MongoDB's
  type bracketing does; several operators on one field are ANDed);
* several keys are ANDed. Nothing else (a filter outside the subset raises ``StoreError``).

Field names are identifiers (letters, digits, ``_``; no dots, no ``$``). Collection names are
too; ``COLLECTIONS`` lists the ones tripwire uses (others are allowed, with no extra indexes).

Sort is a list of ``(field, 1 | -1)``; the order of documents whose sort fields are equal, or of
a field holding values of different kinds, is not part of the contract. Every collection's
documents carry ``_id`` (a string; generated when absent); time-ordered collections carry ``ts``
(epoch milliseconds, int). ``upsert`` replaces the document whose ``key`` fields match, and
reports whether anything changed, so callers can store "only on change".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

Doc = dict[str, Any]
Filter = dict[str, Any]
Sort = list[tuple[str, int]]

# The collections (seed design + tripwire's own). Per-interval candles are ``candles_<iv>``.
CANDLE_INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")
COLLECTIONS = (
    *(f"candles_{iv}" for iv in CANDLE_INTERVALS),
    "orderbook_snapshots",
    "trades",
    "asset_ctx",
    "ticker",
    "funding_history",
    "open_interest",
    "liquidations",
    "tracked_traders",
    "trader_positions",
    "trader_current_state",
    "trader_orders",
    "signals",
    "leaderboard_history",
    "triggers",
    "decisions",
    "orders",
    "fills",
    "positions",
    "models",
)

# Append-only market data keyed by time: MongoDB keeps these as time-series collections when
# the server can (see tripwire/flows/store/mongo.py); the archival flow expires them by ``ts``.
MARKET_DATA_COLLECTIONS = (
    *(f"candles_{iv}" for iv in CANDLE_INTERVALS),
    "orderbook_snapshots",
    "trades",
    "asset_ctx",
    "ticker",
    "funding_history",
    "open_interest",
    "liquidations",
)

# Fields other than _id and ts that are queried often enough to deserve an index (SQLite:
# expression indexes on json_extract, each combined with ts; MongoDB: compound indexes).
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {
    **{c: ("coin",) for c in MARKET_DATA_COLLECTIONS},
    "triggers": ("rule", "coin"),
    "decisions": ("trigger_id",),
    "orders": ("trigger_id", "coin"),
    "fills": ("trigger_id", "coin"),
    "tracked_traders": ("score", "rank", "address"),
    "trader_positions": ("address", "coin"),
    "trader_current_state": ("address",),
    "trader_orders": ("address", "coin"),
    "signals": ("coin",),
}


class StoreError(Exception):
    """A store operation failed or was asked something outside the contract; says which."""


class DuplicateIdError(StoreError):
    """``insert_many`` met an ``_id`` that already exists (or twice in the batch); nothing of
    that batch was inserted. ``ids`` holds the offending ids (possibly not all of them)."""

    def __init__(self, message: str, ids: tuple[str, ...] = ()):
        super().__init__(message)
        self.ids = ids


class StoreUnavailable(StoreError):
    """A transient failure (database locked past the busy timeout, server unreachable): the
    operation did nothing and may be retried as is."""


@runtime_checkable
class Store(Protocol):
    def insert_many(self, collection: str, docs: Iterable[Doc]) -> int:
        """Insert all or none (one transaction / ordered bulk); returns how many. A repeated
        ``_id`` raises :class:`DuplicateIdError` and inserts nothing. Docs without ``_id`` get
        a generated one; the caller's dicts are not modified."""

    def upsert(self, collection: str, key: Filter, doc: Doc) -> bool:
        """Replace the one document matching ``key`` (equality only) with ``doc`` (plus the key
        fields), inserting if none; True when something was inserted or changed."""

    def find(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Doc]:
        """Matching documents; ``limit`` None: all of them, 0: none."""

    def find_one(self, collection: str, filter: Filter | None = None, *, sort: Sort | None = None) -> Doc | None: ...

    def count(self, collection: str, filter: Filter | None = None) -> int: ...

    def delete_many(self, collection: str, filter: Filter) -> int:
        """Delete what matches (an empty filter is refused: say ``{"_id": {"$ne": None}}``)."""

    def close(self) -> None: ...
