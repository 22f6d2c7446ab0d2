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
  loop (``start_cancel_all`` / ``start_flatten``) so the caller does not wait. A position left
  open by a cancel-all gets its stop and take-profit back at once: while the hot path runs, no
  position is left without protection (flatten closes it instead).
* ``on_reconcile``: at start and after every reconnect, the exchange's account is taken over:
  positions and missed fills, every open order adopted (:mod:`.adoption`: ours back under
  their triggers by cloid, others as external), phantoms (orders the exchange no longer knows)
  removed and published, every position protected (:mod:`.keeper`) or, if so configured,
  flattened, and the dead man's switch re-armed.
* ``housekeeping``: on a timer: the dead man's switch, the account refresh (which also checks
  every coin's protection against the exchange's positions), the drawdown and daily-loss
  breakers.

One-way netting (:mod:`.netting`, :mod:`.protection`): one position per coin, one stop and one
take-profit per position, sized to it; per-trigger PnL is attributed by :mod:`.attribution`.

Breakers cannot be bypassed: decisions and commands only ever *remove* risk when the state is
not ACTIVE, because every opening order passes :meth:`RiskManager.check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.events import HotPathEvents
from tripwire.hotpath.execution.account import Account
from tripwire.hotpath.execution.adoption import plan_adoption
from tripwire.hotpath.execution.attribution import Attribution
from tripwire.hotpath.execution.brackets import BracketConfig, Plan, build_close_position, sz_down
from tripwire.hotpath.execution.deadman import DeadMansSwitch
from tripwire.hotpath.execution.keeper import ProtectionKeeper
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for
from tripwire.hotpath.execution.protection import check_invariant, is_protective
from tripwire.hotpath.execution.protector import Protector
from tripwire.hotpath.execution.wire import order_action
from tripwire.hotpath.feed.records import OrderUpdates, Record, UserEvent, UserFills
from tripwire.hotpath.metrics import Histogram
from tripwire.hotpath.risk.manager import CANCEL_ALL, FLATTEN, OrderIntent, RiskManager, Trip

log = logging.getLogger("tripwire.orders")

# A breaker's flatten must end flat. A close can miss: its price comes from the mid the hot path
# has seen, and a market that gapped past it (the same move that tripped the breaker) leaves the
# IOC unmatched. Each miss is logged and tried again at the then-current mid.
FLATTEN_ATTEMPTS, FLATTEN_RETRY_S = 10, 1.0

ORDER_ACTIONS = ("place_bracket", "place_limit", "hedge")
ORPHAN_S = 5.0
DECISION_WAIT_S = 2.0  # a decision waits this long at most for its trigger's orders to settle
PROTECT, FLATTEN_UNPROTECTED = "protect", "flatten"  # what a reconcile does with a naked position
# A trigger's own orders: their fills are its own (attribution); a stop, a take-profit, a
# flatten or a hand-made order is shared by every trigger holding the coin.
# bid/ask: quotes; perp_sell/perp_buy: the funding carry's perp legs (tripwire.hotpath.carry)
_OWN_LEGS = frozenset({"entry", "limit", "hedge", "close", "bid", "ask", "perp_sell", "perp_buy"})


class OrderLayer:
    def __init__(
        self,
        gateway: Any,
        risk: RiskManager,
        markets: dict[str, Market],
        *,
        mids: Callable[[], dict[str, float]],
        active_triggers: Callable[[], int],
        events: HotPathEvents | None = None,
        on_trips: Callable[[list[Trip]], None] | None = None,
        deadman: DeadMansSwitch | None = None,
        cfg: BracketConfig = BracketConfig(),
        exch_ms: Callable[[], int] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        rules: Callable[[], Iterable[Any]] = lambda: (),
        atr: Callable[[str], float | None] = lambda coin: None,
        bbo: Callable[[str], tuple[float, float] | None] = lambda coin: None,
        unprotected: str = PROTECT,
    ) -> None:
        if unprotected not in (PROTECT, FLATTEN_UNPROTECTED):
            raise ValueError(f"unprotected must be {PROTECT!r} or {FLATTEN_UNPROTECTED!r}, got {unprotected!r}")
        self.gateway = gateway
        self.risk = risk
        self.markets = markets
        self._rules = rules
        self.unprotected = unprotected
        self._exch_ms = exch_ms or (lambda: time.time_ns() // 1_000_000)
        self.protector = Protector(gateway, risk, markets, cfg=cfg)
        self.tracker = self.protector.tracker
        self.keeper = self.protector.keeper = ProtectionKeeper(
            gateway,
            risk,
            markets,
            self.tracker,
            cfg,
            on_legs=self._publish_legs,
            atr=atr,
            bbo=bbo,
            rule_params=self._rule_params,
            now_ms=self._exch_ms,
        )
        self.account = Account()
        self.attribution: Attribution = Attribution()
        self._placing: dict[str, asyncio.Task] = {}  # trigger id → its order task in flight
        self.phantoms = 0  # orders removed because the exchange did not know them
        self.last_reconcile: dict[str, Any] | None = None
        self.deadman = deadman
        self.cfg = cfg
        self._mids = mids
        self._active_triggers = active_triggers
        self.events = events or HotPathEvents(None)
        self._on_trips = on_trips
        self._clock_ns = clock_ns
        self.tasks: set[asyncio.Task] = set()
        self.plans: dict[str, list[dict[str, Any]]] = {}  # trigger id → plan summaries
        # Fills whose order id is not known yet (the fill outran the order's answer), by oid,
        # with when they came: adopted once the answer names the oid, published bare after
        # ORPHAN_S (an order placed by hand on the account, not by us).
        self._orphans: dict[int, tuple[float, list[Any]]] = {}
        self._published: dict[str, tuple[str, float]] = {}  # cloid → (state, filled) last sent
        self.tick_to_order = Histogram()
        self.tick_to_decision = Histogram()
        self.errors: dict[str, int] = {}
        self._flattens = 0
        self.quoter: Any = None  # tripwire.hotpath.quoting.quoter.Quoter, when quoting is on
        self.protector.quoting_lot = self._quoting_lot
        self.carry: Any = None  # tripwire.hotpath.carry.live.LiveCarry, when the carry is on
        self._spot_coins: frozenset[str] = frozenset()

    def attach_carry(self, carry: Any) -> None:
        """The funding carry runs beside the triggers: its perp short is its own share of the
        coin's position, which the protection keeper leaves unbracketed (a stop on a hedged
        short would leave the spot leg naked) and the one-way rule names when it refuses a
        trigger against it; its spot fills are no perp position (docs/CARRY.md)."""
        self.carry = carry
        self._spot_coins = frozenset(carry.spot_coins)
        self.keeper.carry_share = self.protector.carry_share = carry.share

    # -- helpers -------------------------------------------------------------------------------

    def exposure(self) -> Any:
        return self.account.exposure(self._mids(), self._active_triggers())

    def start_cancel_all(self, why: str) -> asyncio.Task:
        """Cancel every open order of the account as a task on the loop; ``why`` names it in
        the log and in ``task_errors`` if it fails."""
        return self._spawn(self.cancel_all(None), why)

    def start_flatten(self, why: str) -> asyncio.Task:
        """:meth:`flatten` every position as a task on the loop (see :meth:`start_cancel_all`),
        again until nothing is left open or ``FLATTEN_ATTEMPTS`` ran out."""
        return self._spawn(self._flatten_until_flat(why), why)

    async def _flatten_until_flat(self, why: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attempt in range(1, FLATTEN_ATTEMPTS + 1):
            out = await self.flatten(None)
            if not out["errors"]:
                return out
            log.warning(
                "%s: attempt %d of %d left positions open: %s", why, attempt, FLATTEN_ATTEMPTS, "; ".join(out["errors"])
            )
            if attempt < FLATTEN_ATTEMPTS:
                await asyncio.sleep(FLATTEN_RETRY_S)
        self.errors[why] = self.errors.get(why, 0) + 1
        log.error("%s: positions still open after %d attempts; flatten by hand", why, FLATTEN_ATTEMPTS)
        return out

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
        """Wait for order tasks in flight, protection included (shutdown, tests)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout_s)
        await self.keeper.settle(timeout_s)

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
            if self._published.get(leg.cloid or str(leg.oid)) == key:
                continue
            self._published[leg.cloid or str(leg.oid)] = key
            self.events.order(leg)

    def _summarise(self, plan: Plan) -> dict[str, Any]:
        summary = {
            "kind": plan.kind,
            "ok": plan.ok,
            "refused": plan.refused,
            "existing": plan.existing,
            "errors": [r.error for r in plan.results if not r.ok],
            "legs": {n: leg.state for n, leg in plan.orders.legs.items()} if plan.orders is not None else {},
        }
        self.plans.setdefault(plan.trigger_id, []).append(summary)
        return summary

    def _rule_params(self, trigger_id: str) -> dict[str, Any] | None:
        """The ``place_bracket`` parameters of the rule ``trigger_id`` was fired by, if loaded."""
        rule = trigger_id.rsplit(".", 3)[0]
        for r in self._rules():
            if r.name == rule:
                return next((dict(p) for name, p in r.actions if name == "place_bracket"), {})
        return None

    @contextlib.asynccontextmanager
    async def _holding(self, coins: Iterable[str]) -> AsyncIterator[None]:
        """Keep the protection keeper off ``coins`` while a cancel-all or flatten runs; it
        looks at them again afterwards."""
        async with contextlib.AsyncExitStack() as stack:
            for c in sorted(set(coins)):
                await stack.enter_async_context(self.keeper.entering(c))
            yield

    def _coins_in_play(self) -> set[str]:
        """Coins with a position or an open order of ours."""
        return {c for c, p in self.account.positions.items() if p.szi} | {
            leg.coin for leg in self.tracker.open_legs(external=None)
        }

    def _quoting_lot(self, coin: str) -> float:
        h = self.attribution.holdings.get(f"quote.{coin}")
        return float(h.lots.get(coin, 0.0)) if h is not None else 0.0

    # -- triggers ------------------------------------------------------------------------------

    def on_trigger(self, ev: TriggerFired) -> None:
        if self.quoter is not None and any(name in ORDER_ACTIONS for name, _ in ev.actions):
            self.quoter.on_trigger(ev.coin)  # rules win: the coin's quotes go at once
        if any(name in ORDER_ACTIONS for name, _ in ev.actions):
            task = self._spawn(self._protect(ev), f"orders for {ev.trigger_id}")
            self._placing[ev.trigger_id] = task
            task.add_done_callback(lambda _t: self._placing.pop(ev.trigger_id, None))

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
            changed = self.tracker.on_order_updates(rec.updates)
            self._publish_legs(changed)
            for leg in changed:
                if is_protective(leg) and not leg.is_open:
                    self.keeper.request(leg.coin)  # the exchange closed a stop or target
            self._adopt_orphans()
        elif type(rec) is UserFills:
            if rec.is_snapshot:
                # History from before this connection: the reconcile set positions already.
                for f in rec.fills:
                    self.account.mark_seen(f.tid)
                self.tracker.on_fills(rec.fills)
                return
            self.on_fills(rec.fills)
        elif type(rec) is UserEvent and rec.fills:
            self.on_fills(rec.fills)

    def on_fills(self, fills: Iterable[Any]) -> None:
        """Our fills: the account moves at once, the coin's protection is looked at; the fill
        event (and its attribution to a trigger) waits for its leg if needed."""
        fills = list(fills)
        if self._spot_coins:
            spot = [f for f in fills if f.coin in self._spot_coins]
            if spot:  # the carry's spot leg: published, no perp position (the carry reads its balances)
                for f in spot:
                    if self.account.seen(f.tid):
                        continue
                    self.account.mark_seen(f.tid)
                    self.events.fill(f, None)
                fills = [f for f in fills if f.coin not in self._spot_coins]
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
                self._fill_known(f, leg)
            pos = self.account.positions.get(f.coin)
            self.events.position(f.coin, pos.szi if pos else 0.0, pos.entry_px if pos else 0.0, mids.get(f.coin, f.px))
            self.keeper.request(f.coin)

    def _fill_known(self, f: Any, leg: Leg | None) -> None:
        """A fill whose leg is known (or given up on): attributed, then published."""
        self._attribute(f, leg)
        self.events.fill(f, leg)
        if self.quoter is not None and leg is not None and leg.name in ("bid", "ask") and not leg.external:
            self.quoter.on_fill(f.coin)

    def _attribute(self, f: Any, leg: Leg | None) -> None:
        owner = leg.trigger_id if leg is not None and not leg.external and leg.name in _OWN_LEGS else None
        self.attribution.book(owner, f.coin, f.is_buy, f.px, f.sz, f.fee)

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
                self._fill_known(f, leg)

    # -- decisions ------------------------------------------------------------------------------

    def apply_decision(self, ev: TriggerFired, d: Decision) -> Any:
        return self._decide(ev, d)

    async def _decide(self, ev: TriggerFired, d: Decision) -> dict[str, Any]:
        self.tick_to_decision.observe((self._clock_ns() - ev.recv_ts_ns) / 1e9)
        await self._settle_trigger(ev.trigger_id)
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

    async def _settle_trigger(self, trigger_id: str, timeout_s: float = DECISION_WAIT_S) -> None:
        """Before a decision acts on a trigger: its orders answered, and their fills seen by the
        account (a close is sized to, and risk-checked against, the position they made)."""
        placing = self._placing.get(trigger_id)
        if placing is not None:
            await asyncio.wait([placing], timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        orders = self.tracker.get(trigger_id)
        while (
            orders is not None
            and time.monotonic() < deadline
            and any(leg.filled_sz > leg.channel_filled + 1e-12 for leg in orders.legs.values())
        ):
            await asyncio.sleep(0.005)

    # -- cancel all / flatten -----------------------------------------------------------------

    async def cancel_all(self, coin: str | None) -> dict[str, Any]:
        """Cancel every open order of the account (ours or not), one coin or all. A position
        still open afterwards gets its stop and take-profit back (the keeper, on the way out)."""
        open_orders = await self.gateway.info({"type": "openOrders", "user": self.gateway.user})
        if not isinstance(open_orders, list):
            return {"cancelled": 0, "error": f"openOrders answer not a list: {open_orders!r:.200}"}
        targets = [
            (self.markets[o["coin"]].asset, int(o["oid"]), o["coin"])
            for o in open_orders
            if isinstance(o, dict) and o.get("coin") in self.markets and (coin is None or o["coin"] == coin)
        ]
        if not targets:
            return {"cancelled": 0}
        async with self._holding(c for _, _, c in targets):
            result = await self.gateway.cancel([(a, oid) for a, oid, _ in targets])
            cancelled = 0
            for (_, oid, _c), st in zip(targets, result.statuses or ()):
                if st.kind == "success":
                    cancelled += 1
                    leg = self.tracker.leg_by_oid(oid)
                    if leg is not None:
                        leg.state = "canceled"
                        self._publish_legs([leg])
        return {"cancelled": cancelled, "asked": len(targets), "error": None if result.ok else result.error}

    async def flatten(self, coin: str | None) -> dict[str, Any]:
        """Cancel everything, then close each position with a reduce-only IOC."""
        coins = [c for c in self._coins_in_play() if coin is None or c == coin]
        async with self._holding(coins):
            cancelled = await self.cancel_all(coin)
            mids = self._mids()
            closed, errors = [], []
            for c, pos in list(self.account.positions.items()):
                if (coin is not None and c != coin) or pos.szi == 0.0 or c not in self.markets:
                    continue
                mid = mids.get(c)
                if mid is None:
                    errors.append(f"{c}: no mid to price the close")
                    continue
                out = await self._close_position(c, pos.szi, mid)
                if isinstance(out, dict):
                    closed.append(out)
                elif out:
                    errors.append(out)
        return {"cancelled": cancelled.get("cancelled", 0), "closed": closed, "errors": errors}

    async def _close_position(self, coin: str, szi: float, mid: float) -> dict[str, Any] | str:
        """A reduce-only IOC closing ``szi`` of ``coin``: what it filled, or why it did not."""
        self._flattens += 1
        built = build_close_position(  # a flatten must fill: 5× the hedge's slippage
            coin,
            szi,
            mid,
            self.markets[coin],
            self.cfg.hedge_slippage_bps * 5,
            cloid_for(f"flatten.{coin}.{self._flattens}.{time.time_ns()}", "close"),
        )
        if built is None:
            return ""
        leg, wire = built
        verdict = self.risk.check(OrderIntent(coin, leg.is_buy, leg.sz, leg.px, True), self.exposure())
        if not verdict.ok:
            return f"{coin}: {verdict.reason}"
        result = await self.gateway.send_action(order_action([wire]))
        st = result.statuses[0] if result.statuses else None
        if result.ok and st is not None and st.kind == "filled":
            return {"coin": coin, "sz": st.total_sz, "avg_px": st.avg_px}
        return f"{coin}: {result.error or (st.error if st else 'no status')}"

    # -- timers -----------------------------------------------------------------------------

    async def refresh_account(self, positions: bool = False) -> None:
        """Equity (and optionally positions) from ``clearinghouseState``; feeds the breakers,
        and has every coin whose protection does not match its position looked at."""
        carry = self.carry
        moves = carry.moves if carry is not None else 0
        state = await self.gateway.info({"type": "clearinghouseState", "user": self.gateway.user})
        if not isinstance(state, dict) or "marginSummary" not in state:
            raise ValueError(f"clearinghouseState answer malformed: {state!r:.200}")
        from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state

        pos, margin, _t = parse_clearinghouse_state(state)
        if positions:
            self.account.set_positions(pos)
        self._check_protection({p.coin: p.szi for p in pos})
        now_ms = self._exch_ms()
        mids = self._mids()
        value = margin.account_value
        if carry is not None:
            # the carry's spot side is equity too; while it moves USDC or tokens the two reads
            # need not agree (a transfer between them would look like a drawdown): skip this one
            if carry.moving or carry.moves != moves:
                return
            carry.reconcile({p.coin: p.szi for p in pos})
            value += carry.spot_value()
        self.account.set_equity(value, mids, now_ms)
        trips = self.risk.on_equity(self.account.equity(mids), now_ms)
        trips += self.risk.on_day_pnl(self.account.day_pnl(mids))
        self._trips(trips)

    def _check_protection(self, exchange_szi: dict[str, float]) -> None:
        """Ask the keeper to look at every coin whose protection does not match the exchange's
        position: the safety net under the event-driven syncs."""
        coins = set(exchange_szi) | {leg.coin for leg in self.tracker.open_legs() if is_protective(leg)}
        for c in coins:
            if c in self.markets and not self.protected(c, exchange_szi.get(c, 0.0)):
                self.keeper.request(c)

    def protected(self, coin: str, szi: float) -> bool:
        """True when ``coin``'s open protective orders are exactly one stop and one take-profit
        of ``|szi|`` on the closing side (none when flat)."""
        legs = self.keeper.legs(coin)
        market = self.markets[coin]
        szi = self.keeper.net_of_carry(coin, szi)  # the carry's hedged short is not bracketed
        if check_invariant(szi, legs, market.sz_decimals) is not None:
            return False
        want = sz_down(abs(szi), market.sz_decimals)
        if want <= 0:  # flat, or dust below one lot: nothing to protect, nothing may be open
            return not legs
        kinds = sorted(leg.name for leg in legs)
        return kinds == ["sl", "tp"] and all(abs(leg.open_sz - want) < 10.0**-market.sz_decimals / 2 for leg in legs)

    async def tick(self) -> None:
        """Housekeeping: stale orphan fills out, then the dead man's switch."""
        self._adopt_orphans(ORPHAN_S)
        await self._deadman_tick()

    async def _deadman_tick(self) -> None:
        if self.deadman is not None:
            result = await self.deadman.tick(self.gateway, self.tracker.open_count(), self._exch_ms())
            if result is not None and not result.ok:
                log.warning("dead man's switch: %s", result.error)

    # -- reconcile: restart and reconnect ----------------------------------------------------

    async def on_reconcile(self, snapshot: Any) -> dict[str, Any]:
        """Take over the account as the exchange sees it (start-up and every reconnect):
        positions and missed fills; every open order adopted, phantoms removed; every position
        protected (or flattened when unprotected and so configured); the dead man's switch
        re-armed. Returns what it did (also kept as ``last_reconcile`` for the status)."""
        t0 = time.monotonic()
        self.account.set_positions(snapshot.positions)
        # At start-up the fills are history from before this process; after a reconnect they
        # are the ones missed while cut off: those move the triggers' lots (not the events,
        # as before: the user channels' snapshot does not replay them either).
        missed = (
            []
            if self.last_reconcile is None
            else [f for f in snapshot.fills if not self.account.seen(f.tid) and f.coin not in self._spot_coins]
        )
        for f in snapshot.fills:
            self.account.mark_seen(f.tid)
        self._publish_legs(self.tracker.on_fills(snapshot.fills))
        for f in missed:
            self._attribute(f, self.tracker.leg_by_oid(f.oid))
        # What the triggers' lots do not explain (a position found at a restart, fills older
        # than the lookback) is booked to ``unattributed``, at the entry price (at the mid for
        # a position gone), so the lots always add up to the exchange's positions.
        held = {p.coin: p for p in snapshot.positions}
        lotted = {c for h in self.attribution.holdings.values() for c, sz in h.lots.items() if sz}
        for coin in sorted(set(held) | lotted):
            p = held.get(coin)
            gap = (p.szi if p else 0.0) - self.attribution.position(coin)
            px = p.entry_px if p else self._mids().get(coin)
            if abs(gap) > 1e-12 and px:
                self.attribution.book(None, coin, gap > 0, px, abs(gap), 0.0)
        adopted, external, phantoms = await self._take_over_orders(snapshot.open_orders)
        flattened = await self._protect_positions(snapshot)
        await self._deadman_tick()
        unprotected = sorted(
            p.coin
            for p in snapshot.positions
            if p.coin in self.markets and p.coin not in flattened and not self.protected(p.coin, p.szi)
        )
        summary = {
            "positions": {p.coin: p.szi for p in snapshot.positions},
            "adopted": adopted,
            "external": external,
            "phantoms": phantoms,
            "flattened": flattened,
            "unprotected": unprotected,
            "protect_s": time.monotonic() - t0,
            "deadman_armed_until_ms": self.deadman.armed_until_ms if self.deadman else None,
        }
        self.last_reconcile = summary
        log.info(
            "reconcile: %d positions, %d orders adopted (%d external), %d phantoms removed, "
            "flattened %s, unprotected %s, %.3f s",
            len(snapshot.positions),
            adopted,
            external,
            phantoms,
            flattened or "none",
            unprotected or "none",
            summary["protect_s"],
        )
        return summary

    async def reconcile_orders(self) -> dict[str, int]:
        """The open orders alone, between reconnects (housekeeping): the exchange's listing
        against the tracker — orders adopted, phantoms removed. Positions are left to the
        user channels and the account refresh."""
        from tripwire.hotpath.feed.reconcile import parse_open_orders

        listed = parse_open_orders(await self.gateway.info({"type": "frontendOpenOrders", "user": self.gateway.user}))
        adopted, external, phantoms = await self._take_over_orders(listed)
        return {"adopted": adopted, "external": external, "phantoms": phantoms}

    async def _take_over_orders(self, open_orders: Iterable[Any]) -> tuple[int, int, int]:
        """Every listed order tracked (ours adopted under their triggers, others as external),
        every leg the two disagree on looked up; ``(adopted, external, phantoms)``."""
        rules = [r.name for r in self._rules()]
        adoption = plan_adoption(open_orders, self.tracker, rules)
        disputed = []
        for leg, o in adoption.confirmed:
            if leg.oid is None:
                leg.oid = o.oid
                self.tracker.index(leg)
            if leg.state == "pending" and not self.keeper.sending(leg.coin):
                leg.state = "waitingForTrigger" if o.is_trigger else "resting"  # its answer was lost
                self._publish_legs([leg])
            if not leg.is_open:
                disputed.append(leg)  # closed for us, listed open: one of the two is stale
        for leg, trigger_id, revision in adoption.ours:
            side = "long" if leg.is_buy != (leg.reduce_only or leg.name in ("tp", "sl")) else "short"
            self.tracker.attach(trigger_id, side, leg)
            self.keeper.note_revision(trigger_id, revision)
            if is_protective(leg):
                self.keeper.request(leg.coin)
        for leg in adoption.external:
            self.tracker.add_external(leg)
        self._publish_legs([leg for leg, _, _ in adoption.ours] + adoption.external)
        phantoms = await self._look_up(adoption.unlisted + disputed)
        return len(adoption.ours), len(adoption.external), phantoms

    async def _look_up(self, legs: list[Leg]) -> int:
        """Legs whose state the listing contradicts, asked one by one (by cloid; by oid for an
        external one) and set to what the exchange says. One we think open that the exchange
        does not know at all is a phantom: removed, published as cancelled with the reason,
        counted. Returns the phantoms."""
        phantoms = 0
        for leg in legs:
            if leg.state == "pending" and self.keeper.sending(leg.coin):
                continue  # still in flight: its answer will say
            was_open = leg.is_open
            st = await self.gateway.order_status(leg.oid if leg.external or not leg.cloid else leg.cloid)
            if st is None:
                if not was_open:
                    continue
                leg.state, leg.error = "canceled", "phantom: the exchange does not know this order"
                phantoms += 1
                log.warning(
                    "phantom order removed: %s %s of %s (%s)", leg.coin, leg.name, leg.trigger_id, leg.cloid or leg.oid
                )
            elif st.kind == "filled":
                leg.state = "filled"
            elif st.kind.endswith(("canceled", "Canceled")) or st.kind == "scheduledCancel":
                leg.state = "canceled"
            elif st.kind.endswith(("rejected", "Rejected")):
                leg.state = "rejected"
            elif was_open:
                continue  # open after all: placed after the listing was taken
            else:
                leg.state = "waitingForTrigger" if leg.trigger_px is not None else "resting"
            if st is not None and st.oid is not None and leg.oid is None:
                leg.oid = st.oid
                self.tracker.index(leg)
            self._publish_legs([leg])
            if is_protective(leg):
                self.keeper.request(leg.coin)
        self.phantoms += phantoms
        return phantoms

    async def _protect_positions(self, snapshot: Any) -> list[str]:
        """Protect every position of the snapshot now (awaited: a restart reports when it is
        done); with ``unprotected: flatten``, close instead those that had no stop of ours.
        Returns the coins flattened."""
        flattened = []
        for p in snapshot.positions:
            if p.coin not in self.markets:
                continue
            has_stop = any(leg.name == "sl" and leg.is_buy == (p.szi < 0) for leg in self.keeper.legs(p.coin))
            carried = abs(self.keeper.net_of_carry(p.coin, p.szi)) < 1e-12  # all of it the carry's
            if self.unprotected == FLATTEN_UNPROTECTED and not has_stop and not carried:
                mark = abs(p.position_value / p.szi) if p.szi else 0.0
                mid = self._mids().get(p.coin) or mark
                async with self.keeper.entering(p.coin):
                    out = await self._close_position(p.coin, p.szi, mid)
                log.warning("unprotected %s position %g flattened at restart: %s", p.coin, p.szi, out)
                if isinstance(out, dict):
                    flattened.append(p.coin)
                continue
            await self.keeper.sync(p.coin)
        # coins with protection but no position (it closed while we were away): cleaned up
        held = {p.coin for p in snapshot.positions}
        for c in {leg.coin for leg in self.tracker.open_legs() if is_protective(leg)} - held:
            await self.keeper.sync(c)
        return flattened

    async def shutdown(self) -> dict[str, Any]:
        """At exit: wait for orders in flight; if the exchange-side switch cannot be relied on,
        cancel everything ourselves. Protection is not re-placed after that."""
        await self.drain()
        self.keeper.stop()
        if self.deadman is not None and self.deadman.cancel_all_on_exit and self.tracker.open_count():
            return await self.cancel_all(None)
        return {}

    def status(self) -> dict[str, Any]:
        mids = self._mids()
        open_legs = [
            {
                "trigger_id": leg.trigger_id,
                "leg": leg.name,
                "coin": leg.coin,
                "side": "B" if leg.is_buy else "A",
                "px": leg.px,
                "sz": leg.sz,
                "trigger_px": leg.trigger_px,
                "state": leg.state,
                "oid": leg.oid,
                "cloid": leg.cloid or None,
                "reduce_only": leg.reduce_only,
                "adopted": leg.adopted,
                "external": leg.external,
                "note": leg.note,
            }
            for leg in sorted(self.tracker.open_legs(external=None), key=lambda leg: (leg.coin, leg.oid or 0))
        ]
        dm = self.deadman
        return {
            "account": self.account.snapshot(mids),
            "open_orders": open_legs,
            "quoting": self.quoter.status() if self.quoter is not None else None,
            "carry": self.carry.status() if self.carry is not None else None,
            "orders_in_flight": len(self.tasks),
            "gateway_errors": self.gateway.error_count,
            "tick_to_order_p50_s": self.tick_to_order.quantile(0.5),
            "tick_to_order_p99_s": self.tick_to_order.quantile(0.99),
            "deadman": None
            if dm is None
            else {"armed_until_ms": dm.armed_until_ms, "triggers_today": dm.triggers_today},
            "protection": self.keeper.status(),
            "phantoms_removed": self.phantoms,
            "last_reconcile": self.last_reconcile,
            "pnl_by_trigger": self.attribution.report(mids),
            "task_errors": dict(self.errors),
        }
