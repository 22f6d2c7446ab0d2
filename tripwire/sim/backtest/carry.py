"""The funding carry in the backtest: the carry's pure decision, the simulator's spot and perp.

Per replayed message, in exchange-time order: actions whose modelled arrival is due are
delivered first; the exchange ingests the message (books, the pair's synthetic spot book, hourly
funding); on each ``activeAssetCtx`` of a carry coin the carry decides
(:func:`tripwire.hotpath.carry.model.decide`) on the rate the exchange will charge at the next
hour, the basis between the pair's and the perp's mids and whether it holds legs.

Opening is three actions, each sent after the previous one's answer, each after a latency
sample: USDC perp → spot (``usdClassTransfer``), the spot Ioc buy, the perp Ioc short of the
size the buy got. Closing: the perp reduce-only Ioc buy, the spot Ioc sell of the whole token
balance, spot USDC → perp. Every order passes :meth:`RiskManager.check` first (the spot leg is
checked as a position named after its pair, ``UBTC/USDC``, so it counts against the coin and
total limits); a refused order sends nothing. Breakers pull the carry: while the trading state
is not ACTIVE (drawdown, daily loss), stale, the carry closes what it holds and opens nothing —
its closing orders reduce, which the risk check allows in every state.

Equity for the breakers and the report is the perp account value plus the spot side at the
pair's mid (:meth:`SimEngine.spot_value`).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tripwire.hotpath.carry.config import CarryConfig
from tripwire.hotpath.carry.model import (
    CLOSE,
    OPEN,
    CarryDecision,
    CarryLeg,
    decide,
    perp_buy,
    perp_sell,
    spot_buy,
    spot_sell,
    transfer_to_spot,
)
from tripwire.hotpath.execution.wire import float_to_wire, order_action, order_wire
from tripwire.hotpath.risk.config import RiskConfig
from tripwire.hotpath.risk.manager import ACTIVE, Exposure, OrderIntent, RiskManager
from tripwire.sim.backtest.latency import Constant, LatencyModel
from tripwire.sim.exchange.engine import DAY_MS, Fees, SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.markets import Universe
from tripwire.sim.exchange.spot import USDC, SpotPair
from tripwire.sim.replay.recordings import exchange_time_ms

CARRY_USER = "0x000000000000000000000000000000000000ca77"
DRAWDOWN_SAMPLE_MS = 5_000
_SIGNATURE = {"r": "0x1", "s": "0x1", "v": 27}  # shape only: recovery is replaced below
_IOC = {"limit": {"tif": "Ioc"}}


@dataclass
class CoinCarry:
    coin: str
    pair: SpotPair
    busy: bool = False  # a step of an open or close is on its way
    steps: list[str] = field(default_factory=list)  # what is left of the open/close under way
    opens: int = 0
    closes: int = 0
    opened_ms: int | None = None
    held_ms: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)  # opens, closes and why
    waits: dict[str, int] = field(default_factory=dict)  # decisions to stay flat, by reason
    refused: dict[str, int] = field(default_factory=dict)  # by the risk check, by reason
    rejected: dict[str, int] = field(default_factory=dict)  # by the exchange, by reason
    last: CarryDecision | None = None
    max_funding_bps: float = float("-inf")
    min_funding_bps: float = float("inf")
    hedge_gap: float = 0.0  # |perp short − spot held| after the last open, coin units


@dataclass
class _Pending:
    coin: str
    step: str
    action: dict[str, Any]
    leg: CarryLeg | None


@dataclass
class CarryResult:
    files: list[str]
    engine: SimEngine
    user: str
    equity_start: Decimal
    equity_series: list[tuple[int, float]]
    coins: dict[str, CoinCarry]
    trips: list[dict[str, Any]]
    first_ms: int
    last_ms: int
    wall_s: float
    messages: int
    bad_market_messages: int
    config: CarryConfig
    fees: Fees
    scenario: str | None = None


class CarryBacktest:
    def __init__(
        self,
        cfg: CarryConfig,
        risk: RiskConfig,
        fees: Fees = Fees(),
        latency: LatencyModel = Constant(0.0),
        equity_usd: Decimal = Decimal(10_000),
        universe: Universe | None = None,
    ) -> None:
        self.cfg = cfg
        self.latency = latency
        self.sim = SimEngine(universe, fees)
        signer = lambda *a, **k: CARRY_USER  # noqa: E731  (the backtest's account signs everything)
        self.api = ExchangeApi(self.sim, recover=signer, recover_user=signer)
        self.sim.fund(CARRY_USER, equity_usd)
        self.equity_start = equity_usd
        self.risk = RiskManager(risk)
        self.coins: dict[str, CoinCarry] = {}
        for coin in cfg.enabled():
            label = cfg.coins[coin].spot
            pair = next((p for p in self.sim.spot.pairs if label in (p.label, p.coin)), None)
            if pair is None or coin not in self.sim.universe.by_name:
                known = ", ".join(p.label for p in self.sim.spot.pairs)
                raise ValueError(f"carry: coins.{coin}.spot: no spot pair {label!r} on the market (it has {known})")
            self.coins[coin] = CoinCarry(coin, pair)
        self.pending: list[tuple[int, int, _Pending]] = []
        self.now_ms = 0
        self.first_ms = 0
        self.messages = 0
        self.bad_market_messages = 0
        self.equity_series: list[tuple[int, float]] = []
        self.trips: list[dict[str, Any]] = []
        self._seq = 0
        self._nonce = 0
        self._day = -1
        self._day_start_equity = float(equity_usd)
        self._next_drawdown_ms = 0

    # -- the loop ------------------------------------------------------------------------------

    def run(self, messages: Iterable[object]) -> None:
        for msg in messages:
            t = exchange_time_ms(msg)
            if t:
                self._deliver_before(t)
                self.now_ms = max(self.now_ms, t)
                self.first_ms = self.first_ms or t
            self.messages += 1
            channel = self._to_exchange(msg)
            if channel == "l2Book":
                self._after_book()
            elif channel == "activeAssetCtx":
                coin = msg["data"]["coin"]  # type: ignore[index]  # a context the exchange took
                if coin in self.coins:
                    self._evaluate(self.coins[coin])
        self._deliver_before(None)
        self._sample_equity()

    def _deliver_before(self, t_ms: int | None) -> None:
        while self.pending and (t_ms is None or self.pending[0][0] < t_ms):
            due, _, p = heapq.heappop(self.pending)
            self.now_ms = max(self.now_ms, due)
            self.sim.advance(self.now_ms)
            self.sim.drain()
            self._deliver(p)

    def _to_exchange(self, msg: object) -> str | None:
        if type(msg) is not dict:
            return None
        channel, data = msg.get("channel"), msg.get("data")
        try:
            if channel == "l2Book":
                self.sim.on_l2book(data)  # type: ignore[arg-type]  # bad shapes are counted below
            elif channel == "trades":
                self.sim.on_trades(data)  # type: ignore[arg-type]
            elif channel == "activeAssetCtx":
                self.sim.on_asset_ctx(data["coin"], data["ctx"], self.now_ms)  # type: ignore[index]
            else:
                return None
        except (KeyError, TypeError, ValueError, IndexError, ArithmeticError):
            self.bad_market_messages += 1
            return None
        self.sim.advance(self.now_ms)
        self.sim.drain()  # the ledger is the exchange's own (userFills, userFunding): read at the end
        return str(channel)

    # -- equity and breakers ---------------------------------------------------------------------

    def equity(self) -> float:
        acct = self.sim.accounts[CARRY_USER]
        return float(acct.account_value(self.sim.marks) + self.sim.spot_value(CARRY_USER))

    def _sample_equity(self) -> float:
        eq = self.equity()
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
            self.trips.append(
                {"time": self.now_ms, "breaker": trip.breaker, "action": trip.action, "detail": trip.detail}
            )
            for cc in self.coins.values():  # breakers pull the carry: close what it holds now
                self._evaluate(cc)

    def exposure(self) -> Exposure:
        """The account as the risk check sees it: perp positions and each pair's tokens."""
        acct = self.sim.accounts[CARRY_USER]
        positions = {c: float(p.szi) for c, p in acct.positions.items()}
        marks = {c: float(m) for c, m in self.sim.marks.items()}
        for cc in self.coins.values():
            held = acct.spot.total(cc.pair.base.name)
            mid = self.sim.spot_book(cc.pair.coin).mid()
            if held:
                positions[cc.pair.label] = float(held)
            if mid is not None:
                marks[cc.pair.label] = float(mid)
        eq = self.equity()
        return Exposure(eq, positions, marks, day_pnl=eq - self._day_start_equity)

    # -- the decision ----------------------------------------------------------------------------

    def _holding(self, cc: CoinCarry) -> bool:
        acct = self.sim.accounts[CARRY_USER]
        lot = Decimal(1).scaleb(-cc.pair.base.sz_decimals)
        return acct.position(cc.coin) != 0 or acct.spot.total(cc.pair.base.name) >= lot

    def trading_problem(self) -> str:
        if self.risk.state != ACTIVE:
            return f"trading_state: {self.risk.state}"
        if self.risk.stale:
            return "stale_data"
        return ""

    def _evaluate(self, cc: CoinCarry) -> None:
        if cc.busy:
            return
        ctx = self.sim.ctxs.get(cc.coin) or {}
        rate = float(ctx.get("funding") or 0.0)
        perp_mid = self.sim.books[cc.coin].mid()
        spot_mid = self.sim.spot_book(cc.pair.coin).mid()
        if perp_mid is None or spot_mid is None:
            return
        basis_bps = (float(spot_mid) / float(perp_mid) - 1.0) * 1e4
        d = decide(self.cfg.params(cc.coin), rate, basis_bps, self._holding(cc), self.trading_problem())
        cc.last = d
        cc.max_funding_bps = max(cc.max_funding_bps, d.funding_bps)
        cc.min_funding_bps = min(cc.min_funding_bps, d.funding_bps)
        if d.action == OPEN:
            cc.steps = ["to_spot", "spot_buy", "perp_sell"]
        elif d.action == CLOSE:
            cc.steps = ["perp_buy", "spot_sell", "to_perp"]
        else:
            if d.action != "hold":
                key = d.reason.split(":", 1)[0]
                cc.waits[key] = cc.waits.get(key, 0) + 1
            return
        cc.decisions.append(
            {
                "time": self.now_ms,
                "action": d.action,
                "reason": d.reason,
                "funding_bps_per_hour": round(d.funding_bps, 4),
            }
        )
        self._next_step(cc)

    def _next_step(self, cc: CoinCarry) -> None:
        """Send the next step of the open or close under way (skipping those with nothing to do)."""
        while cc.steps:
            step = cc.steps.pop(0)
            built = self._build(cc, step)
            if built is None:
                continue
            action, leg = built
            if leg is not None:
                verdict = self.risk.check(
                    OrderIntent(leg.coin, leg.is_buy, leg.sz, leg.px, leg.reduce_only, None), self.exposure()
                )
                if not verdict.ok:
                    key = verdict.reason.split(":", 1)[0]
                    cc.refused[key] = cc.refused.get(key, 0) + 1
                    if step in ("spot_buy", "perp_sell"):  # an open that cannot hedge stops; a
                        cc.steps = ["perp_buy", "spot_sell", "to_perp"]  # close goes on regardless
                    continue
            self._send(cc, step, action, leg)
            return
        self._finished(cc)

    def _build(self, cc: CoinCarry, step: str) -> tuple[dict[str, Any], CarryLeg | None] | None:
        e, cfg, pair = self.sim, self.cfg, cc.pair
        acct = e.accounts[CARRY_USER]
        perp = e.universe.by_name[cc.coin]
        book, spot_book = e.books[cc.coin], e.spot_book(pair.coin)
        slip = cfg.slippage_bps
        leg: CarryLeg | None
        if step == "to_spot":
            usdc = transfer_to_spot(cfg.coins[cc.coin].notional_usd, cfg.fees.spot_taker, slip)
            return self._transfer(Decimal(str(usdc)), to_perp=False), None
        if step == "to_perp":
            amount = e.spot_matcher.available(CARRY_USER, USDC).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
            return (self._transfer(amount, to_perp=True), None) if amount > 0 else None
        if step == "spot_buy" and spot_book.best_ask is not None:
            leg = spot_buy(
                pair.label,
                pair.asset,
                pair.base.sz_decimals,
                cfg.coins[cc.coin].notional_usd,
                float(spot_book.best_ask),
                slip,
            )
        elif step == "perp_sell" and book.best_bid is not None:
            held = float(acct.spot.total(pair.base.name)) + float(acct.position(cc.coin))  # spot not yet hedged
            leg = perp_sell(cc.coin, perp.asset, perp.sz_decimals, held, float(book.best_bid), slip)
        elif step == "perp_buy" and book.best_ask is not None:
            short = -float(acct.position(cc.coin))
            leg = perp_buy(cc.coin, perp.asset, perp.sz_decimals, short, float(book.best_ask), slip)
        elif step == "spot_sell" and spot_book.best_bid is not None:
            held = float(acct.spot.total(pair.base.name))
            leg = spot_sell(pair.label, pair.asset, pair.base.sz_decimals, held, float(spot_book.best_bid), slip)
        else:
            return None
        if leg is None:
            return None
        wire = order_wire(leg.asset, leg.is_buy, leg.px, leg.sz, leg.reduce_only, _IOC)
        return order_action([wire]), leg

    def _transfer(self, amount: Decimal, to_perp: bool) -> dict[str, Any]:
        return {
            "type": "usdClassTransfer",
            "signatureChainId": "0x66eee",
            "hyperliquidChain": "Testnet",
            "amount": float_to_wire(float(amount)),
            "toPerp": to_perp,
            "nonce": self._next_nonce(),
        }

    def _next_nonce(self) -> int:
        # nonces are judged against the wall clock (docs/SIMULATOR.md): now, made unique
        self._nonce = max(self._nonce + 1, int(time.time() * 1000))
        return self._nonce

    def _send(self, cc: CoinCarry, step: str, action: dict[str, Any], leg: CarryLeg | None) -> None:
        cc.busy = True
        due = self.now_ms + round(self.latency.sample())
        self._seq += 1
        heapq.heappush(self.pending, (due, self._seq, _Pending(cc.coin, step, action, leg)))

    def _deliver(self, p: _Pending) -> None:
        cc = self.coins[p.coin]
        # a transfer repeats its nonce inside the signed action; an order takes one now
        nonce = p.action["nonce"] if p.action["type"] == "usdClassTransfer" else self._next_nonce()
        body = {"action": p.action, "nonce": nonce, "signature": _SIGNATURE}
        answer = self.api.handle(body, self.now_ms, int(time.time() * 1000))
        self.sim.drain()
        error = None
        if answer.get("status") != "ok":
            error = str(answer.get("response"))
        elif p.action["type"] == "order":
            [status] = answer["response"]["data"]["statuses"]
            if isinstance(status, dict) and "error" in status:
                error = str(status["error"])
        if error is not None:
            key = error.split(",", 1)[0][:60]
            cc.rejected[key] = cc.rejected.get(key, 0) + 1
            if p.step == "spot_buy":  # nothing bought: nothing to hedge, the USDC goes back
                cc.steps = ["to_perp"]
        cc.busy = False
        self._next_step(cc)

    def _finished(self, cc: CoinCarry) -> None:
        """An open or close has run all its steps: book the holding time and the hedge."""
        acct = self.sim.accounts[CARRY_USER]
        holding = self._holding(cc)
        if holding and cc.opened_ms is None:
            cc.opens += 1
            cc.opened_ms = self.now_ms
            cc.hedge_gap = abs(float(acct.spot.total(cc.pair.base.name) + acct.position(cc.coin)))
        elif not holding and cc.opened_ms is not None:
            cc.closes += 1
            cc.held_ms += self.now_ms - cc.opened_ms
            cc.opened_ms = None

    def result(self, files: list[str], wall_s: float, scenario: str | None = None) -> CarryResult:
        return CarryResult(
            files,
            self.sim,
            CARRY_USER,
            self.equity_start,
            self.equity_series,
            self.coins,
            self.trips,
            self.first_ms,
            self.now_ms,
            wall_s,
            self.messages,
            self.bad_market_messages,
            self.cfg,
            self.sim.fees,
            scenario,
        )


def run_carry_backtest(
    messages: Iterable[object],
    files: list[str],
    cfg: CarryConfig,
    risk: RiskConfig,
    fees: Fees = Fees(),
    latency: LatencyModel = Constant(0.0),
    equity_usd: Decimal = Decimal(10_000),
    scenario: str | None = None,
) -> CarryResult:
    t0 = time.perf_counter()
    bt = CarryBacktest(cfg, risk, fees, latency, equity_usd)
    bt.run(messages)
    return bt.result(files, time.perf_counter() - t0, scenario)
