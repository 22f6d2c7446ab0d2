"""The order layer the hot path drives: every order path of a running hot path goes through here.

:class:`OrderLayer` implements :class:`tripwire.hotpath.service.Execution`:

* ``on_trigger``: the trigger's order actions (``place_bracket``, ``place_limit``, ``hedge``) as
  a task on the loop, through :class:`~tripwire.hotpath.execution.protector.Protector` (risk check,
  then the gateway). Tick-to-order latency feeds the latency breaker.
* ``on_user_record``: orderUpdates and fills from the user channels (routed here by the hot path,
  past the market pipeline) → leg states, the account's positions, ``order.*``, ``fill.*`` and
  ``position.*`` events (through :class:`~tripwire.hotpath.events.HotPathEvents`).
* ``apply_decision``: keep / cancel / adjust one trigger's orders.
* ``cancel_all`` / ``flatten``: everything open (ours or not) on the account, then
  reduce-only IOCs against each position; both are what breakers call too, as a task on the
  loop (``start_cancel_all`` / ``start_flatten``) so the caller does not wait.
* ``housekeeping``: on a timer: the dead man's switch, the account refresh, the drawdown and
  daily-loss breakers.

Breakers cannot be bypassed: decisions and commands only ever *remove* risk when the state is
not ACTIVE, because every opening order passes :meth:`RiskManager.check`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterable

from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.events import HotPathEvents
from tripwire.hotpath.execution.account import Account
from tripwire.hotpath.execution.brackets import BracketConfig, Plan, build_close_position
from tripwire.hotpath.execution.deadman import DeadMansSwitch
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for
from tripwire.hotpath.execution.protector import Protector
from tripwire.hotpath.execution.wire import order_action
from tripwire.hotpath.feed.records import OrderUpdates, Record, UserEvent, UserFills
from tripwire.hotpath.metrics import Histogram
from tripwire.hotpath.risk.manager import CANCEL_ALL, FLATTEN, OrderIntent, RiskManager, Trip

log = logging.getLogger("tripwire.orders")

ORDER_ACTIONS = ("place_bracket", "place_limit", "hedge")
ORPHAN_S = 5.0


class OrderLayer:
    def __init__(self, gateway: Any, risk: RiskManager, markets: dict[str, Market], *,
                 mids: Callable[[], dict[str, float]], active_triggers: Callable[[], int],
                 events: HotPathEvents | None = None,
                 on_trips: Callable[[list[Trip]], None] | None = None,
                 deadman: DeadMansSwitch | None = None, cfg: BracketConfig = BracketConfig(),
                 exch_ms: Callable[[], int] | None = None,
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.gateway = gateway
        self.risk = risk
        self.markets = markets
        self.protector = Protector(gateway, risk, markets, cfg=cfg)
        self.tracker = self.protector.tracker
        self.account = Account()
        self.deadman = deadman
        self.cfg = cfg
        self._mids = mids
        self._active_triggers = active_triggers
        self.events = events or HotPathEvents(None)
        self._on_trips = on_trips
        self._exch_ms = exch_ms or (lambda: time.time_ns() // 1_000_000)
        self._clock_ns = clock_ns
        self.tasks: set[asyncio.Task] = set()
        self.plans: dict[str, list[dict[str, Any]]] = {}   # trigger id → plan summaries
        # Fills whose order id is not known yet (the fill outran the order's answer), by oid,
        # with when they came: adopted once the answer names the oid, published bare after
        # ORPHAN_S (an order placed by hand on the account, not by us).
        self._orphans: dict[int, tuple[float, list[Any]]] = {}
        self._published: dict[str, tuple[str, float]] = {}  # cloid → (state, filled) last sent
        self.tick_to_order = Histogram()
        self.tick_to_decision = Histogram()
        self.errors: dict[str, int] = {}
        self._flattens = 0

    # -- helpers -------------------------------------------------------------------------------

    def exposure(self) -> Any:
        return self.account.exposure(self._mids(), self._active_triggers())

    def start_cancel_all(self, why: str) -> asyncio.Task:
        """Cancel every open order of the account as a task on the loop; ``why`` names it in
        the log and in ``task_errors`` if it fails."""
        return self._spawn(self.cancel_all(None), why)

    def start_flatten(self, why: str) -> asyncio.Task:
        """:meth:`flatten` every position as a task on the loop (see :meth:`start_cancel_all`)."""
        return self._spawn(self.flatten(None), why)

    def _spawn(self, coro: Any, what: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.errors[what] = self.errors.get(what, 0) + 1
                log.error("%s failed: %r", what, t.exception())
        task.add_done_callback(done)
        return task

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for order tasks in flight (shutdown, tests)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout_s)

    def _trips(self, trips: list[Trip]) -> None:
        if not trips:
            return
        if self._on_trips is not None:
            self._on_trips(trips)
        for t in trips:
            if t.action == CANCEL_ALL:
                self.start_cancel_all("breaker cancel_all")
            elif t.action == FLATTEN:
                self.start_flatten("breaker flatten")

    def _publish_legs(self, legs: Iterable[Leg]) -> None:
        for leg in legs:
            key = (leg.state, leg.filled_sz)
            if self._published.get(leg.cloid) == key:
                continue
            self._published[leg.cloid] = key
            self.events.order(leg)

    def _summarise(self, plan: Plan) -> dict[str, Any]:
        summary = {"kind": plan.kind, "ok": plan.ok, "refused": plan.refused,
                   "existing": plan.existing,
                   "errors": [r.error for r in plan.results if not r.ok],
                   "legs": {n: leg.state for n, leg in plan.orders.legs.items()}
                   if plan.orders is not None else {}}
        self.plans.setdefault(plan.trigger_id, []).append(summary)
        return summary

    # -- triggers ------------------------------------------------------------------------------

    def on_trigger(self, ev: TriggerFired) -> None:
        if any(name in ORDER_ACTIONS for name, _ in ev.actions):
            self._spawn(self._protect(ev), f"orders for {ev.trigger_id}")

    async def _protect(self, ev: TriggerFired) -> None:
        for name, params in ev.actions:
            if name not in ORDER_ACTIONS:
                continue  # start_workflow and friends belong to the flows side
            mid = self._mids().get(ev.coin)
            if mid is None:
                plan = Plan(ev.trigger_id, name, refused=f"no mid for {ev.coin}")
            else:
                plan = await getattr(self.protector, name)(ev, params, mid, self.exposure())
            self._after(plan, ev)

    def _after(self, plan: Plan, ev: TriggerFired) -> None:
        self._summarise(plan)
        if plan.refused is not None:
            log.info("%s %s refused: %s", ev.trigger_id, plan.kind, plan.refused)
            self.events.order_refused(ev.trigger_id, ev.coin, plan.kind, plan.refused)
        if plan.orders is not None:
            self._publish_legs(plan.orders.legs.values())
            self._adopt_orphans()
        written = next((r.written_ns for r in plan.results if r.written_ns is not None), None)
        if written is not None and not plan.existing:
            latency_s = (written - ev.recv_ts_ns) / 1e9
            self.tick_to_order.observe(latency_s)
            self._trips(self.risk.on_tick_to_trade(latency_s * 1000))

    # -- user channels ------------------------------------------------------------------------

    def on_user_record(self, rec: Record) -> None:
        if type(rec) is OrderUpdates:
            self._publish_legs(self.tracker.on_order_updates(rec.updates))  # type: ignore[attr-defined]
            self._adopt_orphans()
        elif type(rec) is UserFills:
            if rec.is_snapshot:  # type: ignore[attr-defined]
                # History from before this connection: the reconcile set positions already.
                for f in rec.fills:  # type: ignore[attr-defined]
                    self.account.mark_seen(f.tid)
                self.tracker.on_fills(rec.fills)  # type: ignore[attr-defined]
                return
            self.on_fills(rec.fills)  # type: ignore[attr-defined]
        elif type(rec) is UserEvent and rec.fills:  # type: ignore[attr-defined]
            self.on_fills(rec.fills)  # type: ignore[attr-defined]

    def on_fills(self, fills: Iterable[Any]) -> None:
        """Our fills: the account moves at once; the fill event waits for its leg if needed."""
        fills = list(fills)
        self._publish_legs(self.tracker.on_fills(fills))
        mids = self._mids()
        now = time.monotonic()
        for f in fills:
            if not self.account.on_fill(f.coin, f.is_buy, f.px, f.sz, f.tid, f.fee, f.closed_pnl):
                continue
            leg = self.tracker.leg_by_oid(f.oid)
            if leg is None:
                self._orphans.setdefault(f.oid, (now, []))[1].append(f)
            else:
                self.events.fill(f, leg)
            pos = self.account.positions.get(f.coin)
            self.events.position(f.coin, pos.szi if pos else 0.0, pos.entry_px if pos else 0.0,
                                 mids.get(f.coin, f.px))

    def _adopt_orphans(self, max_age_s: float | None = None) -> None:
        """Fills waiting for their order id: publish those whose leg is now known (and, with
        ``max_age_s``, those older than that without one)."""
        if not self._orphans:
            return
        now = time.monotonic()
        for oid, (since, fills) in list(self._orphans.items()):
            leg = self.tracker.leg_by_oid(oid)
            if leg is not None:
                self._publish_legs(self.tracker.on_fills(fills))
            elif max_age_s is None or now - since < max_age_s:
                continue
            del self._orphans[oid]
            for f in fills:
                self.events.fill(f, leg)

    # -- decisions ------------------------------------------------------------------------------

    def apply_decision(self, ev: TriggerFired, d: Decision) -> Any:
        return self._decide(ev, d)

    async def _decide(self, ev: TriggerFired, d: Decision) -> dict[str, Any]:
        self.tick_to_decision.observe((self._clock_ns() - ev.recv_ts_ns) / 1e9)
        orders = self.tracker.get(ev.trigger_id)
        if orders is None:
            return {"orders": "none placed for this trigger"}
        if d.kind == "keep":
            return {"orders": "kept as placed"}
        mid = self._mids().get(orders.coin)
        if d.kind == "cancel":
            plan = await self.protector.cancel(ev.trigger_id, self.exposure(), mid)
        else:
            if mid is None:
                return {"orders": "unchanged", "refused": f"no mid for {orders.coin}"}
            plan = await self.protector.adjust(d, mid, self.exposure())
        self._publish_legs(orders.legs.values())
        return self._summarise(plan)

    # -- cancel all / flatten -----------------------------------------------------------------

    async def cancel_all(self, coin: str | None) -> dict[str, Any]:
        """Cancel every open order of the account (ours or not), one coin or all."""
        open_orders = await self.gateway.info({"type": "openOrders", "user": self.gateway.user})
        if not isinstance(open_orders, list):
            return {"cancelled": 0, "error": f"openOrders answer not a list: {open_orders!r:.200}"}
        targets = [(self.markets[o["coin"]].asset, int(o["oid"])) for o in open_orders
                   if isinstance(o, dict) and o.get("coin") in self.markets
                   and (coin is None or o["coin"] == coin)]
        if not targets:
            return {"cancelled": 0}
        result = await self.gateway.cancel(targets)
        cancelled = 0
        for (_, oid), st in zip(targets, result.statuses or ()):
            if st.kind == "success":
                cancelled += 1
                leg = self.tracker.leg_by_oid(oid)
                if leg is not None:
                    leg.state = "canceled"
                    self._publish_legs([leg])
        return {"cancelled": cancelled, "asked": len(targets),
                "error": None if result.ok else result.error}

    async def flatten(self, coin: str | None) -> dict[str, Any]:
        """Cancel everything, then close each position with a reduce-only IOC."""
        cancelled = await self.cancel_all(coin)
        mids = self._mids()
        exposure = self.exposure()
        closed, errors = [], []
        for c, pos in list(self.account.positions.items()):
            if (coin is not None and c != coin) or pos.szi == 0.0 or c not in self.markets:
                continue
            market, mid = self.markets[c], mids.get(c)
            if mid is None:
                errors.append(f"{c}: no mid to price the close")
                continue
            self._flattens += 1
            built = build_close_position(  # a flatten must fill: 5× the hedge's slippage
                c, pos.szi, mid, market, self.cfg.hedge_slippage_bps * 5,
                cloid_for(f"flatten.{c}.{self._flattens}.{time.time_ns()}", "close"))
            if built is None:
                continue
            leg, wire = built
            verdict = self.risk.check(OrderIntent(c, leg.is_buy, leg.sz, leg.px, True), exposure)
            if not verdict.ok:
                errors.append(f"{c}: {verdict.reason}")
                continue
            result = await self.gateway.send_action(order_action([wire]))
            st = result.statuses[0] if result.statuses else None
            if result.ok and st is not None and st.kind == "filled":
                closed.append({"coin": c, "sz": st.total_sz, "avg_px": st.avg_px})
            else:
                errors.append(f"{c}: {result.error or (st.error if st else 'no status')}")
        return {"cancelled": cancelled.get("cancelled", 0), "closed": closed, "errors": errors}

    # -- timers -----------------------------------------------------------------------------

    async def refresh_account(self, positions: bool = False) -> None:
        """Equity (and optionally positions) from ``clearinghouseState``; feeds the breakers."""
        state = await self.gateway.info({"type": "clearinghouseState", "user": self.gateway.user})
        if not isinstance(state, dict) or "marginSummary" not in state:
            raise ValueError(f"clearinghouseState answer malformed: {state!r:.200}")
        from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state
        pos, margin, _t = parse_clearinghouse_state(state)
        if positions:
            self.account.set_positions(pos)
        now_ms = self._exch_ms()
        mids = self._mids()
        self.account.set_equity(margin.account_value, mids, now_ms)
        trips = self.risk.on_equity(self.account.equity(mids), now_ms)
        trips += self.risk.on_day_pnl(self.account.day_pnl(mids))
        self._trips(trips)

    async def tick(self) -> None:
        """Housekeeping: stale orphan fills out, then the dead man's switch."""
        self._adopt_orphans(ORPHAN_S)
        if self.deadman is not None:
            result = await self.deadman.tick(self.gateway, self.tracker.open_count(),
                                             self._exch_ms())
            if result is not None and not result.ok:
                log.warning("dead man's switch: %s", result.error)

    async def on_reconcile(self, snapshot: Any) -> None:
        """After a reconnect: positions from the exchange, missed fills applied once, and legs
        the exchange no longer lists looked up by cloid."""
        self.account.set_positions(snapshot.positions)
        for f in snapshot.fills:
            self.account.mark_seen(f.tid)
        self._publish_legs(self.tracker.on_fills(snapshot.fills))
        listed = set()
        for o in snapshot.open_orders:
            listed.add(o.oid)
            for child in o.children:
                listed.add(child.oid)
        for orders in list(self.tracker.triggers.values()):
            for leg in orders.open_legs():
                if leg.oid is not None and leg.oid in listed:
                    continue
                st = await self.gateway.order_status(leg.cloid)
                if st is None:
                    continue
                closed = "canceled" if st.kind.endswith(("canceled", "Canceled")) else \
                    "rejected" if st.kind.endswith(("rejected", "Rejected")) else \
                    "filled" if st.kind == "filled" else None
                if closed is not None:
                    leg.state = closed
                    self._publish_legs([leg])

    async def shutdown(self) -> dict[str, Any]:
        """At exit: wait for orders in flight; if the exchange-side switch cannot be relied on,
        cancel everything ourselves."""
        await self.drain()
        if self.deadman is not None and self.deadman.cancel_all_on_exit and self.tracker.open_count():
            return await self.cancel_all(None)
        return {}

    def status(self) -> dict[str, Any]:
        mids = self._mids()
        open_legs = [{"trigger_id": leg.trigger_id, "leg": leg.name,
                      "coin": leg.coin, "side": "B" if leg.is_buy else "A", "px": leg.px,
                      "sz": leg.sz, "trigger_px": leg.trigger_px, "state": leg.state}
                     for orders in self.tracker.triggers.values() for leg in orders.open_legs()]
        dm = self.deadman
        return {
            "account": self.account.snapshot(mids),
            "open_orders": open_legs,
            "orders_in_flight": len(self.tasks),
            "gateway_errors": self.gateway.error_count,
            "tick_to_order_p50_s": self.tick_to_order.quantile(0.5),
            "tick_to_order_p99_s": self.tick_to_order.quantile(0.99),
            "deadman": None if dm is None else {"armed_until_ms": dm.armed_until_ms,
                                                "triggers_today": dm.triggers_today},
            "task_errors": dict(self.errors),
        }
