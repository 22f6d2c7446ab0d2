"""``poll_trader_positions`` (every 5 min): each tracked trader's positions and open orders,
stored on change.

Polling, not WebSocket: a user channel allows only 10 distinct users per IP, and we track
hundreds. ``clearinghouseState`` weighs 2, so 500 traders cost 1,000 of the IP's 1,200 weight
per minute: requests are paced by a :class:`WeightBudget` at ``weight_per_minute`` (600 by
default: 500 traders take ~100 s, well inside the 5-minute cadence).

Who is polled first (:func:`plan_poll`): the traders the leaderboard marked *likely active*
(day ROI > 0.01 %, day PnL > 0.1 % of the account, day volume > $100k: the ones with positions
open today), then the others, each group by rank. A run spends at most ``run_weight``: every
planned trader's state first (weight 2), then open orders (``frontendOpenOrders``, weight 20)
for the first ``orders_max_traders`` in the same order while weight is left. Traders that do
not fit are *deferred* (named in the result) and keep their stored state.

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
from tripwire.flows.scheduled.positions import (
    TraderOrder,
    TraderState,
    order_changes,
    parse_clearinghouse_state,
    parse_open_orders,
    position_changes,
    state_doc,
)
from tripwire.flows.scheduled.retry import UPSTREAM_RETRY_DELAYS_S, upstream_may_heal
from tripwire.flows.scheduled.runtime import exchange_url, flow_context, md_table, publish_markdown, scheduled_label
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.upstream import InfoClient, RateLimited, UpstreamError

log = logging.getLogger(__name__)

WEIGHT = info_weight("clearinghouseState")
ORDERS_WEIGHT = info_weight("frontendOpenOrders")


@dataclass(frozen=True)
class PollTarget:
    address: str
    orders: bool  # also poll its open orders
    likely_active: bool = False


@dataclass
class PollPlan:
    targets: list[PollTarget]
    deferred: list[str]  # tracked, within max_traders, but over the run's weight
    weight: float  # what the targets cost


def plan_poll(tracked: list[dict[str, Any]], cfg: PollTraderPositionsConfig) -> PollPlan:
    """Which traders to poll this run, in order, within ``cfg.run_weight`` (module doc).
    ``tracked``: ``tracked_traders`` documents (``address``, ``rank``, ``likely_active``)."""
    ranked = sorted(tracked, key=lambda d: (not d.get("likely_active"), d.get("rank", 1 << 30), d["address"]))
    chosen = ranked[: cfg.max_traders]
    cap = cfg.run_weight
    n_states = min(len(chosen), int(cap // WEIGHT))
    weight = n_states * WEIGHT
    n_orders = min(cfg.orders_max_traders, n_states, int((cap - weight) // ORDERS_WEIGHT))
    weight += n_orders * ORDERS_WEIGHT
    targets = [
        PollTarget(d["address"], i < n_orders, bool(d.get("likely_active"))) for i, d in enumerate(chosen[:n_states])
    ]
    return PollPlan(targets, [d["address"] for d in chosen[n_states:]], weight)


@dataclass
class PollFetch:
    asked: list[str]
    states: dict[str, TraderState] = field(default_factory=dict)
    orders: dict[str, tuple[TraderOrder, ...]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    orders_failed: dict[str, str] = field(default_factory=dict)
    weight: float = 0.0
    deferred: list[str] = field(default_factory=list)


@dataclass
class PollResult:
    ts: int
    asked: int
    stored: int
    changed_traders: int
    changes: list[dict[str, Any]]
    failed: dict[str, str]
    weight: float
    orders_polled: int = 0
    order_changes: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    orders_failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "asked": self.asked,
            "stored": self.stored,
            "changed_traders": self.changed_traders,
            "changes": len(self.changes),
            "failed": self.failed,
            "weight": self.weight,
            "orders_polled": self.orders_polled,
            "order_changes": len(self.order_changes),
            "deferred": len(self.deferred),
            "orders_failed": self.orders_failed,
        }


def traders_to_poll(store: Any, cfg: PollTraderPositionsConfig) -> PollPlan:
    """This run's plan over the stored ``tracked_traders`` (:func:`plan_poll`)."""
    return plan_poll(store.find("tracked_traders"), cfg)


async def fetch_states(
    info: InfoClient, plan: PollPlan, cfg: PollTraderPositionsConfig, budget: WeightBudget | None = None
) -> PollFetch:
    """Ask for every target's state (and orders, where planned) within the budget (see the
    module doc for failures)."""
    budget = budget or WeightBudget(cfg.weight_per_minute, cfg.burst_weight)
    addresses = [t.address for t in plan.targets]
    out = PollFetch(asked=addresses, deferred=list(plan.deferred))
    sem = asyncio.Semaphore(cfg.concurrency)

    async def one(target: PollTarget) -> None:
        address = target.address
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
                return
            if not target.orders:
                return
            await budget.spend(ORDERS_WEIGHT)
            out.weight += ORDERS_WEIGHT
            try:  # a failed orders request keeps the trader's state and its stored orders
                raw = await info.post({"type": "frontendOpenOrders", "user": address})
                out.orders[address] = parse_open_orders(raw, address)
            except RateLimited:
                raise
            except UpstreamError as e:
                out.orders_failed[address] = str(e)

    tasks = [asyncio.create_task(one(t)) for t in plan.targets]
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
    """Append a ``trader_positions`` row per position change and a ``trader_orders`` row per
    order change, then upsert each ``trader_current_state``."""
    addresses = sorted(fetched.states)
    previous = (
        {d["address"]: d for d in store.find("trader_current_state", {"address": {"$in": addresses}})}
        if addresses
        else {}
    )
    changes: list[dict[str, Any]] = []
    orders_changed: list[dict[str, Any]] = []
    docs = []
    changed_traders = 0
    for address in addresses:
        prev = previous.get(address)
        rows = position_changes(address, prev, fetched.states[address], now_ms)
        orders = fetched.orders.get(address)
        if orders is not None:
            orders_changed += order_changes(address, prev, orders, now_ms)
        changes += rows
        changed_traders += bool(rows)
        changed_ts = now_ms if rows or prev is None else prev.get("changed_ts")
        docs.append(state_doc(address, fetched.states[address], now_ms, changed_ts, orders, prev))
    if changes:
        store.insert_many("trader_positions", changes)
    if orders_changed:
        store.insert_many("trader_orders", orders_changed)
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
        orders_polled=len(fetched.orders),
        order_changes=orders_changed,
        deferred=fetched.deferred,
        orders_failed=fetched.orders_failed,
    )


async def run_poll_trader_positions(
    store: Any, info: InfoClient, cfg: PollTraderPositionsConfig, now_ms: int, budget: WeightBudget | None = None
) -> PollResult:
    """The flow without Prefect: poll the tracked traders, then store what changed."""
    fetched = await fetch_states(info, traders_to_poll(store, cfg), cfg, budget)
    return store_states(store, fetched, now_ms)


def result_markdown(r: PollResult, top: int = 50) -> str:
    head = (
        f"**{r.stored} of {r.asked} traders** stored, {r.changed_traders} with changes "
        f"({len(r.changes)} position changes); open orders of {r.orders_polled} "
        f"({len(r.order_changes)} order changes); request weight {r.weight:g}"
        + (f"; {len(r.deferred)} deferred (over the run's weight)" if r.deferred else "")
        + (f"; orders of {len(r.orders_failed)} failed (stored orders kept)" if r.orders_failed else "")
        + ".\n\n"
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
async def poll_states(info: InfoClient, plan: PollPlan, cfg: PollTraderPositionsConfig) -> PollFetch:
    return await fetch_states(info, plan, cfg)


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
        plan = traders_to_poll(ctx.store, cfg)
        async with InfoClient(exchange_url(ctx.settings, cfg.info_url), cfg.timeout_s) as info:
            fetched = await poll_states(info, plan, cfg)
        result = await store_changes(ctx.store, fetched, wall_ms())
    finally:
        ctx.store.close()
    if result.failed:
        log.warning(
            "%d of %d traders not polled: %s", len(result.failed), result.asked, next(iter(result.failed.values()))
        )
    await publish_markdown("trader-positions", result_markdown(result), "latest poll of tracked traders' positions")
    return result.to_dict()
