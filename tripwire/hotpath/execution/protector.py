"""The I/O shell around the pure bracket builders: risk check, then the gateway, then leg state.

:class:`Protector` places, adjusts and cancels each trigger's orders. It owns what the builders
(:mod:`.brackets`) cannot: idempotency (one set of orders per trigger, however often it is
asked), the one-way rule (:mod:`.netting`: a trigger never opens against the coin's position),
:meth:`RiskManager.check` before anything is sent, the gateway round trip, and the legs' states
from the exchange's answers (:class:`~.orders.OrderTracker`). The coin's stop and take-profit
are kept equal to its net position by its :class:`~.keeper.ProtectionKeeper`, which every order
that may change a position tells when it is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tripwire.contracts.events import Decision, TriggerFired
from tripwire.hotpath.execution.brackets import (
    BracketConfig,
    Plan,
    Step,
    build_adjust,
    build_bracket,
    build_cancel,
    build_hedge,
    build_limit,
)
from tripwire.hotpath.execution.keeper import ProtectionKeeper
from tripwire.hotpath.execution.netting import ADD, OPEN, stance
from tripwire.hotpath.execution.orders import Market, OrderTracker
from tripwire.hotpath.risk.manager import Exposure, OrderIntent, RiskManager

__all__ = ["Protector"]


class Protector:
    """Places, adjusts and cancels each trigger's orders through one gateway.

    Every order goes through :meth:`RiskManager.check` before anything is sent; a refusal
    comes back as ``Plan.refused`` and nothing reaches the exchange. TP/SL are reduce-only
    triggers that only close what is open: the entry's check covers them.
    """

    def __init__(
        self,
        gateway: Any,
        risk: RiskManager,
        markets: dict[str, Market],
        tracker: OrderTracker | None = None,
        cfg: BracketConfig = BracketConfig(),
        keeper: ProtectionKeeper | None = None,
    ) -> None:
        self.gateway = gateway
        self.risk = risk
        self.markets = markets
        self.tracker = tracker or OrderTracker()
        self.cfg = cfg
        self.keeper = keeper or ProtectionKeeper(gateway, risk, markets, self.tracker, cfg)
        # the quoting strategy's inventory on a coin (signed): not a trigger's position, so the
        # one-way rule does not hold it against a trigger — rules win, and a trigger's entry
        # nets it away (docs/QUOTING.md)
        self.quoting_lot: Callable[[str], float] = lambda coin: 0.0
        # the funding carry's share (signed): it stays in the position the one-way rule sees —
        # netting a trigger against the carry's short would unhedge its spot leg (docs/CARRY.md)
        self.carry_share: Callable[[str], float] = lambda coin: 0.0

    def _market(self, coin: str) -> Market | None:
        return self.markets.get(coin)

    def _existing(self, trigger_id: str, leg: str, kind: str) -> Plan | None:
        orders = self.tracker.get(trigger_id)
        if orders is not None and leg in orders.legs:
            return Plan(trigger_id, kind, orders=orders, existing=True)
        return None

    def _stance(self, trigger: TriggerFired, exposure: Exposure) -> str:
        """:func:`~.netting.stance` for an opening order of ``trigger`` (an invalid side is
        left for the builder to refuse)."""
        if trigger.side not in ("long", "short"):
            return OPEN
        # entries still open, and entries the exchange has filled whose fills the account has
        # not seen yet (the answer outran the user channel): both are the position's side
        working = [leg.is_buy for leg in self.tracker.working_entries(trigger.coin)]
        position = exposure.positions.get(trigger.coin, 0.0) - self.quoting_lot(trigger.coin)
        if abs(position) < 1e-12:
            position = 0.0
        how = stance(trigger.coin, trigger.side == "long", position, working)
        carried = self.carry_share(trigger.coin)
        if how not in (OPEN, ADD) and carried and (carried > 0) != (trigger.side == "long"):
            how += f"; {abs(carried):g} of it is the funding carry's hedged {'short' if carried < 0 else 'long'}"
        return how

    async def place_bracket(
        self, trigger: TriggerFired, params: dict[str, Any], mid: float, exposure: Exposure
    ) -> Plan:
        if (plan := self._existing(trigger.trigger_id, "entry", "place_bracket")) is not None:
            return plan
        market = self._market(trigger.coin)
        if market is None:
            return Plan(trigger.trigger_id, "place_bracket", refused=f"unknown coin {trigger.coin!r}")
        how = self._stance(trigger, exposure)
        if how not in (OPEN, ADD):
            return Plan(trigger.trigger_id, "place_bracket", refused=how)
        plan = build_bracket(trigger, params, market, mid, exposure.equity, self.cfg, add=how == ADD)
        async with self.keeper.entering(trigger.coin):
            plan = await self._run(plan, exposure, trigger.fired_ts_ns, check=["entry"])
            orders = plan.orders
            if not plan.results or orders is None:
                return plan
            entry = orders.legs["entry"]
            if entry.filled_sz > 0 and plan.target is not None:
                self.keeper.set_target(plan.target, add=how == ADD)
            if entry.state == "rejected":
                # An entry that took nothing leaves nothing to protect: drop its TP/SL at once.
                orphans = [leg for name in ("tp", "sl") if (leg := orders.legs.get(name)) and leg.is_open]
                if orphans:
                    step = Step(
                        "cancel",
                        {
                            "type": "cancelByCloid",
                            "cancels": [{"asset": market.asset, "cloid": leg.cloid} for leg in orphans],
                        },
                        orphans,
                    )
                    result = await self.gateway.send_action(step.action)
                    plan.results.append(result)
                    self._apply(plan, step, result)
        return plan

    async def place_limit(self, trigger: TriggerFired, params: dict[str, Any], mid: float, exposure: Exposure) -> Plan:
        if (plan := self._existing(trigger.trigger_id, "limit", "place_limit")) is not None:
            return plan
        market = self._market(trigger.coin)
        if market is None:
            return Plan(trigger.trigger_id, "place_limit", refused=f"unknown coin {trigger.coin!r}")
        how = self._stance(trigger, exposure)
        if how not in (OPEN, ADD):
            return Plan(trigger.trigger_id, "place_limit", refused=how)
        plan = build_limit(trigger, params, market, mid, exposure.equity)
        async with self.keeper.entering(trigger.coin):
            return await self._run(plan, exposure, trigger.fired_ts_ns, check=["limit"])

    async def hedge(self, trigger: TriggerFired, params: dict[str, Any], mid: float, exposure: Exposure) -> Plan:
        if (plan := self._existing(trigger.trigger_id, "hedge", "hedge")) is not None:
            return plan
        market = self._market(trigger.coin)
        if market is None:
            return Plan(trigger.trigger_id, "hedge", refused=f"unknown coin {trigger.coin!r}")
        plan = build_hedge(trigger, params, market, mid, exposure, self.cfg)
        async with self.keeper.entering(trigger.coin):
            return await self._run(plan, exposure, trigger.fired_ts_ns, check=["hedge"])

    async def adjust(self, decision: Decision, mid: float, exposure: Exposure) -> Plan:
        """New stop/target prices for the coin's protection from the decision's multiples,
        and the trigger's filled size scaled down when it says so."""
        orders = self.tracker.get(decision.trigger_id)
        if orders is None:
            return Plan(decision.trigger_id, "adjust", refused=f"unknown trigger {decision.trigger_id!r}")
        market = self.markets[orders.coin]
        plan = build_adjust(orders, decision, market, mid, self.cfg, exposure.positions.get(orders.coin, 0.0))
        if plan.refused is not None:
            return plan
        async with self.keeper.entering(orders.coin):
            if plan.target is not None:
                current = self.keeper.targets.get(orders.coin)
                if current is not None and current.is_long == plan.target.is_long:
                    # a decision moves the prices, not the rule's choice of a maker take-profit
                    plan.target = replace(plan.target, tp_maker=current.tp_maker)
                self.keeper.set_target(plan.target)
            plan = await self._run(plan, exposure, None, check=["close"])
            if plan.results or plan.target is not None:
                orders.revision += 1
                orders.tp_atr = plan.tp_atr if plan.tp_atr is not None else orders.tp_atr
                orders.sl_atr = plan.sl_atr if plan.sl_atr is not None else orders.sl_atr
        return plan

    async def cancel(self, trigger_id: str, exposure: Exposure, mid: float | None = None) -> Plan:
        """Cancel the trigger's own unfilled entry (and, if configured, close what it filled);
        the coin's protection follows whatever position remains."""
        orders = self.tracker.get(trigger_id)
        if orders is None:
            return Plan(trigger_id, "cancel", refused=f"unknown trigger {trigger_id!r}")
        plan = build_cancel(orders, self.markets[orders.coin], mid, self.cfg, exposure.positions.get(orders.coin, 0.0))
        async with self.keeper.entering(orders.coin):
            return await self._run(plan, exposure, None, check=["close"])

    async def quote(self, step: Step, exposure: Exposure) -> tuple[Any, str | None]:
        """Send one quoting action (:mod:`tripwire.hotpath.quoting`): every quote it places or
        modifies passes :meth:`RiskManager.check` first — a refusal sends nothing and comes back
        as the reason; a cancel always goes. Returns (the exchange's result or None, refusal)."""
        if step.op != "cancel":
            for leg in step.legs:
                verdict = self.risk.check(
                    OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, leg.reduce_only, None), exposure
                )
                if not verdict.ok:
                    return None, verdict.reason
            for leg in step.legs:  # tracked before sending: a fill may outrun the answer
                self.tracker.attach(leg.trigger_id or f"quote.{leg.coin}", "quote", leg)
        result = await self.gateway.send_action(step.action)
        if not result.ok:
            if not result.uncertain and step.op != "cancel":
                for leg in step.legs:
                    leg.state, leg.error = "rejected", result.error
        elif step.op == "cancel":
            self.tracker.mark_canceled(step.legs, result.statuses)
        else:
            self.tracker.apply_statuses(step.legs, result.statuses)
            for old, st in zip(step.replaces, result.statuses):
                if st.kind != "error":  # a modify replaces the old order: it is gone
                    old.state = "canceled"
        return result, None

    async def _run(self, plan: Plan, exposure: Exposure, fired_ns: int | None, check: list[str]) -> Plan:
        if plan.refused is not None:
            return plan
        # Placements and adjustments are all-or-nothing; a cancel's cancels always go out and
        # only its closing order can be refused.
        refused_steps = set()
        for i, step in enumerate(plan.steps):
            for leg in step.legs:
                if leg.name not in check:
                    continue
                verdict = self.risk.check(
                    OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, leg.reduce_only, plan.trigger_id), exposure
                )
                if not verdict.ok:
                    plan.refused = verdict.reason
                    if plan.kind != "cancel":
                        return plan
                    refused_steps.add(i)
        if plan.orders is not None and plan.kind in ("place_bracket", "place_limit", "hedge"):
            existing = self.tracker.get(plan.trigger_id)
            if existing is None:
                self.tracker.add(plan.orders)  # before sending: a concurrent repeat sees it
            else:
                for name, leg in plan.orders.legs.items():
                    existing.legs[name] = leg
                    self.tracker.index(leg)
                plan.orders = existing
        for step in plan.steps:
            for leg in step.legs:  # before sending: a fill may arrive before the answer
                leg.trigger_id = plan.trigger_id
        for i, step in enumerate(plan.steps):
            if i in refused_steps:
                continue
            result = await self.gateway.send_action(step.action, fired_ns=fired_ns if step.op == "place" else None)
            plan.results.append(result)
            self._apply(plan, step, result)
        return plan

    def _apply(self, plan: Plan, step: Step, result: Any) -> None:
        orders = plan.orders
        if not result.ok:
            if not result.uncertain and step.op == "place":
                for leg in step.legs:
                    leg.state, leg.error = "rejected", result.error
            return
        if step.op == "cancel":
            self.tracker.mark_canceled(step.legs, result.statuses)
            return
        assert orders is not None
        for leg in step.legs:
            if leg.name == "close":
                orders.legs[f"close{sum(1 for k in orders.legs if k.startswith('close'))}"] = leg
                self.tracker.index(leg)
        self.tracker.apply_statuses(step.legs, result.statuses)
