"""``poll_trader_positions`` (every 5 min): each tracked trader's positions, stored on change.

Polling, not WebSocket: a user channel allows only 10 distinct users per IP, and we track
hundreds. ``clearinghouseState`` weighs 2, so 500 traders cost 1,000 of the IP's 1,200 weight
per minute: requests are paced by a :class:`WeightBudget` at ``weight_per_minute`` (600 by
default: 500 traders take ~100 s, well inside the 5-minute cadence), best-ranked first.

What bad answers do:

- HTTP 429: the IP is over budget and more requests make it worse. Polling stops at once,
  nothing is stored, and the task is retried after a delay.
- One trader's HTTP 500 or unreadable answer: that trader is skipped (its stored state stays
  as it was) and listed in the run's report; the others are stored.
- Every trader failing: the run fails with the first error, nothing stored.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tripwire.flows.scheduled.budget import WeightBudget, info_weight
from tripwire.flows.scheduled.config import PollTraderPositionsConfig, load_flow_config
from tripwire.flows.scheduled.positions import TraderState, parse_clearinghouse_state, position_changes, state_doc
from tripwire.flows.scheduled.retry import UPSTREAM_RETRY_DELAYS_S, upstream_may_heal
from tripwire.flows.scheduled.runtime import exchange_url, flow_context, md_table, publish_markdown, scheduled_label
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.upstream import InfoClient, RateLimited, UpstreamError

log = logging.getLogger(__name__)

WEIGHT = info_weight("clearinghouseState")


@dataclass
class PollFetch:
    asked: list[str]
    states: dict[str, TraderState] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    weight: float = 0.0


@dataclass
class PollResult:
    ts: int
    asked: int
    stored: int
    changed_traders: int
    changes: list[dict[str, Any]]
    failed: dict[str, str]
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "asked": self.asked,
            "stored": self.stored,
            "changed_traders": self.changed_traders,
            "changes": len(self.changes),
            "failed": self.failed,
            "weight": self.weight,
        }


def traders_to_poll(store: Any, max_traders: int) -> list[str]:
    """Tracked traders' addresses, best rank first."""
    docs = store.find("tracked_traders", sort=[("rank", 1)], limit=max_traders)
    return [d["address"] for d in docs]


async def fetch_states(
    info: InfoClient, addresses: list[str], cfg: PollTraderPositionsConfig, budget: WeightBudget | None = None
) -> PollFetch:
    """Ask for every address's state within the budget (see the module doc for failures)."""
    budget = budget or WeightBudget(cfg.weight_per_minute, cfg.burst_weight)
    out = PollFetch(asked=list(addresses))
    sem = asyncio.Semaphore(cfg.concurrency)

    async def one(address: str) -> None:
        async with sem:
            await budget.spend(WEIGHT)
            out.weight += WEIGHT
            try:
                raw = await info.post({"type": "clearinghouseState", "user": address})
                out.states[address] = parse_clearinghouse_state(raw, address)
            except RateLimited:
                raise
            except UpstreamError as e:
                out.failed[address] = str(e)

    tasks = [asyncio.create_task(one(a)) for a in addresses]
    try:
        for done in asyncio.as_completed(tasks):
            await done
    except RateLimited as e:
        raise RateLimited(
            f"{e} — after {len(out.states)} of {len(addresses)} traders answered; polling stopped, nothing stored",
            e.retry_after_s,
        ) from None
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if addresses and not out.states:
        first = next(iter(out.failed.values()), "no answer")
        raise UpstreamError(f"all {len(addresses)} clearinghouseState requests failed; nothing stored. First: {first}")
    return out


def store_states(store: Any, fetched: PollFetch, now_ms: int) -> PollResult:
    """Append a ``trader_positions`` row per change, then upsert each ``trader_current_state``."""
    addresses = sorted(fetched.states)
    previous = (
        {d["address"]: d for d in store.find("trader_current_state", {"address": {"$in": addresses}})}
        if addresses
        else {}
    )
    changes: list[dict[str, Any]] = []
    docs = []
    changed_traders = 0
    for address in addresses:
        prev = previous.get(address)
        rows = position_changes(address, prev, fetched.states[address], now_ms)
        changes += rows
        changed_traders += bool(rows)
        changed_ts = now_ms if rows or prev is None else prev.get("changed_ts")
        docs.append(state_doc(address, fetched.states[address], now_ms, changed_ts))
    if changes:
        store.insert_many("trader_positions", changes)
    for d in docs:
        store.upsert("trader_current_state", {"address": d["address"]}, d)
    return PollResult(
        ts=now_ms,
        asked=len(fetched.asked),
        stored=len(docs),
        changed_traders=changed_traders,
        changes=changes,
        failed=fetched.failed,
        weight=fetched.weight,
    )


async def run_poll_trader_positions(
    store: Any, info: InfoClient, cfg: PollTraderPositionsConfig, now_ms: int, budget: WeightBudget | None = None
) -> PollResult:
    """The flow without Prefect: poll the tracked traders, then store what changed."""
    addresses = traders_to_poll(store, cfg.max_traders)
    fetched = await fetch_states(info, addresses, cfg, budget)
    return store_states(store, fetched, now_ms)


def result_markdown(r: PollResult, top: int = 50) -> str:
    head = (
        f"**{r.stored} of {r.asked} traders** stored, {r.changed_traders} with changes "
        f"({len(r.changes)} position changes); request weight {r.weight:g}.\n\n"
    )
    if r.failed:
        head += (
            f"**{len(r.failed)} failed** (their stored state is unchanged):\n\n"
            + "".join(f"- `{a}`: {why}\n" for a, why in list(r.failed.items())[:20])
            + "\n"
        )
    rows = [
        (c["address"][:10] + "…", c["coin"], c["kind"], c["prev_szi"], c["szi"], c["entry_px"], c["position_value"])
        for c in r.changes[:top]
    ]
    return head + (
        md_table(("trader", "coin", "change", "size before", "size now", "entry", "value $"), rows)
        if rows
        else "No position changed.\n"
    )


# -- Prefect ---------------------------------------------------------------------------------


@task(
    retries=1,
    retry_delay_seconds=UPSTREAM_RETRY_DELAYS_S[-1:],
    retry_condition_fn=upstream_may_heal,
    timeout_seconds=240,
    cache_policy=NO_CACHE,
)
async def poll_states(info: InfoClient, addresses: list[str], cfg: PollTraderPositionsConfig) -> PollFetch:
    return await fetch_states(info, addresses, cfg)


@task(retries=2, retry_delay_seconds=2, timeout_seconds=60, cache_policy=NO_CACHE)
async def store_changes(store: Any, fetched: PollFetch, now_ms: int) -> PollResult:
    return store_states(store, fetched, now_ms)


@flow(
    name="poll_trader_positions",
    flow_run_name=lambda: f"poll_trader_positions {scheduled_label()}",
    persist_result=False,
    log_prints=False,
    timeout_seconds=290,
)
async def poll_trader_positions(settings_file: str | None = None) -> dict[str, Any]:
    """Poll tracked traders' positions and store the changes."""
    ctx = flow_context(settings_file)
    try:
        cfg = load_flow_config(ctx.settings, "poll_trader_positions", source=settings_file)
        addresses = traders_to_poll(ctx.store, cfg.max_traders)
        async with InfoClient(exchange_url(ctx.settings, cfg.info_url), cfg.timeout_s) as info:
            fetched = await poll_states(info, addresses, cfg)
        result = await store_changes(ctx.store, fetched, wall_ms())
    finally:
        ctx.store.close()
    if result.failed:
        log.warning(
            "%d of %d traders not polled: %s", len(result.failed), result.asked, next(iter(result.failed.values()))
        )
    await publish_markdown("trader-positions", result_markdown(result), "latest poll of tracked traders' positions")
    return result.to_dict()
