"""``refresh_leaderboard`` (daily): download the leaderboard, score every trader, keep the best.

The download is streamed and parsed row by row (:mod:`.leaderboard_stream`); the whole table
is read and checked before anything is written, so a truncated body, an HTTP error or a 429
leaves ``tracked_traders`` as it was. Then the ``top_n`` are upserted into ``tracked_traders``
(traders that fell out are removed) and a ``leaderboard_history`` snapshot is appended.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tripwire.flows.scheduled.config import RefreshLeaderboardConfig, load_flow_config
from tripwire.flows.scheduled.leaderboard import LeaderboardTable, history_docs, score_table, tracked_docs
from tripwire.flows.scheduled.leaderboard_stream import RowDecoder
from tripwire.flows.scheduled.retry import UPSTREAM_RETRY_DELAYS_S, upstream_may_heal
from tripwire.flows.scheduled.runtime import flow_context, md_table, publish_markdown, scheduled_label, stats_url
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.upstream import stream_get

log = logging.getLogger(__name__)


@dataclass
class LeaderboardResult:
    rows: int
    bad_rows: int
    eligible: int
    tracked: int
    changed: int
    dropped: int
    likely_active: int
    ts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def fetch_leaderboard(cfg: RefreshLeaderboardConfig) -> LeaderboardTable:
    """Stream and parse the whole leaderboard; BadUpstreamData/UpstreamHttpError if it fails."""
    if cfg.url is None:  # the Prefect flow resolves it by mode; a direct caller must say
        raise ValueError("RefreshLeaderboardConfig.url is None: pass the URL (runtime.stats_url(settings))")
    source = f"GET {cfg.url}"
    decoder = RowDecoder(source)
    table = LeaderboardTable()
    async for chunk in stream_get(cfg.url, timeout_s=cfg.timeout_s, max_bytes=cfg.max_bytes):
        for row in decoder.feed(chunk):
            table.add(row)
    for row in decoder.finish():
        table.add(row)
    table.check(source)
    return table


def store_leaderboard(
    store: Any, table: LeaderboardTable, cfg: RefreshLeaderboardConfig, now_ms: int
) -> tuple[LeaderboardResult, list[dict[str, Any]]]:
    """Score, then replace the tracked set and append the history; (result, tracked docs)."""
    scored = score_table(table, cfg)
    docs = tracked_docs(table, scored, cfg.top_n, now_ms)
    keep = {d["address"] for d in docs}
    changed = sum(store.upsert("tracked_traders", {"address": d["address"]}, d) for d in docs)
    dropped = sorted({d["address"] for d in store.find("tracked_traders")} - keep)
    if dropped:
        store.delete_many("tracked_traders", {"address": {"$in": dropped}})
    if docs:
        store.insert_many("leaderboard_history", history_docs(docs, now_ms))
    result = LeaderboardResult(
        rows=len(table),
        bad_rows=table.bad_rows,
        eligible=scored.eligible,
        tracked=len(docs),
        changed=changed,
        dropped=len(dropped),
        likely_active=sum(d["likely_active"] for d in docs),
        ts=now_ms,
    )
    return result, docs


async def run_refresh_leaderboard(store: Any, cfg: RefreshLeaderboardConfig, now_ms: int) -> LeaderboardResult:
    """The flow without Prefect: download and parse everything, then store."""
    table = await fetch_leaderboard(cfg)
    return store_leaderboard(store, table, cfg, now_ms)[0]


def result_markdown(result: LeaderboardResult, docs: list[dict[str, Any]], top: int = 25) -> str:
    rows = [
        (
            d["rank"],
            d["address"][:10] + "…",
            d["display_name"],
            d["score"],
            d["account_value"],
            d["all_time_roi"] * 100,
            d["month_roi"] * 100,
            d["week_roi"] * 100,
            "yes" if d["likely_active"] else "",
        )
        for d in docs[:top]
    ]
    return (
        f"**{result.tracked} tracked** of {result.eligible} ranked ({result.rows} rows, "
        f"{result.bad_rows} malformed); {result.changed} changed, {result.dropped} dropped, "
        f"{result.likely_active} likely active today.\n\n"
        + md_table(
            ("rank", "address", "name", "score", "account $", "all-time ROI %", "month ROI %", "week ROI %", "active"),
            rows,
        )
    )


# -- Prefect ---------------------------------------------------------------------------------


@task(
    retries=2,
    retry_delay_seconds=UPSTREAM_RETRY_DELAYS_S,
    retry_condition_fn=upstream_may_heal,
    timeout_seconds=600,
    cache_policy=NO_CACHE,
)
async def download_leaderboard(cfg: RefreshLeaderboardConfig) -> LeaderboardTable:
    return await fetch_leaderboard(cfg)


@task(retries=1, retry_delay_seconds=5, timeout_seconds=300, cache_policy=NO_CACHE)
async def score_and_store(
    store: Any, table: LeaderboardTable, cfg: RefreshLeaderboardConfig, now_ms: int
) -> tuple[LeaderboardResult, list[dict[str, Any]]]:
    return store_leaderboard(store, table, cfg, now_ms)


@flow(
    name="refresh_leaderboard",
    flow_run_name=lambda: f"refresh_leaderboard {scheduled_label()}",
    persist_result=False,
    log_prints=False,
    timeout_seconds=1800,
)
async def refresh_leaderboard(settings_file: str | None = None) -> dict[str, Any]:
    """Score the Hyperliquid leaderboard and keep the top traders in ``tracked_traders``."""
    ctx = flow_context(settings_file)
    try:
        cfg = load_flow_config(ctx.settings, "refresh_leaderboard", source=settings_file)
        cfg = cfg.model_copy(update={"url": stats_url(ctx.settings, cfg.url)})
        table = await download_leaderboard(cfg)
        result, docs = await score_and_store(ctx.store, table, cfg, wall_ms())
    finally:
        ctx.store.close()
    await publish_markdown(
        "tracked-traders", result_markdown(result, docs), "tracked traders after the latest leaderboard refresh"
    )
    return result.to_dict()
