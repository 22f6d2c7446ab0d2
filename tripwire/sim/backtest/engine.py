"""The backtest: recorded market data through the hot path's own code, orders into the
simulator's own matching, with modelled latency in between. One process, no sockets.

Per replayed message, in exchange-time order:

1. actions whose modelled arrival time (fire time + latency sample) is before this message are
   delivered to the exchange first: the market moved while they were on their way;
2. the exchange (:class:`~tripwire.sim.exchange.engine.SimEngine`) ingests the message: its book, resting
   fills, TP/SL triggers on the mark, hourly funding;
3. the hot path (:class:`~tripwire.hotpath.pipeline.MarketPipeline`) ingests it; for each trigger that
   fires, its actions are built by the execution layer's pure builders
   (``build_bracket``/``build_limit``/``build_hedge``), checked by
   :meth:`~tripwire.hotpath.risk.manager.RiskManager.check` as the live ``Protector`` checks them, and
   queued for delivery at ``recv + latency``.

Orders go through the simulator's ``/exchange`` handler (:class:`~tripwire.sim.exchange.exchange.ExchangeApi`)
with signature recovery replaced by the backtest's account, so parsing, tick/lot rules, margin,
nonces and matching are the ones the demo and the integration tests use. Exchange time is the
only clock: the same files, seed and latency model give the same result on any machine.

The live hot path's one-way model applies (docs/EXECUTION.md, one-way netting): a trigger
against the coin's position (or against an entry still on its way) is refused, a same-side one
adds with its entry alone, and after every fill and every delivered action the coin's stop and
take-profit are planned with the live :func:`~tripwire.hotpath.execution.protection.plan_protection`
— one of each, sized to the net position, none when flat — and sent like any action, with
latency. A coin is not planned while an action that may change it is on its way. The
take-profit rests as a reduce-only post-only limit where the live plan would make it one
(the book's best bid and ask at planning time): it waits in the queue model like a quote and
a hit pays the maker fee; a post-only take-profit the exchange refuses falls back to a
trigger take-profit for that target, as live.

What is modelled and what is not (docs/BACKTEST.md): the hot path sees the exchange's account
state at fire time (live it learns it from the user channels, slightly later); analysis
decisions are not modelled (every bracket stays as placed); the latency breaker is not fed
(the modelled delay includes the network, which the live breaker does not measure); drawdown
and daily-loss breakers are, and their cancel-all/flatten actions are carried out.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tripwire.config.settings import Settings
from tripwire.contracts.events import TriggerFired
from tripwire.hotpath.execution.brackets import (
    ENTRY_LEGS,
    BracketConfig,
    Plan,
    Refused,
    build_bracket,
    build_close_position,
    build_hedge,
    build_limit,
)
from tripwire.hotpath.execution.netting import ADD, OPEN, stance
from tripwire.hotpath.execution.orders import Leg, Market, cloid_for, parse_cloid
from tripwire.hotpath.execution.protection import (
    KINDS,
    POST_ONLY_REFUSAL,
    ProtectionTarget,
    fallback_target,
    is_maker_tp,
    merge,
    plan_protection,
)
from tripwire.hotpath.execution.wire import order_action
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.quoting.config import QuotingConfig
from tripwire.hotpath.risk.config import RiskConfig
from tripwire.hotpath.risk.manager import CANCEL_ALL, FLATTEN, Exposure, OrderIntent, RiskManager, Trip
from tripwire.hotpath.triggers.engine import RuleSet
from tripwire.sim.backtest.gamma import GammaControl, Predictions
from tripwire.sim.backtest.latency import Constant, LatencyModel
from tripwire.sim.backtest.ledger import Ledger, TriggerRecord
from tripwire.sim.backtest.quoting import QUOTE, BacktestQuoting
from tripwire.sim.exchange.engine import DAY_MS, Fees, SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.markets import Universe
from tripwire.sim.exchange.queue import QueueModel
from tripwire.sim.replay.recordings import exchange_time_ms
from tripwire.sim.replay.runner import StreamSources, replay_stream

BACKTEST_USER = "0x000000000000000000000000000000000000ba57"
# The drawdown breaker keeps every equity sample in its window and scans them per update, so
# it is fed at most this often (exchange time), not on every book: 720 samples an hour.
DRAWDOWN_SAMPLE_MS = 5_000
_SIGNATURE = {"r": "0x1", "s": "0x1", "v": 27}  # shape only: recovery is replaced below

Builder = Callable[[TriggerFired, dict, Market, float, Exposure, BracketConfig, bool], Plan]

# action name → (pure builder, legs RiskManager.check sees), as tripwire.hotpath.execution.protector's
# Protector runs them: TP/SL only close what the entry opens, so the entry's check covers them.
# The last argument says the coin already holds a same-side position (the entry goes alone).
BUILDERS: dict[str, tuple[Builder, tuple[str, ...]]] = {
    "place_bracket": (lambda ev, p, m, mid, x, cfg, add: build_bracket(ev, p, m, mid, x.equity, cfg, add), ("entry",)),
    "place_limit": (lambda ev, p, m, mid, x, cfg, add: build_limit(ev, p, m, mid, x.equity), ("limit",)),
    "hedge": (lambda ev, p, m, mid, x, cfg, add: build_hedge(ev, p, m, mid, x, cfg), ("hedge",)),
}
OPENING = ("place_bracket", "place_limit")  # actions subject to the one-way rule
PROTECT = "protect"
RISK_AVERSE = QueueModel("risk_averse")


@dataclass(frozen=True)
class BacktestConfig:
    latency: LatencyModel = Constant(0.0)
    seed: int = 7
    synthetic: bool = True
    equity_usd: Decimal = Decimal(10_000)
    fees: Fees = Fees()
    bracket: BracketConfig = BracketConfig()
    # a resting order fills only after the size ahead of it at its price has traded (None:
    # as soon as a trade prints at its price, the simulator's own default)
    queue: QueueModel | None = RISK_AVERSE
    # the quoting strategy (config/quoting.yaml's enabled coins) beside the rules; None: rules only
    quoting: QuotingConfig | None = None
    # γ of the quoting coins set by a policy (tripwire/sim/backtest/gamma.py); None: fixed γ
    gamma: GammaControl | None = None
    # a model's predicted move per coin (the pred_move_bps the model server would set): the
    # quoter's alpha_skew and a γ policy's state read it; None: no prediction
    predictions: dict[str, Predictions] | None = None


@dataclass
class _Pending:
    """An action on its way to the exchange."""

    action: dict | None  # None: built at delivery (a breaker's cancel-all / flatten)
    rec: TriggerRecord | None  # None: the coin's protection (no trigger's own)
    legs: list[Leg]
    kind: str
    breaker_action: str | None = None
    coin: str | None = None  # the coin whose position it may change (None: every coin)
    target: ProtectionTarget | None = None  # a bracket's stop/target, for the coin once filled
    add: bool = False


@dataclass
class ChartSeries:
    """One coin's series for the report's price chart (exchange ms): the mid and the account's
    position per book, the resting quotes per book (None: none rests on that side), fills."""

    mid: list[tuple[int, float]] = field(default_factory=list)
    position: list[tuple[int, float]] = field(default_factory=list)
    bid: list[tuple[int, float | None]] = field(default_factory=list)
    ask: list[tuple[int, float | None]] = field(default_factory=list)
    fills: list[tuple[int, float, bool, str]] = field(default_factory=list)  # time, px, is_buy, leg


@dataclass
class BacktestResult:
    files: list[str]
    config: BacktestConfig
    engine: SimEngine
    user: str
    equity_start: Decimal
    records: dict[str, TriggerRecord]
    equity_series: list[tuple[int, float]]
    latencies_ms: list[float]
    trips: list[dict[str, Any]]
    risk_refusals: dict[str, int]
    messages: dict[str, int]
    untradable: dict[str, int]
    bad_market_messages: int
    unattributed_fills: int
    fees_paid: Decimal  # every fill's positive fees
    rebates: Decimal  # every fill's negative fees (maker rebates), as a positive amount
    first_ms: int
    last_ms: int
    wall_s: float
    # coin → channel → where its messages came from; what the synthetic generator stood in for
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    synthetic: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    quoting: dict[str, Any] | None = None  # BacktestQuoting.summary(), when quoting ran
    # (leg, maker|taker) → [fills, notional, fees] (Ledger.by_leg); why take-profits went out
    # as trigger orders rather than resting maker orders → times
    by_leg: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)
    tp_fallbacks: dict[str, int] = field(default_factory=dict)
    chart: dict[str, ChartSeries] = field(default_factory=dict)  # coin → the price chart's series

    @property
    def account(self):
        return self.engine.accounts[self.user]

    @property
    def exchange_span_s(self) -> float:
        return (self.last_ms - self.first_ms) / 1000.0


class Backtest:
    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        risk: RiskConfig,
        cfg: BacktestConfig = BacktestConfig(),
        universe: Universe | None = None,
    ) -> None:
        self.cfg = cfg
        self.now_ms = 0
        self.first_ms = 0
        self.pipe = MarketPipeline(settings, rules, clock_ns=lambda: self.now_ms * 1_000_000)
        self.sim = SimEngine(universe, cfg.fees, cfg.queue)
        self.api = ExchangeApi(self.sim, recover=lambda *a, **k: BACKTEST_USER)
        self.sim.fund(BACKTEST_USER, cfg.equity_usd)
        self.risk = RiskManager(risk)
        self.ledger = Ledger(cfg.fees)
        self.markets = {m.name: Market(m.name, m.asset, m.sz_decimals) for m in self.sim.universe.markets}
        self.pending: list[tuple[int, int, _Pending]] = []
        self.equity_series: list[tuple[int, float]] = []
        self.latencies_ms: list[float] = []
        self.trips: list[dict[str, Any]] = []
        self.bad_market_messages = 0
        self._seq = 0
        self._nonce = 0
        self._day = -1
        self._day_start_equity = float(cfg.equity_usd)
        self._next_drawdown_ms = 0
        self._ingest = {"l2Book": self._sim_book, "trades": self._sim_trades, "activeAssetCtx": self._sim_ctx}
        self.targets: dict[str, ProtectionTarget] = {}  # coin → its protection's prices
        self._on_the_way: dict[str | None, int] = {}  # coin (None: all) → actions not yet delivered
        self._protect_seq = 0
        self._revisions: dict[str, int] = {}  # protection source → last revision
        self.protection_refused = 0
        # coin → (target, why): the exchange refused a post-only take-profit for this target
        self._maker_refused: dict[str, tuple[ProtectionTarget, str]] = {}
        self.tp_fallbacks: dict[str, int] = {}  # why a take-profit went out as a trigger → times
        self.chart: dict[str, ChartSeries] = {}
        self.quoting = BacktestQuoting(self, cfg.quoting, BACKTEST_USER, cfg.gamma) if cfg.quoting is not None else None

    # -- the loop ----------------------------------------------------------------------------

    def run(self, messages: Iterable[object]) -> None:
        for msg in messages:
            self.step(msg)
        self.finish()

    def step(self, msg: object) -> str | None:
        """One replayed message (the loop's body; the γ environment drives it message by
        message, tripwire/flows/alpha/env.py). Answers the channel the exchange took, if any."""
        t = exchange_time_ms(msg)
        if t:
            self._deliver_before(t)
            self.now_ms = max(self.now_ms, t)
            self.first_ms = self.first_ms or t
        channel = self._to_exchange(msg)
        for ev in self.pipe.on_message(msg, self.now_ms * 1_000_000):
            self._on_trigger(ev)
        if channel == "l2Book":
            self._after_book()
            coin = msg["data"]["coin"]  # type: ignore[index]  # an l2Book the exchange took
            self._chart_book(coin)
            if self.quoting is not None:
                self.quoting.on_book(coin)
        return channel

    def finish(self) -> None:
        """The end of the data: every action still on its way is delivered."""
        self._deliver_before(None)
        self._sample_equity()

    def _deliver_before(self, t_ms: int | None) -> None:
        while self.pending and (t_ms is None or self.pending[0][0] < t_ms):
            due, _, p = heapq.heappop(self.pending)
            self._deliver(due, p)

    # -- exchange side -----------------------------------------------------------------------

    def _to_exchange(self, msg: object) -> str | None:
        if type(msg) is not dict:
            return None
        channel = msg.get("channel")
        ingest = self._ingest.get(channel)  # type: ignore[arg-type]  # a missing channel (None) finds no ingest
        if ingest is None:
            return None
        try:
            ingest(msg.get("data"))
        except (KeyError, TypeError, ValueError, IndexError, ArithmeticError):
            self.bad_market_messages += 1  # the pipeline's decoder counts the same fault by name
            return None
        self.sim.advance(self.now_ms)
        self._drain()
        return channel

    def _sim_book(self, data: Any) -> None:
        self.sim.on_l2book(data)

    def _sim_trades(self, data: Any) -> None:
        self.sim.on_trades(data)

    def _sim_ctx(self, data: Any) -> None:
        self.sim.on_asset_ctx(data["coin"], data["ctx"], self.now_ms)

    def _chart_book(self, coin: str) -> None:
        """The report chart's samples at this book: mid, position, resting quotes."""
        mid = self.sim.books[coin].mid() if coin in self.sim.books else None
        if mid is None:
            return
        series = self.chart.get(coin)
        if series is None:
            series = self.chart[coin] = ChartSeries()
        series.mid.append((self.now_ms, float(mid)))
        series.position.append((self.now_ms, float(self.sim.accounts[BACKTEST_USER].position(coin))))
        if self.quoting is not None and coin in self.quoting.coins:
            resting = self.quoting.resting_px(coin)
            series.bid.append((self.now_ms, resting.get("bid")))
            series.ask.append((self.now_ms, resting.get("ask")))

    def _drain(self) -> None:
        """Fills reach the ledger as the user channel would carry them; each coin that filled
        has its protection looked at."""
        coins = set()
        for channel, _key, data in self.sim.drain():
            if channel != "userFills":
                continue
            for fill in data["fills"]:  # type: ignore[index]  # userFills data is the sim's own dict
                coins.add(fill["coin"])
                info = parse_cloid(fill.get("cloid"))
                self.chart.setdefault(fill["coin"], ChartSeries()).fills.append(
                    (int(fill["time"]), float(fill["px"]), fill["side"] == "B", info.leg if info else "other")
                )
                for rec in self.ledger.on_fill(fill):
                    self._mark_done(rec)
        for coin in sorted(coins):
            self._protect(coin)

    def _equity(self) -> float:
        return float(self.sim.accounts[BACKTEST_USER].account_value(self.sim.marks))

    def _sample_equity(self) -> float:
        eq = self._equity()
        self.equity_series.append((self.now_ms, eq))
        return eq

    def _after_book(self) -> None:
        eq = self._sample_equity()
        day = self.now_ms // DAY_MS
        if day != self._day:
            self._day, self._day_start_equity = day, eq
        trips = self.risk.on_day_pnl(eq - self._day_start_equity)
        if self.now_ms >= self._next_drawdown_ms:
            self._next_drawdown_ms = self.now_ms + DRAWDOWN_SAMPLE_MS
            trips += self.risk.on_equity(eq, self.now_ms)
        for trip in trips:
            self._on_trip(trip)

    # -- hot-path side -----------------------------------------------------------------------

    def _exposure(self) -> Exposure:
        acct = self.sim.accounts[BACKTEST_USER]
        eq = self._equity()
        return Exposure(
            eq,
            {c: float(p.szi) for c, p in acct.positions.items()},
            {c: float(m) for c, m in self.sim.marks.items()},
            day_pnl=eq - self._day_start_equity,
            active_triggers=len(self.pipe.triggers.active),
        )

    def _on_trigger(self, ev: TriggerFired) -> None:
        if self.quoting is not None and any(name in BUILDERS for name, _ in ev.actions):
            self.quoting.on_trigger(ev.coin)  # rules win: the coin's quotes go at once
        rec = self.ledger.open(ev)
        market = self.markets.get(ev.coin)
        st = self.pipe.coins.get(ev.coin)
        exposure = self._exposure()
        for name, params in ev.actions:
            entry = BUILDERS.get(name)
            if entry is None:
                rec.not_modelled.append(name)
                continue
            if market is None or st is None:
                rec.refusals.append(f"unknown coin {ev.coin!r}")
                continue
            how = self._stance(ev) if name in OPENING else OPEN
            if how not in (OPEN, ADD):
                rec.refusals.append(how)
                continue
            builder, checked = entry
            plan = builder(ev, params, market, st.book.mid, exposure, self.cfg.bracket, how == ADD)
            reason = plan.refused or self._risk_refusal(plan, checked, exposure)
            if reason:
                rec.refusals.append(reason)
                continue
            for step in plan.steps:
                self.ledger.register(rec, step.legs)
                self._send(step.action, rec, step.legs, name, coin=ev.coin, target=plan.target, add=how == ADD)
        self._mark_done(rec)

    def _stance(self, ev: TriggerFired) -> str:
        """The live one-way rule (:func:`~tripwire.hotpath.execution.netting.stance`) on the
        exchange's position and our entries still on their way or resting."""
        working = [
            leg.is_buy
            for _, _, p in self.pending
            if p.coin == ev.coin and p.kind in OPENING
            for leg in p.legs
            if leg.name in ENTRY_LEGS
        ]
        working += [
            o.is_buy
            for o in self.sim.user_open_orders(BACKTEST_USER)
            if o.coin == ev.coin and not o.reduce_only and o.trigger is None and not _is_quote(o.cloid)
        ]
        pos = float(self.sim.accounts[BACKTEST_USER].position(ev.coin))
        if self.quoting is not None:  # quoting's inventory is not a trigger's position: rules win
            pos -= self.quoting.lot(ev.coin)
            pos = 0.0 if abs(pos) < 1e-12 else pos
        return stance(ev.coin, ev.side == "long", pos, working)

    def _risk_refusal(self, plan: Plan, checked: tuple[str, ...], exposure: Exposure) -> str | None:
        for step in plan.steps:
            for leg in step.legs:
                if leg.name in checked:
                    verdict = self.risk.check(
                        OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, leg.reduce_only, plan.trigger_id), exposure
                    )
                    if not verdict.ok:
                        return verdict.reason
        return None

    def _send(
        self,
        action: dict | None,
        rec: TriggerRecord | None,
        legs: list[Leg],
        kind: str,
        breaker_action: str | None = None,
        coin: str | None = None,
        target: ProtectionTarget | None = None,
        add: bool = False,
    ) -> None:
        latency = self.cfg.latency.sample()
        due = self.now_ms + round(latency)
        if rec is not None:
            rec.actions_sent += 1
            rec.latency_ms.append(latency)
        self.latencies_ms.append(latency)
        self._seq += 1
        self._on_the_way[coin] = self._on_the_way.get(coin, 0) + 1
        heapq.heappush(
            self.pending, (due, self._seq, _Pending(action, rec, legs, kind, breaker_action, coin, target, add))
        )

    def _deliver(self, due: int, p: _Pending) -> None:
        self.now_ms = max(self.now_ms, due)  # due is before the next message: time stays monotonic
        self.sim.advance(due)
        self._drain()
        try:
            action = p.action if p.action is not None else self._breaker_action(p)
            if action is not None:
                answer = self._exchange(action)
                self._answer(p, action, answer)
                if p.kind == QUOTE and self.quoting is not None and p.coin is not None:
                    self.quoting.delivered(p.coin, p.legs, answer)
        finally:
            self._on_the_way[p.coin] -= 1
        self._drain()
        for coin in [p.coin] if p.coin is not None else sorted(self.sim.books):
            self._protect(coin)
        if p.rec is not None:
            self._mark_done(p.rec)

    def _answer(self, p: _Pending, action: dict, answer: dict) -> None:
        if p.rec is None:  # the coin's protection
            statuses = (
                answer.get("response", {}).get("data", {}).get("statuses", [])
                if answer.get("status") == "ok"
                else [{"error": answer.get("response")}]
            )
            self.protection_refused += sum(
                1 for st in statuses if isinstance(st, dict) and "error" in st and action["type"] != "cancelByCloid"
            )
            if action["type"] == "order" and p.target is not None:
                for leg, st in zip(p.legs, statuses):
                    if is_maker_tp(leg) and isinstance(st, dict) and POST_ONLY_REFUSAL in str(st.get("error", "")):
                        why = f"refused by the exchange: {st['error']}"
                        self._maker_refused[leg.coin] = (p.target, why)
            return
        if answer.get("status") != "ok":
            p.rec.rejected.append(f"{p.kind}: {answer.get('response')}")
            if p.kind in BUILDERS:
                p.rec.entry_failed = True
        elif action["type"] == "order":
            statuses = answer["response"]["data"]["statuses"]
            refused = self.ledger.on_answer(p.rec, p.legs, statuses)
            if p.kind == "place_bracket" and any(leg.name == "entry" for leg in refused):
                self._cancel_orphans(p, refused)
            elif p.kind == "place_bracket" and p.target is not None and "filled" in statuses[0]:
                t = p.target
                self.targets[t.coin] = merge(self.targets.get(t.coin), t) if p.add else t

    # -- the coin's protection ------------------------------------------------------------------

    def _protect(self, coin: str) -> None:
        """Plan the coin's stop and take-profit against its position now (as the live keeper
        does), unless an action that may change it is still on its way."""
        if self._on_the_way.get(coin) or self._on_the_way.get(None) or coin not in self.markets:
            return
        market = self.markets[coin]
        acct = self.sim.accounts[BACKTEST_USER]
        pos = acct.positions.get(coin)
        szi = float(pos.szi) if pos is not None else 0.0
        legs = []
        for o in self.sim.user_open_orders(BACKTEST_USER):
            info = parse_cloid(o.cloid)
            maker_tp = o.trigger is None and info is not None and info.leg == "tp"
            if o.coin == coin and (o.trigger is not None or maker_tp) and o.reduce_only and info and info.leg in KINDS:
                legs.append(
                    Leg(
                        info.leg,
                        o.cloid or "",
                        coin,
                        o.is_buy,
                        float(o.sz),  # what is left to fill
                        float(o.limit_px),
                        reduce_only=True,
                        trigger_px=float(o.trigger.trigger_px) if o.trigger is not None else None,
                        oid=o.oid,
                        state="waitingForTrigger" if o.trigger is not None else "resting",
                    )
                )
        target = self.targets.get(coin)
        if not szi:
            self.targets.pop(coin, None)
            self._maker_refused.pop(coin, None)
            target = None
        elif target is None or target.is_long != (szi > 0):
            self._protect_seq += 1
            atr = self.pipe.coins[coin].features.values.get("atr_1m") if coin in self.pipe.coins else None
            target = self.targets[coin] = fallback_target(
                coin,
                szi,
                float(pos.entry_px),
                legs,
                market,
                self.cfg.bracket,
                f"protect.{coin}.{self.now_ms}.{self._protect_seq}",
                atr=float(atr) if isinstance(atr, (int, float)) and atr > 0 else None,
            )
        book = self.sim.books[coin]
        bbo = (
            (float(book.best_bid), float(book.best_ask))
            if book.best_bid is not None and book.best_ask is not None
            else None
        )
        refused = self._maker_refused.get(coin)
        try:
            plan = plan_protection(
                szi,
                target,
                legs,
                market,
                self.cfg.bracket,
                self._protective_cloid(target),
                bbo=bbo,
                maker_refused=refused[1] if refused is not None and refused[0] == target else None,
            )
        except Refused:
            return
        if plan.tp_fallback is not None:
            why = plan.tp_fallback.split(":")[0]
            self.tp_fallbacks[why] = self.tp_fallbacks.get(why, 0) + 1
        for step in plan.steps(market):
            self.ledger.register(None, step.legs)
            self._send(step.action, None, step.legs, PROTECT, coin=coin, target=target)

    def _protective_cloid(self, target: ProtectionTarget | None) -> Callable[[str], str]:
        def new(kind: str) -> str:
            assert target is not None
            rev = self._revisions[target.source] = self._revisions.get(target.source, 0) + 1
            return cloid_for(target.source, f"{kind}.{rev}")

        return new

    def _exchange(self, action: dict) -> dict:
        """``/exchange`` as the simulator answers it, at the current time, signer = our account."""
        self._nonce = max(self.now_ms, self._nonce + 1)
        return self.api.handle(
            {"action": action, "nonce": self._nonce, "signature": _SIGNATURE}, self.now_ms, self.now_ms
        )

    def _cancel_orphans(self, p: _Pending, refused: list[Leg]) -> None:
        """An entry that took nothing leaves its TP/SL standing; cancel them, as the live
        Protector does, once its answer is back (one more latency later)."""
        orphans = [leg for leg in p.legs if leg.name in ("tp", "sl") and leg not in refused]
        if orphans:
            asset = self.markets[orphans[0].coin].asset
            action = {"type": "cancelByCloid", "cancels": [{"asset": asset, "cloid": leg.cloid} for leg in orphans]}
            self._send(action, p.rec, orphans, "cancel_orphans", coin=orphans[0].coin)

    def _mark_done(self, rec: TriggerRecord) -> None:
        """Note when a trigger's position is back to flat (or never opened). Its slot under the
        concurrency cap is *not* freed: live, only a decision or ``active_ttl_s`` does that,
        and the backtest models no analysis."""
        reason = rec.done
        if reason is not None and rec.done_ms is None:
            rec.done_ms, rec.done_reason = self.now_ms, reason

    # -- breakers ----------------------------------------------------------------------------

    def _on_trip(self, trip: Trip) -> None:
        self.trips.append(
            {
                "time_ms": self.now_ms,
                "breaker": trip.breaker,
                "action": trip.action,
                "state": trip.state,
                "detail": trip.detail,
            }
        )
        if trip.action in (CANCEL_ALL, FLATTEN):
            rec = self.ledger.open_pseudo(
                f"breaker.{trip.breaker}.{self.now_ms}", f"breaker:{trip.breaker}", "", self.now_ms
            )
            self._send(None, rec, [], "breaker", breaker_action=trip.action)

    def _breaker_action(self, p: _Pending) -> dict | None:
        """Cancel every open order (by oid) and, for a flatten, close every position with a
        reduce-only IOC, from the state at arrival time."""
        user = BACKTEST_USER
        open_orders = self.sim.user_open_orders(user) + [
            o for o in self.sim.waiting_children.values() if o.user == user
        ]
        if open_orders:
            self._exchange(
                {
                    "type": "cancel",
                    "cancels": [{"a": self.sim.universe.by_name[o.coin].asset, "o": o.oid} for o in open_orders],
                }
            )
        if p.breaker_action != FLATTEN:
            return None
        wires, legs = [], []
        for coin, pos in self.sim.accounts[user].positions.items():
            market, mid = self.markets[coin], self.sim.books[coin].mid()
            if mid is None:
                continue
            built = build_close_position(
                coin,
                float(pos.szi),
                float(mid),
                market,
                self.cfg.bracket.hedge_slippage_bps,
                cloid_for(p.rec.trigger_id, f"flatten.{coin}"),
            )
            if built is not None:
                legs.append(built[0])
                wires.append(built[1])
        if not wires:
            return None
        self.ledger.register(p.rec, legs)
        p.legs = legs
        return order_action(wires)

    # -- result ------------------------------------------------------------------------------

    def result(self, files: Sequence[str | Path], wall_s: float) -> BacktestResult:
        return BacktestResult(
            files=[str(f) for f in files],
            config=self.cfg,
            engine=self.sim,
            user=BACKTEST_USER,
            equity_start=self.cfg.equity_usd,
            records=self.ledger.records,
            equity_series=self.equity_series,
            latencies_ms=self.latencies_ms,
            trips=self.trips,
            risk_refusals=dict(self.risk.refusals),
            messages=dict(sorted(self.pipe.messages.items())),
            untradable=dict(self.pipe.untradable),
            bad_market_messages=self.bad_market_messages,
            unattributed_fills=self.ledger.unattributed_fills,
            fees_paid=self.ledger.fees_paid,
            rebates=self.ledger.rebates,
            first_ms=self.first_ms,
            last_ms=self.now_ms,
            wall_s=wall_s,
            quoting=self.quoting.summary() if self.quoting is not None else None,
            by_leg=dict(self.ledger.by_leg),
            tp_fallbacks=dict(self.tp_fallbacks),
            chart=self.chart,
        )


def _is_quote(cloid: str | None) -> bool:
    info = parse_cloid(cloid)
    return info is not None and info.leg in ("bid", "ask")


def run_backtest(
    files: Sequence[str | Path],
    settings: Settings,
    rules: RuleSet,
    risk: RiskConfig,
    cfg: BacktestConfig = BacktestConfig(),
    universe: Universe | None = None,
) -> BacktestResult:
    """Replay ``files`` (merged in time order, with seeded synthetic trades and contexts unless
    ``cfg.synthetic`` is off) through the hot path and the simulator; see the module doc."""
    sources = StreamSources()
    stream = replay_stream(files, cfg.synthetic, cfg.seed, sources=sources)
    extra = [c for c in sources.by_coin if c not in settings.coins]  # several coins at once
    if extra:
        settings = settings.model_copy(update={"coins": (*settings.coins, *extra)})
    bt = Backtest(settings, rules, risk, cfg, universe)
    t0 = time.perf_counter()
    bt.run(stream)
    result = bt.result(files, time.perf_counter() - t0)
    result.sources, result.synthetic = sources.by_coin, sources.synthetic()
    return result
