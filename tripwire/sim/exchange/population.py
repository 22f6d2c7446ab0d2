"""Simulated traders: seeded accounts that trade on the simulator, so its leaderboard has data
behind it.

Each trader is an ordinary account of the engine (funded by a deposit), with one of three
simple strategies, its own seeded parameters and one coin. Its orders go through the same
:class:`~tripwire.sim.exchange.matching.Matcher` as a signed ``/exchange`` order (tick, lot,
minimum, margin, reduce-only, Ioc/Gtc), so its positions, fills, fees, funding and PnL are the
simulator's real state, and ``clearinghouseState``, ``openOrders``, ``frontendOpenOrders`` and
``userFills`` answer for it like for anyone. They skip only the signature and the nonce: they
live inside the exchange, like the replay.

Strategies, on the coin's mid sampled every :data:`MID_SAMPLE_MS` of market time:

* ``momentum``: the return over its lookback above +threshold → long, below −threshold →
  short; market-style Ioc orders;
* ``mean_reversion``: the mid's z-score over its lookback above +k → short, below −k → long,
  back near the mean → flat; resting Gtc limit orders just inside the mid (its stale ones are
  canceled first), so its open orders are visible;
* ``random``: at each decision, half the time, long, short or flat at random; Ioc.

The target position is ``exposure × account value / mid`` (exposure 0.3–2×, leverage 20×).
Everything is decided on market time from the seed, so the same replay and seed give the same
trades. Traders act only once their coin has a book.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from tripwire.sim.exchange.matching import OrderSpec
from tripwire.sim.exchange.rules import MAX_PERP_DECIMALS, MAX_SIG_FIGS, MIN_NOTIONAL_USD

if TYPE_CHECKING:
    from tripwire.sim.exchange.engine import SimEngine

STRATEGIES = ("momentum", "mean_reversion", "random")
MID_SAMPLE_MS = 10_000
MID_HISTORY = 720  # two hours of samples
IOC_SLIPPAGE = Decimal("0.01")  # a market-style order crosses up to 1 % from the mid
MAKER_OFFSET = Decimal("0.0005")  # a mean-reversion limit rests 5 bps inside the mid


class PopulationError(ValueError):
    """A population spec that cannot be built (the message names the bad part)."""


@dataclass(frozen=True)
class PopulationSpec:
    """How many traders, their seed, their starting capital and the strategy mix (weights)."""

    count: int
    seed: int = 7
    usdc_min: Decimal = Decimal(20_000)
    usdc_max: Decimal = Decimal(500_000)
    mix: tuple[tuple[str, float], ...] = (("momentum", 1.0), ("mean_reversion", 1.0), ("random", 1.0))

    def __post_init__(self) -> None:
        if self.count < 0:
            raise PopulationError(f"traders: {self.count} is negative")
        if not 0 < self.usdc_min <= self.usdc_max:
            raise PopulationError(f"traders' capital: need 0 < min ≤ max, got {self.usdc_min}..{self.usdc_max}")
        for name, weight in self.mix:
            if name not in STRATEGIES:
                raise PopulationError(f"traders' mix: unknown strategy {name!r} (one of {', '.join(STRATEGIES)})")
            if not (weight >= 0 and math.isfinite(weight)):
                raise PopulationError(f"traders' mix: weight of {name} must be ≥ 0, got {weight}")
        if self.mix and sum(w for _n, w in self.mix) <= 0:
            raise PopulationError("traders' mix: the weights add up to 0")

    @staticmethod
    def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
        """``"momentum=2,mean_reversion=1,random=1"`` → the mix (PopulationError if malformed)."""
        out = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, weight = part.partition("=")
            try:
                out.append((name.strip(), float(weight) if sep else 1.0))
            except ValueError:
                raise PopulationError(f"traders' mix: {part!r} is not STRATEGY=WEIGHT") from None
        if not out:
            raise PopulationError(f"traders' mix: {text!r} names no strategy (e.g. momentum=1,random=1)")
        return tuple(out)


@dataclass
class SimTrader:
    address: str
    name: str
    strategy: str
    interval_ms: int  # between decisions
    lookback_ms: int
    threshold: float  # momentum: return; mean reversion: z-score
    exposure: Decimal  # target notional / account value
    rng: random.Random
    coin: str | None = None
    next_ms: int | None = None
    orders: int = 0
    rejected: int = 0
    last_error: str | None = None


def trader_address(seed: int, index: int) -> str:
    return "0x" + hashlib.sha256(f"tripwire-sim-trader:{seed}:{index}".encode()).hexdigest()[:40]


def valid_price(px: Decimal, sz_decimals: int, up: bool) -> Decimal:
    """``px`` rounded (up or down) to what the tick rule accepts: 5 significant figures and at
    most ``6 − szDecimals`` decimals; integers are always fine."""
    exp = min(max(px.adjusted() - (MAX_SIG_FIGS - 1), -(MAX_PERP_DECIMALS - sz_decimals)), 0)
    return px.quantize(Decimal(1).scaleb(exp), rounding=ROUND_CEILING if up else ROUND_FLOOR)


@dataclass
class _Mids:
    samples: deque[tuple[int, Decimal]] = field(default_factory=lambda: deque(maxlen=MID_HISTORY))


class Population:
    """The traders of one simulator; :meth:`step` runs what is due at a market time."""

    def __init__(self, engine: SimEngine, spec: PopulationSpec) -> None:
        self.engine = engine
        self.spec = spec
        rng = random.Random(spec.seed)
        names = [n for n, _w in spec.mix]
        weights = [w for _n, w in spec.mix]
        self.traders: list[SimTrader] = []
        counts: dict[str, int] = {}
        lo, hi = math.log(float(spec.usdc_min)), math.log(float(spec.usdc_max))
        for i in range(spec.count):
            strategy = rng.choices(names, weights)[0]
            counts[strategy] = counts.get(strategy, 0) + 1
            trader = SimTrader(
                address=trader_address(spec.seed, i),
                name=f"sim {strategy.replace('_', ' ')} {counts[strategy]}",
                strategy=strategy,
                interval_ms=rng.randrange(60_000, 600_001, 10_000),
                lookback_ms=rng.randrange(300_000, 1_800_001, 60_000),
                threshold=(rng.uniform(0.0005, 0.003) if strategy == "momentum" else rng.uniform(1.0, 2.0)),
                exposure=Decimal(str(round(rng.uniform(0.3, 2.0), 2))),
                rng=random.Random(rng.getrandbits(64)),
            )
            capital = Decimal(round(math.exp(rng.uniform(lo, hi))))
            engine.fund(trader.address, capital)
            self.traders.append(trader)
        self.by_address = {t.address: t for t in self.traders}
        self._mids: dict[str, _Mids] = {}
        self._queue: list[tuple[int, int]] = []  # (next decision ms, trader index)
        self._started = False

    @property
    def names(self) -> dict[str, str]:
        """Display names for the leaderboard (``"sim momentum 3"``)."""
        return {t.address: t.name for t in self.traders}

    # -- time ----------------------------------------------------------------------------------

    def step(self, now_ms: int) -> None:
        """Sample mids and run every decision due by ``now_ms`` (market time)."""
        if not self.traders:
            return
        self._sample(now_ms)
        if not self._started:
            self._started = True
            for i, t in enumerate(self.traders):  # spread the first decisions over an interval
                t.next_ms = now_ms + t.rng.randrange(0, t.interval_ms)
                heapq.heappush(self._queue, (t.next_ms, i))
        while self._queue and self._queue[0][0] <= now_ms:
            _due, i = heapq.heappop(self._queue)
            trader = self.traders[i]
            self._decide(trader, now_ms)
            trader.next_ms = now_ms + trader.interval_ms
            heapq.heappush(self._queue, (trader.next_ms, i))

    def _sample(self, now_ms: int) -> None:
        for coin, book in self.engine.books.items():
            mid = book.mid()
            if mid is None:
                continue
            mids = self._mids.setdefault(coin, _Mids()).samples
            if not mids or now_ms - mids[-1][0] >= MID_SAMPLE_MS:
                mids.append((now_ms, mid))

    # -- decisions -----------------------------------------------------------------------------

    def _decide(self, t: SimTrader, now_ms: int) -> None:
        if t.coin is None:
            coins = sorted(c for c, m in self._mids.items() if m.samples)
            if not coins:
                return
            t.coin = t.rng.choice(coins)
        mids = self._mids[t.coin].samples
        if not mids:
            return
        target = getattr(self, f"_{t.strategy}")(t, mids, now_ms)
        if target is not None:
            self._trade_to(t, target, mids[-1][1], now_ms)

    @staticmethod
    def _momentum(t: SimTrader, mids: deque[tuple[int, Decimal]], now_ms: int) -> int | None:
        then = [px for ts, px in mids if ts <= now_ms - t.lookback_ms]
        if not then:
            return None
        ret = float(mids[-1][1] / then[-1]) - 1.0
        return 1 if ret > t.threshold else -1 if ret < -t.threshold else None

    @staticmethod
    def _mean_reversion(t: SimTrader, mids: deque[tuple[int, Decimal]], now_ms: int) -> int | None:
        window = [float(px) for ts, px in mids if ts > now_ms - t.lookback_ms]
        if len(window) < 10:
            return None
        mean = sum(window) / len(window)
        std = math.sqrt(sum((x - mean) ** 2 for x in window) / len(window))
        if std <= mean * 1e-9:
            return None
        z = (window[-1] - mean) / std
        return -1 if z > t.threshold else 1 if z < -t.threshold else 0 if abs(z) < 0.3 else None

    @staticmethod
    def _random(t: SimTrader, mids: deque[tuple[int, Decimal]], now_ms: int) -> int | None:
        return t.rng.choice((-1, 0, 1)) if t.rng.random() < 0.5 else None

    # -- orders --------------------------------------------------------------------------------

    def _trade_to(self, t: SimTrader, target: int, mid: Decimal, now_ms: int) -> None:
        """Move the position toward ``target`` × exposure (−1 short, 0 flat, +1 long)."""
        e = self.engine
        assert t.coin is not None
        market = e.universe.by_name[t.coin]
        acct = e.accounts[t.address]
        resting = t.strategy == "mean_reversion"
        if resting:  # a new view replaces the old one's unfilled orders
            for order in [o for o in e.user_open_orders(t.address) if o.coin == t.coin]:
                e.matcher.cancel(t.address, order, now_ms)
        value = acct.account_value(e.marks)
        lot = Decimal(1).scaleb(-market.sz_decimals)
        want = (Decimal(target) * t.exposure * value / mid).quantize(lot, rounding=ROUND_DOWN)
        pos = acct.position(t.coin)
        delta = want - pos
        if delta == 0 or (abs(delta) * mid < MIN_NOTIONAL_USD and want != 0):
            return
        is_buy = delta > 0
        if resting:
            raw = mid * (1 - MAKER_OFFSET) if is_buy else mid * (1 + MAKER_OFFSET)
            px, tif = valid_price(raw, market.sz_decimals, up=not is_buy), "Gtc"
        else:
            raw = mid * (1 + IOC_SLIPPAGE) if is_buy else mid * (1 - IOC_SLIPPAGE)
            px, tif = valid_price(raw, market.sz_decimals, up=is_buy), "Ioc"
        spec = OrderSpec(market.asset, is_buy, px, abs(delta), want == 0, tif, None, None)
        [status] = e.matcher.place(t.address, [spec], "na", now_ms)
        t.orders += 1
        if isinstance(status, dict) and "error" in status:
            t.rejected += 1
            t.last_error = str(status["error"])
