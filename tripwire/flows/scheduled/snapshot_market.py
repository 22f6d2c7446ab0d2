"""``snapshot_market`` (every minute): mark, oracle, funding and open interest per coin, plus the
settled funding history once an hour.

Two phases, so bad upstream data changes nothing: first every request (``metaAndAssetCtxs``,
then ``fundingHistory`` for the coins whose newest stored settlement is an hour old, at most
``funding_requests_per_run`` of them, paced by the weight budget), then every write. A
truncated answer, an HTTP 500 or a 429 fails the fetch task, which Prefect retries; the store
is only touched once everything was read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tripwire.flows.scheduled import market
from tripwire.flows.scheduled.budget import WeightBudget, info_weight
from tripwire.flows.scheduled.config import SnapshotMarketConfig, load_flow_config
from tripwire.flows.scheduled.retry import UPSTREAM_RETRY_DELAYS_S, upstream_may_heal
from tripwire.flows.scheduled.runtime import exchange_url, flow_context, md_table, publish_markdown, scheduled_label
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.upstream import InfoClient

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass
class MarketFetch:
    """Everything read in phase one, ready to store."""

    tickers: list[dict[str, Any]]
    open_interest: list[dict[str, Any]]
    funding: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    weight: float = 0.0


@dataclass
class SnapshotResult:
    ts: int
    coins: list[str]
    tickers: int
    open_interest: int
    funding_rows: dict[str, int]
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "coins": self.coins,
            "tickers": self.tickers,
            "open_interest": self.open_interest,
            "funding_rows": self.funding_rows,
            "weight": self.weight,
        }


def snapshot_coins(cfg: SnapshotMarketConfig, settings_coins: Sequence[str]) -> list[str] | None:
    """The coins to record: the configured list, the settings' coins, or None for all."""
    if cfg.coins == "all":
        return None
    return list(cfg.coins if cfg.coins is not None else settings_coins)


def _last_funding_ts(store: Any, coin: str) -> int | None:
    doc = store.find_one("funding_history", {"coin": coin}, sort=[("ts", -1)])
    return int(doc["ts"]) if doc else None


async def fetch_market(
    store: Any,
    info: InfoClient,
    cfg: SnapshotMarketConfig,
    coins: list[str] | None,
    now_ms: int,
    budget: WeightBudget | None = None,
) -> MarketFetch:
    """Phase one: read the exchange (and, read-only, the store's newest funding times)."""
    budget = budget or WeightBudget(cfg.weight_per_minute, cfg.burst_weight)
    w = info_weight("metaAndAssetCtxs")
    await budget.spend(w)
    ctxs = market.parse_meta_and_ctxs(await info.post({"type": "metaAndAssetCtxs"}))
    tickers, ois = market.snapshot_docs(ctxs, coins, now_ms)
    out = MarketFetch(tickers, ois, weight=w)

    every_ms = cfg.funding_every_s * 1000
    last = {t["coin"]: _last_funding_ts(store, t["coin"]) for t in tickers}
    due = [c for c, ts in last.items() if market.funding_due(ts, now_ms, every_ms)]
    due.sort(key=lambda c: last[c] or 0)  # the most behind first
    for coin in due[: cfg.funding_requests_per_run]:
        after = last[coin] if last[coin] is not None else now_ms - int(cfg.funding_backfill_days * DAY_MS)
        # Weight grows with the rows returned; reserve the base and settle the rest after.
        await budget.spend(info_weight("fundingHistory"))
        raw = await info.post({"type": "fundingHistory", "coin": coin, "startTime": after + 1})
        extra = info_weight("fundingHistory", len(raw) if isinstance(raw, list) else 0) - info_weight("fundingHistory")
        if extra:
            await budget.spend(extra)
        out.weight += info_weight("fundingHistory") + extra
        out.funding[coin] = market.funding_docs(coin, raw, after)
    return out


def store_market(store: Any, fetched: MarketFetch, now_ms: int) -> SnapshotResult:
    """Phase two: write what phase one read."""
    store.insert_many("ticker", fetched.tickers)
    store.insert_many("open_interest", fetched.open_interest)
    funding_rows = {}
    for coin, docs in fetched.funding.items():
        funding_rows[coin] = store.insert_many("funding_history", docs) if docs else 0
    return SnapshotResult(
        now_ms,
        [t["coin"] for t in fetched.tickers],
        len(fetched.tickers),
        len(fetched.open_interest),
        funding_rows,
        fetched.weight,
    )


async def run_snapshot_market(
    store: Any,
    info: InfoClient,
    cfg: SnapshotMarketConfig,
    now_ms: int,
    coins: list[str] | None,
    budget: WeightBudget | None = None,
) -> SnapshotResult:
    """The flow without Prefect: fetch everything, then store it. ``coins`` None: all."""
    fetched = await fetch_market(store, info, cfg, coins, now_ms, budget)
    return store_market(store, fetched, now_ms)


def result_markdown(fetched: MarketFetch, result: SnapshotResult) -> str:
    oi = {d["coin"]: d for d in fetched.open_interest}
    rows = [
        (
            t["coin"],
            t["mark_px"],
            t["oracle_px"],
            t["funding_rate"] * 1e4,
            oi[t["coin"]]["open_interest_usd"],
            result.funding_rows.get(t["coin"], "–"),
        )
        for t in fetched.tickers[:50]
    ]
    more = len(fetched.tickers) - len(rows)
    return (
        f"**{len(fetched.tickers)} coins** at ts {result.ts}; request weight "
        f"{result.weight:g}\n\n"
        + md_table(("coin", "mark", "oracle", "funding bps/h", "open interest $", "funding rows stored"), rows)
        + (f"\n… and {more} more coins\n" if more > 0 else "")
    )


# -- Prefect ---------------------------------------------------------------------------------


@task(
    retries=2,
    retry_delay_seconds=UPSTREAM_RETRY_DELAYS_S,
    retry_condition_fn=upstream_may_heal,
    timeout_seconds=50,
    cache_policy=NO_CACHE,
)
async def fetch_market_task(
    store: Any, info: InfoClient, cfg: SnapshotMarketConfig, coins: list[str] | None, now_ms: int
) -> MarketFetch:
    return await fetch_market(store, info, cfg, coins, now_ms)


@task(retries=2, retry_delay_seconds=2, timeout_seconds=30, cache_policy=NO_CACHE)
async def store_market_task(store: Any, fetched: MarketFetch, now_ms: int) -> SnapshotResult:
    return store_market(store, fetched, now_ms)


@flow(
    name="snapshot_market",
    flow_run_name=lambda: f"snapshot_market {scheduled_label()}",
    persist_result=False,
    log_prints=False,
    timeout_seconds=120,
)
async def snapshot_market(settings_file: str | None = None) -> dict[str, Any]:
    """Record a market snapshot (and due funding history) to the store."""
    ctx = flow_context(settings_file)
    try:
        cfg = load_flow_config(ctx.settings, "snapshot_market", source=settings_file)
        coins = snapshot_coins(cfg, ctx.settings.coins)
        now = wall_ms()
        async with InfoClient(exchange_url(ctx.settings, cfg.info_url), cfg.timeout_s) as info:
            fetched = await fetch_market_task(ctx.store, info, cfg, coins, now)
        result = await store_market_task(ctx.store, fetched, now)
    finally:
        ctx.store.close()
    await publish_markdown("snapshot-market", result_markdown(fetched, result), "latest market snapshot")
    return result.to_dict()
