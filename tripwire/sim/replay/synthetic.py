"""Seeded synthetic ``trades`` and ``activeAssetCtx`` messages consistent with a replayed real book.

No long public capture of Hyperliquid's ``trades`` or ``activeAssetCtx`` channels exists, but the
``l2Book`` archive does. This module fills the gap: fed the real book messages in order, it
generates aggressive orders that walk the *previous* book's levels, rare liquidation cascades, and
asset contexts every one to three seconds, all in Hyperliquid's wire shapes with string numbers.
The model and every parameter are described in ``docs/REPLAY.md`` (section "Synthetic trades and
asset contexts"); the parameters live in :class:`SyntheticConfig`.

Design choices, and why:

- Causal: the messages generated for the interval (previous book, this book) use only books up to
  the previous one, so a strategy replayed on the merged stream can never see the future through
  the synthetic trades.
- Exact, not time-stepped: arrivals are a Hawkes process simulated by Ogata thinning with
  competing exponential clocks, so the output does not depend on a step size, and splitting the
  work per book interval is exact (the exponential clocks are memoryless).
- Deterministic: one ``random.Random`` per coin, seeded from ``(seed, coin)`` through SHA-256, so
  the same seed gives a byte-identical stream on every run and adding a coin to a replay does not
  change any other coin's stream. Only the standard library is used.
- Prices and sizes are handled as the book's own strings and integer lots (``10**-szDecimals``),
  so every fill price is one of the book's price strings and no float rounding leaks into sizes.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields

LIQUIDATOR = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"
"""Hyperliquid's HLP Liquidator vault: the counterparty on every synthetic liquidation fill."""

_MAX_PERP_DECIMALS = 6  # perp prices carry at most 6 - szDecimals decimals (Hyperliquid tick rule)
_INF = float("inf")


class SyntheticConfigError(ValueError):
    """A :class:`SyntheticConfig` field is out of range; the message names the field."""


@dataclass(frozen=True)
class SyntheticConfig:
    """Every parameter of the synthetic market model. Defaults are tuned for BTC.

    Rates are per second unless the name says otherwise; money is USD; moves are in basis points
    of the mid over the last ``move_window_ms``. See docs/REPLAY.md for the model.
    """

    # Arrivals of aggressive orders: a Hawkes process with an exponential kernel.
    base_rate_per_s: float = 1.5
    excitation_per_order: float = 0.8  # intensity (1/s) each order adds
    excitation_decay_per_s: float = 2.0  # branching ratio = 0.8 / 2.0 = 0.4
    move_rate_per_bps: float = 0.4  # intensity (1/s) added per bp of |recent mid move|
    move_window_ms: int = 10_000
    max_gap_ms: int = 5_000  # a longer gap between books is an outage: nothing is generated in it

    # Order notional: lognormal body with a Pareto tail, capped by visible depth.
    notional_median_usd: float = 3_000.0
    notional_sigma: float = 1.2
    tail_prob: float = 0.06
    tail_min_usd: float = 20_000.0
    tail_alpha: float = 1.5
    max_order_notional_usd: float = 1_500_000.0
    min_order_notional_usd: float = 10.0  # Hyperliquid's minimum order value

    # Aggressor side: P(buy) = logistic(a * recent move bps + b * top-of-book imbalance).
    side_move_coef_per_bps: float = 0.5
    side_imbalance_coef: float = 1.0
    imbalance_levels: int = 5

    # Liquidation cascades: hazard = base * min(exp(gain * |move|), max multiplier).
    liq_cascades_per_hour: float = 1.2
    liq_move_gain_per_bps: float = 0.8
    liq_max_multiplier: float = 25.0
    liq_side_coef_per_bps: float = 1.0  # P(longs liquidated) = logistic(-coef * move)
    liq_orders_mean: float = 5.0  # orders per cascade, at least 2 (2 + geometric)
    liq_gap_ms_mean: float = 150.0
    liq_notional_median_usd: float = 25_000.0
    liq_notional_sigma: float = 1.0

    # Asset contexts.
    ctx_interval_ms: tuple[int, int] = (1_000, 3_000)
    open_interest_usd: float = 300_000_000.0  # initial, converted to coins at the first mid
    oi_walk_frac_per_sqrt_s: float = 2e-5
    oi_volume_share: float = 0.3
    oi_volume_bias: float = 0.2  # OI change per ctx = share * volume * N(bias, 1)
    oi_jumps_per_hour: float = 4.0
    oi_jump_frac: tuple[float, float] = (0.005, 0.03)
    funding_mean: float = 1.25e-5  # hourly; Hyperliquid's interest-rate baseline
    funding_half_life_s: float = 1_800.0
    funding_vol_per_sqrt_s: float = 8e-8
    funding_jumps_per_hour: float = 3.0
    funding_jump: tuple[float, float] = (3e-6, 1.5e-5)
    oracle_discount_mean: float = 2e-4  # oracle = mid * (1 - d), d mean-reverting
    oracle_discount_sd: float = 1.5e-4
    oracle_discount_half_life_s: float = 60.0
    basis_ema_s: float = 150.0  # Hyperliquid's mark uses a 150 s EMA of (mid - oracle)
    prev_day_move_sd: float = 0.015
    day_ntl_vlm_usd: float = 600_000_000.0  # rolling-24h volume before the replay starts
    impact_notional_usd: float = 20_000.0

    # Accounts.
    trader_pool: int = 2_000
    maker_pool: int = 40
    sz_decimals: tuple[tuple[str, int], ...] = (("BTC", 5), ("ETH", 4), ("SOL", 2))

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and (not math.isfinite(v) or v < 0):
                raise SyntheticConfigError(f"SyntheticConfig.{f.name}: must be a finite number >= 0, got {v!r}")
        if self.base_rate_per_s <= 0:
            raise SyntheticConfigError("SyntheticConfig.base_rate_per_s: must be > 0")
        if self.excitation_decay_per_s <= 0 or self.excitation_per_order >= self.excitation_decay_per_s:
            raise SyntheticConfigError(
                "SyntheticConfig.excitation_per_order must be below excitation_decay_per_s "
                f"(branching ratio < 1), got {self.excitation_per_order} / "
                f"{self.excitation_decay_per_s}"
            )
        for name in ("ctx_interval_ms", "oi_jump_frac", "funding_jump"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise SyntheticConfigError(f"SyntheticConfig.{name}: need 0 <= low <= high, got ({lo}, {hi})")
        if self.ctx_interval_ms[1] <= 0:
            raise SyntheticConfigError("SyntheticConfig.ctx_interval_ms: high must be > 0")
        if self.liq_orders_mean < 2:
            raise SyntheticConfigError("SyntheticConfig.liq_orders_mean: must be >= 2")
        for name in (
            "notional_median_usd",
            "tail_min_usd",
            "tail_alpha",
            "liq_notional_median_usd",
            "trader_pool",
            "maker_pool",
            "funding_half_life_s",
            "oracle_discount_half_life_s",
            "basis_ema_s",
            "open_interest_usd",
            "imbalance_levels",
            "move_window_ms",
        ):
            if getattr(self, name) <= 0:
                raise SyntheticConfigError(f"SyntheticConfig.{name}: must be > 0")
        if not 0 <= self.tail_prob <= 1:
            raise SyntheticConfigError("SyntheticConfig.tail_prob: must be within [0, 1]")


class SyntheticStats:
    """Running counts of what a :class:`SyntheticMarket` has generated."""

    __slots__ = (
        "orders",
        "fills",
        "liquidation_orders",
        "liquidation_fills",
        "cascades",
        "ctx_messages",
        "oi_jumps",
        "funding_jumps",
        "notional_usd",
        "skipped_books",
    )

    def __init__(self) -> None:
        self.orders = 0
        self.fills = 0
        self.liquidation_orders = 0
        self.liquidation_fills = 0
        self.cascades = 0
        self.ctx_messages = 0
        self.oi_jumps = 0
        self.funding_jumps = 0
        self.notional_usd = 0.0
        self.skipped_books = 0  # book messages that could not be read (empty side, bad shape)

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__slots__}


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _fmt_sz(units: int, decimals: int) -> str:
    """Integer lots → Hyperliquid's size string ("0.0023", "1.0")."""
    if decimals == 0:
        return f"{units}.0"
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{(f'{frac:0{decimals}d}'.rstrip('0') or '0')}"


def _fmt_dec(x: float, decimals: int) -> str:
    """Fixed decimals, trailing zeros stripped but one kept ("42728.0", "0.0000125")."""
    s = f"{x:.{decimals}f}".rstrip("0")
    s = s + "0" if s.endswith(".") else s
    return "0.0" if s == "-0.0" else s


def _round_px(x: float, max_decimals: int) -> float:
    """Hyperliquid's price rule: 5 significant figures (integers always OK), capped decimals."""
    if x >= 100_000:
        return float(round(x))
    return round(float(f"{x:.5g}"), max_decimals)


def _rng_for(seed: int, coin: str) -> random.Random:
    digest = hashlib.sha256(f"tripwire.synthetic:{seed}:{coin}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


class _Book:
    """One l2Book snapshot: top of book eagerly, full depth parsed on first use.

    Depth is parsed lazily because most book intervals hold no order; the integer lot lists are
    this snapshot's own, so orders within one interval consume them (a second buy in the same
    interval meets what the first left).
    """

    __slots__ = ("time", "raw", "best_bid", "best_ask", "mid", "imbalance", "_depth")

    def __init__(self, time_ms: int, bids: list, asks: list, imbalance_levels: int):
        self.time = time_ms
        self.raw = (bids, asks)
        self.best_bid = float(bids[0]["px"])
        self.best_ask = float(asks[0]["px"])
        self.mid = 0.5 * (self.best_bid + self.best_ask)
        b = sum(float(lv["sz"]) for lv in bids[:imbalance_levels])
        a = sum(float(lv["sz"]) for lv in asks[:imbalance_levels])
        self.imbalance = (b - a) / (b + a) if b + a > 0 else 0.0
        self._depth: list | None = None

    def side(self, is_buy: bool, scale: int) -> tuple[list[str], list[float], list[int]]:
        """The levels a buy (asks) or sell (bids) walks: px strings, px floats, lots left."""
        if self._depth is None:
            self._depth = [self._parse(levels, scale) for levels in self.raw]
        return self._depth[1 if is_buy else 0]

    @staticmethod
    def _parse(levels: list, scale: int) -> tuple[list[str], list[float], list[int]]:
        px_s = [lv["px"] for lv in levels]
        return px_s, [float(p) for p in px_s], [round(float(lv["sz"]) * scale) for lv in levels]


def _read_book(msg: dict, coin: str, imbalance_levels: int) -> _Book | None:
    """The book in ``msg``, or None if it cannot be traded against (bad shape, empty side)."""
    data = msg.get("data") if type(msg) is dict else None
    if type(data) is not dict or msg.get("channel") != "l2Book":
        raise ValueError(f"SyntheticMarket.on_book needs an l2Book message, got {str(msg)[:80]}")
    if data.get("coin") != coin:
        raise ValueError(f"SyntheticMarket for {coin!r} got a book for {data.get('coin')!r}")
    try:
        bids, asks = data["levels"]
        if not bids or not asks or type(data["time"]) is not int:
            return None
        book = _Book(data["time"], bids, asks, imbalance_levels)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if not (0 < book.best_bid < book.best_ask < _INF):
        return None
    return book


class SyntheticMarket:
    """Synthetic trades and asset contexts for one coin, driven by that coin's real books.

    Call :meth:`on_book` with each ``l2Book`` message in order. It returns the messages whose
    times lie strictly between the previous book's time and this one's, generated against the
    previous book, in time order. The first book only sets the state and returns nothing.
    """

    def __init__(self, coin: str, seed: int = 7, cfg: SyntheticConfig | None = None):
        self.coin = coin
        self.cfg = cfg = cfg or SyntheticConfig()
        self.stats = SyntheticStats()
        self._rng = rng = _rng_for(seed, coin)
        self._traders = [f"0x{rng.getrandbits(160):040x}" for _ in range(cfg.trader_pool)]
        self._makers = [f"0x{rng.getrandbits(160):040x}" for _ in range(cfg.maker_pool)]
        self._tid = rng.getrandbits(46)
        known = dict(cfg.sz_decimals)
        self._sz_dec: int | None = known.get(coin)
        self._scale = 0
        self._px_dec = 0
        self._book: _Book | None = None
        self._mids: deque[tuple[int, float]] = deque()
        # Per-ms rates: the simulation clock runs in exchange milliseconds.
        self._mu = cfg.base_rate_per_s / 1000.0
        self._alpha = cfg.excitation_per_order / 1000.0
        self._beta = cfg.excitation_decay_per_s / 1000.0
        self._excite = 0.0
        # Liquidation cascade in progress: orders left, aggressor side, next order time.
        self._cascade_left = 0
        self._cascade_buy = False
        self._cascade_next = _INF
        # Asset-context state; initialised at the first book (needs a price).
        self._ctx_next = _INF
        self._ctx_last = 0.0
        self._oi = 0.0
        self._funding = cfg.funding_mean
        self._discount = cfg.oracle_discount_mean
        self._basis_ema = 0.0
        self._prev_day_px = ""
        self._day_ntl0 = 0.0
        self._day_base0 = 0.0
        self._day_ntl = 0.0
        self._day_base = 0.0
        self._vol_since_ctx = 0.0
        self._liq_vol_since_ctx = 0.0
        self._last_trade_px = 0.0

    # ---- public --------------------------------------------------------------------------

    def on_book(self, msg: dict) -> list[dict]:
        """Messages (trades, activeAssetCtx) in (previous book time, this book time), in order."""
        return [m for _, m in self.on_book_timed(msg)]

    def on_book_timed(self, msg: dict) -> list[tuple[int, dict]]:
        """As :meth:`on_book`, each message paired with its exchange time in ms.

        ``activeAssetCtx`` carries no time on the wire; the pair gives a replayer the time to
        release it at.
        """
        book = _read_book(msg, self.coin, self.cfg.imbalance_levels)
        if book is None:
            # Unreadable snapshot: forget the previous book rather than trade across the hole.
            self.stats.skipped_books += 1
            self._book = None
            self._mids.clear()
            return []
        prev = self._book
        out: list[tuple[int, dict]] = []
        if prev is None:
            self._start(book)
        elif book.time - prev.time > self.cfg.max_gap_ms:
            self._outage(book.time)
        elif book.time - prev.time >= 2:  # room for at least one millisecond strictly inside
            self._simulate(prev, book.time, out)
        self._book = book
        self._remember_mid(book)
        return out

    # ---- state -----------------------------------------------------------------------------

    def _start(self, book: _Book) -> None:
        cfg, rng = self.cfg, self._rng
        if self._sz_dec is None:  # unknown coin: the book's size strings show its lot size
            self._sz_dec = max(len(lv["sz"].partition(".")[2]) for side in book.raw for lv in side)
        self._scale = 10**self._sz_dec
        self._px_dec = max(_MAX_PERP_DECIMALS - self._sz_dec, 0)
        if not self._prev_day_px:  # first book ever: day figures and OI in coins
            mid = book.mid
            self._prev_day_px = _fmt_dec(
                _round_px(mid * (1.0 + rng.gauss(0.0, cfg.prev_day_move_sd)), self._px_dec), self._px_dec
            )
            self._oi = cfg.open_interest_usd / mid
            self._day_ntl0 = cfg.day_ntl_vlm_usd
            self._day_base0 = cfg.day_ntl_vlm_usd / mid
            self._basis_ema = mid * self._discount
            self._last_trade_px = mid
        self._ctx_last = float(book.time)
        self._ctx_next = book.time + rng.uniform(0.0, cfg.ctx_interval_ms[1])

    def _outage(self, t1: int) -> None:
        # No trades during a hole in the book feed; the excitation has long decayed by then.
        self._excite = 0.0
        self._cascade_left = 0
        self._cascade_next = _INF
        self._mids.clear()
        self._ctx_next = t1 + self._rng.uniform(0.0, self.cfg.ctx_interval_ms[1])

    def _remember_mid(self, book: _Book) -> None:
        mids = self._mids
        mids.append((book.time, book.mid))
        cutoff = book.time - self.cfg.move_window_ms
        # Keep the last book at or before the window start as the reference.
        while len(mids) >= 2 and mids[1][0] <= cutoff:
            mids.popleft()

    def _recent_move_bps(self) -> float:
        ref = self._mids[0][1]
        return (self._mids[-1][1] - ref) / ref * 1e4

    # ---- simulation ---------------------------------------------------------------------

    def _simulate(self, book: _Book, t1: int, out: list) -> None:
        """Ogata thinning over [book.time, t1) with competing clocks for cascades and contexts."""
        cfg, rng = self.cfg, self._rng
        expo = rng.expovariate
        move = self._recent_move_bps()
        mu = self._mu + cfg.move_rate_per_bps * abs(move) / 1000.0
        p_buy = _logistic(cfg.side_move_coef_per_bps * move + cfg.side_imbalance_coef * book.imbalance)
        liq_mult = min(math.exp(min(cfg.liq_move_gain_per_bps * abs(move), 700.0)), cfg.liq_max_multiplier)
        h_liq = cfg.liq_cascades_per_hour / 3_600_000.0 * liq_mult
        beta, alpha = self._beta, self._alpha
        t = float(book.time)
        end = float(t1)
        excite = self._excite
        while True:
            lam = mu + excite
            s_order = t + expo(lam)
            s_liq = t + expo(h_liq) if self._cascade_left == 0 and h_liq > 0 else _INF
            s_casc = max(self._cascade_next, t) if self._cascade_left else _INF
            s_ctx = max(self._ctx_next, t)
            s = min(s_order, s_liq, s_casc, s_ctx)
            if s >= end:
                excite *= math.exp(-beta * (end - t))
                break
            excite *= math.exp(-beta * (s - t))
            t = s
            ms = min(int(s) + 1, t1 - 1)
            if s == s_order:
                if rng.random() * lam <= mu + excite:  # thinning: accept at λ(s)/λ̄
                    is_buy = rng.random() < p_buy
                    if self._order(book, ms, is_buy, self._notional(), out, liquidation=False):
                        excite += alpha
            elif s == s_liq:
                self._start_cascade(move, s)
            elif s == s_casc:
                notional = rng.lognormvariate(math.log(cfg.liq_notional_median_usd), cfg.liq_notional_sigma)
                if self._order(book, ms, self._cascade_buy, notional, out, liquidation=True):
                    excite += alpha
                self._cascade_left -= 1
                if not self._cascade_left:
                    self._cascade_next = _INF
                elif cfg.liq_gap_ms_mean > 0:
                    self._cascade_next = s + expo(1.0 / cfg.liq_gap_ms_mean)
            else:
                out.append((ms, self._ctx(book, s)))
                lo, hi = cfg.ctx_interval_ms
                self._ctx_next = s + max(rng.uniform(lo, hi), 1.0)
        self._excite = excite

    def _start_cascade(self, move: float, s: float) -> None:
        cfg, rng = self.cfg, self._rng
        longs_liquidated = rng.random() < _logistic(-cfg.liq_side_coef_per_bps * move)
        self._cascade_buy = not longs_liquidated  # forced sells when longs are liquidated
        extra = 0
        if cfg.liq_orders_mean > 2:  # geometric with mean liq_orders_mean - 2
            q = 1.0 - 1.0 / (cfg.liq_orders_mean - 1.0)
            extra = int(math.log(1.0 - rng.random()) / math.log(q)) if q > 0 else 0
        self._cascade_left = 2 + extra
        self._cascade_next = s
        self.stats.cascades += 1

    def _notional(self) -> float:
        cfg, rng = self.cfg, self._rng
        if rng.random() < cfg.tail_prob:
            x = cfg.tail_min_usd * rng.paretovariate(cfg.tail_alpha)
        else:
            x = rng.lognormvariate(math.log(cfg.notional_median_usd), cfg.notional_sigma)
        return min(x, cfg.max_order_notional_usd)

    def _order(self, book: _Book, ms: int, is_buy: bool, notional: float, out: list, liquidation: bool) -> bool:
        """One aggressive order walking ``book``'s levels; appends one trades message."""
        cfg, rng, scale = self.cfg, self._rng, self._scale
        px_s, px_f, lots = book.side(is_buy, scale)
        depth = sum(lots)
        if depth <= 0:
            return False
        best = px_f[0]
        want = max(round(notional / best * scale), math.ceil(cfg.min_order_notional_usd / best * scale), 1)
        want = min(want, depth)
        taker = self._traders[int(len(self._traders) * rng.random() ** 2)]
        h = f"0x{rng.getrandbits(256):064x}"
        side = "B" if is_buy else "A"
        coin = self.coin
        fills = []
        base = ntl = 0.0
        i = 0
        while want > 0:
            take = min(lots[i], want)
            if take > 0:
                lots[i] -= take
                want -= take
                if liquidation:
                    # Brief's convention: liquidator buys the longs' forced sells, sells to shorts.
                    users = [LIQUIDATOR, taker] if not is_buy else [taker, LIQUIDATOR]
                else:
                    maker = self._makers[int(len(self._makers) * rng.random() ** 2)]
                    users = [taker, maker] if is_buy else [maker, taker]
                self._tid += 1
                fills.append(
                    {
                        "coin": coin,
                        "side": side,
                        "px": px_s[i],
                        "sz": _fmt_sz(take, self._sz_dec or 0),
                        "time": ms,
                        "hash": h,
                        "tid": self._tid,
                        "users": users,
                    }
                )
                q = take / scale
                base += q
                ntl += q * px_f[i]
                last_px = px_f[i]
            i += 1
        out.append((ms, {"channel": "trades", "data": fills}))
        st = self.stats
        st.orders += 1
        st.fills += len(fills)
        st.notional_usd += ntl
        if liquidation:
            st.liquidation_orders += 1
            st.liquidation_fills += len(fills)
            self._liq_vol_since_ctx += base
        self._vol_since_ctx += base
        self._day_ntl += ntl
        self._day_base += base
        self._last_trade_px = last_px
        return True

    def _ctx(self, book: _Book, s: float) -> dict:
        """Advance the context processes to time ``s`` and return an activeAssetCtx message."""
        cfg, rng = self.cfg, self._rng
        dt = max((s - self._ctx_last) / 1000.0, 0.0)
        self._ctx_last = s
        mid = book.mid

        # Funding: Ornstein-Uhlenbeck towards the baseline, plus rare jumps.
        th = math.log(2.0) / cfg.funding_half_life_s
        decay = math.exp(-th * dt)
        noise_sd = cfg.funding_vol_per_sqrt_s * math.sqrt((1.0 - decay * decay) / (2.0 * th))
        self._funding = cfg.funding_mean + (self._funding - cfg.funding_mean) * decay + noise_sd * rng.gauss(0, 1)
        if rng.random() < 1.0 - math.exp(-cfg.funding_jumps_per_hour * dt / 3600.0):
            self._funding += rng.uniform(*cfg.funding_jump) * (1 if rng.random() < 0.5 else -1)
            self.stats.funding_jumps += 1

        # Open interest (coins): diffusion, a share of traded volume, liquidations close positions.
        oi = self._oi
        oi += oi * cfg.oi_walk_frac_per_sqrt_s * math.sqrt(dt) * rng.gauss(0, 1)
        oi += cfg.oi_volume_share * self._vol_since_ctx * rng.gauss(cfg.oi_volume_bias, 1.0)
        oi -= self._liq_vol_since_ctx
        if rng.random() < 1.0 - math.exp(-cfg.oi_jumps_per_hour * dt / 3600.0):
            oi *= 1.0 + rng.uniform(*cfg.oi_jump_frac) * (1 if rng.random() < 0.5 else -1)
            self.stats.oi_jumps += 1
        self._oi = oi = max(oi, 1.0 / self._scale)
        self._vol_since_ctx = self._liq_vol_since_ctx = 0.0

        # Oracle a little below mid (perp premium), mark = median of three as Hyperliquid does.
        th = math.log(2.0) / cfg.oracle_discount_half_life_s
        decay = math.exp(-th * dt)
        self._discount = (
            cfg.oracle_discount_mean
            + (self._discount - cfg.oracle_discount_mean) * decay
            + cfg.oracle_discount_sd * math.sqrt(1.0 - decay * decay) * rng.gauss(0, 1)
        )
        dec = self._px_dec
        oracle = _round_px(mid * (1.0 - self._discount), dec)
        w = 1.0 - math.exp(-dt / cfg.basis_ema_s)
        self._basis_ema += w * ((mid - oracle) - self._basis_ema)
        a, b, c = mid, oracle + self._basis_ema, self._last_trade_px
        mark = _round_px(max(min(a, b), min(max(a, b), c)), dec)
        premium = mark / oracle - 1.0

        impact_bid = self._impact_px(book, is_buy=False)
        impact_ask = self._impact_px(book, is_buy=True)
        self.stats.ctx_messages += 1
        return {
            "channel": "activeAssetCtx",
            "data": {
                "coin": self.coin,
                "ctx": {
                    "funding": _fmt_dec(self._funding, 8),
                    "openInterest": _fmt_sz(round(oi * self._scale), self._sz_dec or 0),
                    "prevDayPx": self._prev_day_px,
                    "dayNtlVlm": _fmt_dec(self._day_ntl0 + self._day_ntl, 2),
                    "premium": _fmt_dec(premium, 8),
                    "oraclePx": _fmt_dec(oracle, dec),
                    "markPx": _fmt_dec(mark, dec),
                    "midPx": _fmt_dec(mid, dec),
                    "impactPxs": [_fmt_dec(_round_px(impact_bid, dec), dec), _fmt_dec(_round_px(impact_ask, dec), dec)],
                    "dayBaseVlm": _fmt_sz(round((self._day_base0 + self._day_base) * self._scale), self._sz_dec or 0),
                },
            },
        }

    def _impact_px(self, book: _Book, is_buy: bool) -> float:
        """Average price of a market order of ``impact_notional_usd`` against the book now."""
        _, px_f, lots = book.side(is_buy, self._scale)
        left = self.cfg.impact_notional_usd
        base = ntl = 0.0
        for px, lot in zip(px_f, lots):
            level = lot / self._scale * px
            take = min(level, left)
            ntl += take
            base += take / px
            left -= take
            if left <= 0:
                break
        return ntl / base if base > 0 else px_f[0]


def with_synthetic(messages: Iterable[dict], seed: int = 7, cfg: SyntheticConfig | None = None) -> Iterator[dict]:
    """Merge synthetic trades and contexts into a stream of real messages.

    For each ``l2Book`` message, yields what that coin's :class:`SyntheticMarket` generated for
    the interval before it, then the book message itself; other messages pass through
    unchanged. One market per coin, each with its own RNG stream. Time order holds per coin;
    with several coins interleaved, a coin's synthetic messages can predate another coin's
    already-yielded book by up to one book interval.
    """
    markets: dict[str, SyntheticMarket] = {}
    for msg in messages:
        if type(msg) is dict and msg.get("channel") == "l2Book":
            data = msg.get("data")
            coin = data.get("coin") if type(data) is dict else None
            if type(coin) is str:
                market = markets.get(coin)
                if market is None:
                    market = markets[coin] = SyntheticMarket(coin, seed, cfg)
                yield from market.on_book(msg)
        yield msg
