"""The I/O shell around :mod:`.protection`: keeps each coin's stop and take-profit equal to its
net position on the exchange.

:class:`ProtectionKeeper` is asked to look at a coin (:meth:`~ProtectionKeeper.request`)
whenever its position may have changed — a fill, an entry or close finishing, a protective
order closed by the exchange, a reconcile, the periodic account refresh — and then, one coin at
a time: reads the position from the exchange (``clearinghouseState``: the exchange is the
authority, and reading it avoids guessing whether a fill's message has arrived yet), plans with
:func:`~.protection.plan_protection`, passes every new order through
:meth:`RiskManager.check` (it must reduce the position), sends, and applies the answers to the
legs. A coin with an opening or closing order in flight is left alone until it is answered
(:meth:`~ProtectionKeeper.entering`), so protection is never sized to a position about to change.

The take-profit rests as a post-only maker order where sound (:mod:`.protection`); the keeper
gives the plan the coin's best bid and ask (``bbo``), and when the exchange refuses the
post-only order (it would cross: the market moved between the look and the order) it plans
again at once with a trigger take-profit for that target, logged with the reason and kept on
the leg (:attr:`Leg.note`). A fill of either protective order leaves a position the plan
re-sizes or, when flat, cancels the other one: the one-cancels-other is the keeper's, by state.

A failed action is retried with a growing delay (1 s doubling to 30 s): protection is never
given up on while the hot path runs. :meth:`~ProtectionKeeper.stop` (shutdown) ends that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from tripwire.hotpath.execution.brackets import BracketConfig, Refused, Step
from tripwire.hotpath.execution.orders import Leg, Market, OrderTracker, cloid_for
from tripwire.hotpath.execution.protection import (
    POST_ONLY_REFUSAL,
    ProtectionPlan,
    ProtectionTarget,
    fallback_target,
    is_maker_tp,
    is_protective,
    merge,
    plan_protection,
)
from tripwire.hotpath.risk.manager import Exposure, OrderIntent, RiskManager

__all__ = ["ProtectionKeeper"]

log = logging.getLogger("tripwire.orders.protection")

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
# States of a protective leg that say an answer or update about it is still to come.
_IN_FLUX = frozenset({"pending", "waitingForFill"})


class ProtectionKeeper:
    """One stop and one take-profit per coin, sized to the net position; see the module doc.

    ``atr(coin)`` is the coin's live ATR (None while not warm) and ``rule_params(trigger_id)``
    the ``place_bracket`` parameters of the rule a trigger id belongs to (None if unknown):
    both only price a position whose stop and target are not known (:meth:`_target_for`).
    """

    def __init__(
        self,
        gateway: Any,
        risk: RiskManager,
        markets: dict[str, Market],
        tracker: OrderTracker,
        cfg: BracketConfig = BracketConfig(),
        *,
        on_legs: Callable[[list[Leg]], None] | None = None,
        atr: Callable[[str], float | None] = lambda coin: None,
        bbo: Callable[[str], tuple[float, float] | None] = lambda coin: None,
        rule_params: Callable[[str], dict[str, Any] | None] = lambda trigger_id: None,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.gateway = gateway
        self.risk = risk
        self.markets = markets
        self.tracker = tracker
        self.cfg = cfg
        self.targets: dict[str, ProtectionTarget] = {}
        self.positions: dict[str, float] = {}  # coin → szi the last sync saw
        self.errors: dict[str, str] = {}  # coin → why its protection is not in place
        self.syncs = 0
        self.actions = 0
        self._on_legs = on_legs or (lambda legs: None)
        self._atr = atr
        self._bbo = bbo
        # coin → (target, why): the exchange refused a post-only take-profit for this target
        self._maker_refused: dict[str, tuple[ProtectionTarget, str]] = {}
        self._rule_params = rule_params
        self._now_ms = now_ms
        self._revisions: dict[str, int] = {}  # source trigger id → last revision used
        self._busy: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._dirty: set[str] = set()
        self._retry_s: dict[str, float] = {}
        self._runner: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._timers: set[asyncio.Task] = set()
        self._defaults = 0
        self.stopped = False
        # the funding carry's signed share of a coin's position: hedged by its spot leg, so not
        # bracketed — the keeper protects the rest (docs/CARRY.md)
        self.carry_share: Callable[[str], float] = lambda coin: 0.0

    # -- being asked -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def entering(self, coin: str) -> AsyncIterator[None]:
        """Around an order that may change ``coin``'s position: no sync meanwhile, one after."""
        self._busy[coin] = self._busy.get(coin, 0) + 1
        try:
            yield
        finally:
            self._busy[coin] -= 1
            self.request(coin)

    def net_of_carry(self, coin: str, szi: float) -> float:
        """``szi`` less the funding carry's share, which counts only as far as the position
        has it on the same side (a share the exchange no longer holds — closed by hand — must
        not make the keeper protect a position that is not there)."""
        share = self.carry_share(coin)
        if share < 0:
            share = max(share, min(szi, 0.0))
        elif share > 0:
            share = min(share, max(szi, 0.0))
        rest = szi - share
        return 0.0 if abs(rest) < 1e-12 else rest

    def busy(self, coin: str) -> bool:
        return self._busy.get(coin, 0) > 0

    def sending(self, coin: str) -> bool:
        """An order on ``coin`` may be on its way: an entry or close, or our own sync."""
        lock = self._locks.get(coin)
        return self.busy(coin) or (lock is not None and lock.locked())

    def set_target(self, target: ProtectionTarget, add: bool = False) -> None:
        """New stop/target prices for ``target.coin``; ``add``: merged with the current ones
        (a same-side entry added to the position)."""
        self.targets[target.coin] = merge(self.targets.get(target.coin), target) if add else target

    def note_revision(self, trigger_id: str, revision: int) -> None:
        """A protective order of ``trigger_id`` at ``revision`` exists (adopted): never reuse it."""
        self._revisions[trigger_id] = max(self._revisions.get(trigger_id, 0), revision)

    def request(self, coin: str) -> None:
        """Look at ``coin`` soon (coalesced; coins are handled one at a time)."""
        if self.stopped or coin not in self.markets:
            return
        self._dirty.add(coin)
        if self._runner is None or self._runner.done():
            self._runner = self._spawn(self._run())

    def stop(self) -> None:
        """Shutdown: send nothing more."""
        self.stopped = True
        self._dirty.clear()
        for timer in list(self._timers):
            timer.cancel()

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until every requested coin has been handled (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while (self._dirty or any(not t.done() for t in self._tasks)) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self) -> None:
        while self._dirty and not self.stopped:
            coin = self._dirty.pop()
            try:
                await self.sync(coin)
            except Exception as e:  # noqa: BLE001 - reported and retried, never the loop's end
                self._failed(coin, f"sync failed: {e!r}")

    def _failed(self, coin: str, why: str) -> None:
        self.errors[coin] = why
        delay = self._retry_s.get(coin, RETRY_FIRST_S / 2) * 2
        self._retry_s[coin] = min(delay, RETRY_MAX_S)
        log.warning("%s protection: %s (retrying in %.0f s)", coin, why, self._retry_s[coin])

        async def later() -> None:
            await asyncio.sleep(self._retry_s[coin])
            self.request(coin)

        # a timer, not work in progress: settle() does not wait for it
        timer = asyncio.get_running_loop().create_task(later())
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    # -- one coin ------------------------------------------------------------------------------

    def legs(self, coin: str) -> list[Leg]:
        """Our open protective orders on ``coin``: not the TP/SL children of an entry still
        resting (they protect nothing until it fills, and go with it if it is cancelled); a
        child whose entry is done but still said to wait has missed its update, and counts."""
        return [
            leg
            for leg in self.tracker.open_legs(coin)
            if is_protective(leg) and not (leg.state == "waitingForFill" and self._entry_open(leg))
        ]

    def _entry_open(self, child: Leg) -> bool:
        orders = self.tracker.get(child.trigger_id) if child.trigger_id else None
        entry = orders.legs.get("entry") or orders.legs.get("limit") if orders else None
        return entry is not None and entry.is_open

    async def sync(self, coin: str) -> ProtectionPlan | None:
        """Make ``coin``'s protection match its position now; the plan carried out, or None
        when the coin is busy or its orders are still in flux (it is looked at again later)."""
        market = self.markets.get(coin)
        if market is None or self.stopped or self.busy(coin):
            return None
        lock = self._locks.setdefault(coin, asyncio.Lock())
        async with lock:
            if self.busy(coin):  # an entry went out while we waited for the lock
                return None
            self.syncs += 1
            if not await self._settled(coin):
                self._failed(coin, "an order's answer is still to come")
                return None
            szi, entry_px = await self._position(coin)
            if self.busy(coin):  # an entry went out while we were asking
                return None
            szi = self.net_of_carry(coin, szi)
            self.positions[coin] = szi
            if not szi:
                self._maker_refused.pop(coin, None)
            for _attempt in range(2):  # again at once when a post-only take-profit was refused
                legs = self.legs(coin)
                try:
                    target = self._target_for(coin, szi, entry_px, legs)
                    refused = self._maker_refused.get(coin)
                    plan = plan_protection(
                        szi,
                        target,
                        legs,
                        market,
                        self.cfg,
                        self._cloids(target),
                        bbo=self._bbo(coin),
                        maker_refused=refused[1] if refused is not None and refused[0] == target else None,
                    )
                except Refused as e:
                    self._failed(coin, str(e))
                    return None
                if plan.tp_fallback is not None:
                    log.info("%s take-profit as a trigger order: %s", coin, plan.tp_fallback)
                before = self._maker_refused.get(coin)
                ok = await self._carry_out(plan, market, szi)
                if ok or self._maker_refused.get(coin) is before:  # no new post-only refusal
                    break
            if ok:
                self.errors.pop(coin, None)
                self._retry_s.pop(coin, None)
            else:
                self._failed(coin, "an action was refused")
            return plan

    async def _settled(self, coin: str) -> bool:
        """True when no protective leg of ``coin`` waits for an answer. A leg left pending by
        an answer that never came is looked up by cloid: open, gone, or unknown (a phantom)."""
        stale = [leg for leg in self.legs(coin) if leg.state in _IN_FLUX]
        for leg in stale:
            st = await self.gateway.order_status(leg.cloid)
            if st is None:
                leg.state, leg.error = "canceled", "phantom: the exchange does not know this order"
            elif st.kind in ("resting", "waitingForTrigger", "open"):
                leg.state = "waitingForTrigger" if leg.trigger_px is not None else "resting"
                if st.oid is not None:
                    leg.oid = st.oid
                    self.tracker.index(leg)
            else:
                leg.state = "filled" if st.kind == "filled" else "canceled"
        if stale:
            self._on_legs(stale)
        return not any(leg.state in _IN_FLUX for leg in self.legs(coin))

    async def _position(self, coin: str) -> tuple[float, float]:
        """``(szi, entry_px)`` of ``coin`` on the exchange now."""
        from tripwire.hotpath.feed.reconcile import parse_clearinghouse_state

        state = await self.gateway.info({"type": "clearinghouseState", "user": self.gateway.user})
        positions, _margin, _t = parse_clearinghouse_state(state)
        for p in positions:
            if p.coin == coin:
                return p.szi, p.entry_px
        return 0.0, 0.0

    def _target_for(self, coin: str, szi: float, entry_px: float, legs: list[Leg]) -> ProtectionTarget | None:
        """The prices to protect ``szi`` at: the coin's target if it is for this side; else
        :func:`~.protection.fallback_target` (orders already there, the rule of the trigger
        they belong to, the config's defaults)."""
        if not szi:
            self.targets.pop(coin, None)
            return None
        current = self.targets.get(coin)
        if current is not None and current.is_long == (szi > 0):
            return current
        mine = [leg for leg in legs if leg.is_buy != (szi > 0)]
        source = next((leg.trigger_id for leg in sorted(mine, key=lambda leg: leg.oid or 0) if leg.trigger_id), None)
        params = self._rule_params(source) if source else None
        if source is None:
            self._defaults += 1
            source = f"protect.{coin}.{self._now_ms()}.{self._defaults}"
        target = fallback_target(
            coin, szi, entry_px, mine, self.markets[coin], self.cfg, source, atr=self._atr(coin), params=params
        )
        log.info(
            "%s %s %g: protection at stop %g / target %g (%s)",
            coin,
            "long" if szi > 0 else "short",
            abs(szi),
            target.sl_px,
            target.tp_px,
            "orders found" if mine else "its rule's distances" if params else "default distances",
        )
        self.targets[coin] = target
        return target

    def _cloids(self, target: ProtectionTarget | None) -> Callable[[str], str]:
        def new_cloid(kind: str) -> str:
            assert target is not None
            rev = self._revisions.get(target.source, 0) + 1
            self._revisions[target.source] = rev
            return cloid_for(target.source, f"{kind}.{rev}")

        return new_cloid

    async def _carry_out(self, plan: ProtectionPlan, market: Market, szi: float) -> bool:
        exposure = Exposure(0.0, {market.name: szi})
        ok = True
        for step in plan.steps(market):
            for leg in step.legs if step.op != "cancel" else ():
                verdict = self.risk.check(OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, True), exposure)
                if not verdict.ok:
                    log.error("%s protection refused by risk: %s", leg.coin, verdict.reason)
                    return False
            if step.op != "cancel" and plan.target is not None:
                side = "long" if plan.target.is_long else "short"
                for leg in step.legs:
                    self.tracker.attach(plan.target.source, side, leg)
            self.actions += 1
            result = await self.gateway.send_action(step.action)
            ok = self._apply(step, result) and ok
            self._note_maker_refusal(step, plan.target)
            self._on_legs(step.legs + step.replaces)
        return ok

    def _note_maker_refusal(self, step: Step, target: ProtectionTarget | None) -> None:
        """A post-only take-profit the exchange refused (it would have crossed, as a rule):
        this target's take-profit is a trigger order from now on."""
        for leg in step.legs:
            if target is not None and is_maker_tp(leg) and POST_ONLY_REFUSAL in (leg.error or ""):
                why = f"refused by the exchange: {leg.error}"
                self._maker_refused[leg.coin] = (target, why)
                log.info("%s post-only take-profit refused, trigger take-profit instead: %s", leg.coin, why)

    def _apply(self, step: Step, result: Any) -> bool:
        if not result.ok:
            if not result.uncertain and step.op in ("place", "modify"):
                for leg in step.legs:
                    leg.state, leg.error = "rejected", result.error
            log.warning("protection %s refused: %s", step.op, result.error)
            return False
        ok = True
        for i, leg in enumerate(step.legs):
            st = result.statuses[i] if i < len(result.statuses) else None
            if step.op == "cancel":
                # success, or the order is already gone (filled or cancelled): not open either way
                leg.state = "canceled"
                continue
            if st is None or st.kind == "error":
                leg.state, leg.error = "rejected", st.error if st else "no status"
                ok = False
                continue
            if step.op == "modify":
                step.replaces[i].state = "canceled"
            leg.state = "waitingForTrigger" if leg.trigger_px is not None else "resting"
            if st.oid is not None:
                leg.oid = st.oid
                self.tracker.index(leg)
        return ok

    # -- reading ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Per coin: the position last seen, the stop and target it is protected at, and why
        not when it is not."""
        coins = set(self.positions) | set(self.targets) | set(self.errors)
        out = {}
        for coin in sorted(coins):
            t = self.targets.get(coin)
            legs = self.legs(coin)
            out[coin] = {
                "szi": self.positions.get(coin, 0.0),
                "sl_px": t.sl_px if t else None,
                "tp_px": t.tp_px if t else None,
                "source": t.source if t else None,
                "orders": {leg.name: leg.sz for leg in legs},
                "error": self.errors.get(coin),
            }
        return out
