"""Spot markets of the simulated exchange: one ``U<COIN>/USDC`` pair per replayed perpetual.

Hyperliquid lists spot pairs in ``spotMeta`` (tokens and pairs, USDC is token 0); an order's
asset id is ``10000 + pair index``, and a pair without a canonical name is called ``@<index>``
(``@0`` here is UBTC/USDC; the SDK resolves ``"UBTC/USDC"`` to it). Nothing of spot is in the
recordings, so the spot book is *synthetic*: each replayed ``l2Book`` of a perp is copied to its
pair (lazily, when the pair is next looked at: :meth:`SimEngine.spot_book`) with every price moved by a constant basis (``basis_bps``, spot below the perp for a
negative basis) and rounded outwards to the spot tick; sizes are the perp's. What our takers
take stays taken until the perp's next snapshot rebuilds it (as for the perp book). Resting spot
orders fill when a rebuilt book crosses them; there are no replayed spot trades.

Balances: each account holds spot tokens apart from its perp margin (``usdClassTransfer`` moves
USDC between the two). Fees are charged in USDC on both sides — a simplification: the exchange
takes a buy's fee in the token bought. Spot pays no funding and has no leverage: a buy needs the
USDC, a sell the tokens (``Insufficient spot balance``), open orders hold what they may spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from tripwire.sim.exchange import errors, rules
from tripwire.sim.exchange import orders as st
from tripwire.sim.exchange.book import ReplayBook
from tripwire.sim.exchange.errors import OrderRejected
from tripwire.sim.exchange.markets import Universe
from tripwire.sim.exchange.orders import Order
from tripwire.sim.exchange.wire import ZERO, fmt, fmt_px, fmt_usd

if TYPE_CHECKING:
    from tripwire.sim.exchange.engine import SimEngine
    from tripwire.sim.exchange.matching import OrderSpec

SPOT_ASSET_OFFSET = 10_000
USDC = "USDC"
MAX_SPOT_DECIMALS = 8
DEFAULT_BASIS_BPS = Decimal("-1")  # spot 1 bp below the perp: a perp at a small premium

INSUFFICIENT_SPOT = "Insufficient spot balance."  # chosen: no public capture of the exchange's wording
SPOT_REDUCE_ONLY = "Reduce only orders are not supported for spot."  # chosen
SPOT_TRIGGER = "Trigger orders are not supported for spot in the simulator."  # chosen


@dataclass(frozen=True)
class SpotToken:
    index: int
    name: str
    sz_decimals: int
    wei_decimals: int = 8

    def meta_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "szDecimals": self.sz_decimals,
            "weiDecimals": self.wei_decimals,
            "index": self.index,
            "tokenId": "0x" + f"{self.index:032x}",
            "isCanonical": self.index == 0,
            "evmContract": None,
            "fullName": None,
        }


@dataclass(frozen=True)
class SpotPair:
    """One spot market; ``coin`` is its API name (``@index``), ``perp`` the perp it is priced off."""

    index: int
    base: SpotToken
    perp: str

    @property
    def coin(self) -> str:
        return f"@{self.index}"

    @property
    def asset(self) -> int:
        return SPOT_ASSET_OFFSET + self.index

    @property
    def label(self) -> str:
        return f"{self.base.name}/{USDC}"

    def meta_entry(self) -> dict[str, Any]:
        return {"tokens": [self.base.index, 0], "name": self.coin, "index": self.index, "isCanonical": False}


class SpotUniverse:
    """USDC (token 0) and ``U<COIN>`` (token i + 1) for the i-th perp; pair i is ``@i``."""

    def __init__(self, perps: Universe, basis_bps: Decimal = DEFAULT_BASIS_BPS) -> None:
        self.basis = basis_bps / Decimal(10_000)
        self.usdc = SpotToken(0, USDC, 8)
        self.tokens = [self.usdc] + [SpotToken(m.asset + 1, f"U{m.name}", m.sz_decimals) for m in perps.markets]
        self.pairs = [SpotPair(m.asset, self.tokens[m.asset + 1], m.name) for m in perps.markets]
        self.by_coin = {p.coin: p for p in self.pairs}
        self.by_perp = {p.perp: p for p in self.pairs}
        self.token_by_name = {t.name: t for t in self.tokens}

    def by_asset(self, asset: object) -> SpotPair | None:
        if type(asset) is int and asset >= SPOT_ASSET_OFFSET:
            i = asset - SPOT_ASSET_OFFSET
            if i < len(self.pairs):
                return self.pairs[i]
        return None

    def meta(self) -> dict[str, Any]:
        return {"universe": [p.meta_entry() for p in self.pairs], "tokens": [t.meta_entry() for t in self.tokens]}

    def book_from_perp(self, pair: SpotPair, levels: list[Any]) -> list[Any]:
        """The perp's ``[bids, asks]`` (Decimal levels) as the pair's: prices moved by the basis,
        bids rounded down and asks up to the spot tick, sizes unchanged."""

        def side(lvls: list[Any], rounding: str) -> list[Any]:
            out: list[Any] = []
            for px, sz, n in lvls:
                spx = round_spot_px(px * (1 + self.basis), pair.base.sz_decimals, rounding)
                if out and out[-1][0] == spx:
                    out[-1][1] += sz  # two perp levels rounded onto one spot tick
                    out[-1][2] += n
                else:
                    out.append([spx, sz, n])
            return out

        return [side(levels[0], ROUND_FLOOR), side(levels[1], ROUND_CEILING)]


def round_spot_px(px: Decimal, sz_decimals: int, rounding: str) -> Decimal:
    """``px`` on the spot tick: ≤ 5 significant figures and ≤ 8 − szDecimals decimals."""
    decimals = MAX_SPOT_DECIMALS - sz_decimals
    if px >= 1:
        decimals = min(decimals, max(0, rules.MAX_SIG_FIGS - len(str(int(px)))))
    else:
        # 5 significant figures below 1: the first non-zero digit's place plus 4
        decimals = min(decimals, -px.adjusted() + rules.MAX_SIG_FIGS - 1)
    return px.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


@dataclass
class SpotBalance:
    total: Decimal = ZERO
    entry_ntl: Decimal = ZERO  # USDC paid for the tokens still held (their cost basis)


@dataclass
class SpotWallet:
    """An account's spot side: token name → balance (USDC included)."""

    balances: dict[str, SpotBalance] = field(default_factory=dict)

    def total(self, token: str) -> Decimal:
        b = self.balances.get(token)
        return b.total if b else ZERO

    def credit(self, token: str, amount: Decimal, ntl: Decimal = ZERO) -> None:
        b = self.balances.setdefault(token, SpotBalance())
        b.total += amount
        b.entry_ntl += ntl
        if b.total == 0 and token != USDC:
            del self.balances[token]

    def to_json(self) -> dict[str, Any]:
        return {t: {"total": str(b.total), "entryNtl": str(b.entry_ntl)} for t, b in self.balances.items()}


class SpotMatcher:
    """Placement and fills of spot orders against the pairs' synthetic books."""

    def __init__(self, engine: SimEngine) -> None:
        self.e = engine

    def hold(self, user: str, token: str) -> Decimal:
        """What ``user``'s open spot orders may spend of ``token``."""
        held = ZERO
        for o in self.e.open.values():
            pair = self.e.spot.by_coin.get(o.coin)
            if pair is None or o.user != user:
                continue
            if o.is_buy and token == USDC:
                held += o.sz * o.limit_px * (1 + max(self.e.fees.spot_maker, ZERO))
            elif not o.is_buy and token == pair.base.name:
                held += o.sz
        return held

    def available(self, user: str, token: str) -> Decimal:
        return self.e.accounts[user].spot.total(token) - self.hold(user, token)

    def new_order(self, user: str, spec: OrderSpec, now_ms: int) -> Order:
        pair = self.e.spot.by_asset(spec.asset)
        assert pair is not None  # unknown assets are refused before the batch starts
        if spec.trigger is not None:
            raise OrderRejected(SPOT_TRIGGER)
        if spec.reduce_only:
            raise OrderRejected(SPOT_REDUCE_ONLY)
        rules.check_price(spec.limit_px, pair.base.sz_decimals, MAX_SPOT_DECIMALS)
        rules.check_size(spec.sz, pair.base.sz_decimals)
        rules.check_notional(spec.limit_px, spec.sz, False)
        if spec.cloid is not None and self.e.open_by_cloid(user, spec.cloid) is not None:
            raise OrderRejected("Duplicate cloid")
        if spec.is_buy:
            fee = max(self.e.fees.spot_taker, self.e.fees.spot_maker, ZERO)
            if spec.sz * spec.limit_px * (1 + fee) > self.available(user, USDC):
                raise OrderRejected(INSUFFICIENT_SPOT)
        elif spec.sz > self.available(user, pair.base.name):
            raise OrderRejected(INSUFFICIENT_SPOT)
        return Order(
            oid=self.e.next_oid(),
            user=user,
            coin=pair.coin,
            is_buy=spec.is_buy,
            limit_px=spec.limit_px,
            sz=spec.sz,
            orig_sz=spec.sz,
            tif=spec.tif,
            reduce_only=False,
            timestamp=now_ms,
            cloid=spec.cloid,
            status_timestamp=now_ms,
        )

    def submit(self, order: Order, now_ms: int) -> object:
        """Execute or rest one spot order; its status entry (as :meth:`Matcher._submit`)."""
        e = self.e
        book = e.spot_book(order.coin)
        if order.tif == "Alo":
            opp = book.best_ask if order.is_buy else book.best_bid
            if opp is not None and (order.limit_px >= opp if order.is_buy else order.limit_px <= opp):
                bid = fmt(book.best_bid) if book.best_bid is not None else ""
                ask = fmt(book.best_ask) if book.best_ask is not None else ""
                raise OrderRejected(errors.BAD_ALO_PX.format(bbo=f"{bid}@{ask}"))
            e.add_open(order, now_ms)
            return {"resting": e.matcher._oid_entry(order)}
        fills = book.take(order.is_buy, order.limit_px, order.sz)
        if order.tif == "Ioc" and not fills:
            raise OrderRejected(errors.IOC_CANCEL)
        e.add_order(order)
        filled = notional = ZERO
        for px, sz in fills:
            e.matcher.fill(order, px, sz, crossed=True, now_ms=now_ms)
            filled += sz
            notional += px * sz
        if order.sz > 0 and order.tif == "Gtc":
            e.add_open(order, now_ms)
            return {"resting": e.matcher._oid_entry(order)}
        if order.sz > 0:
            e.close_order(order, st.CANCELED, now_ms)
        entry = {"totalSz": fmt(filled), "avgPx": fmt(notional / filled), "oid": order.oid}
        if order.cloid:
            entry["cloid"] = order.cloid
        return {"filled": entry}

    def on_book(self, coin: str, now_ms: int) -> None:
        """A rebuilt spot book: resting spot orders it crosses fill as maker at their price."""
        book = self.e.spot_book(coin)
        for order in self.e.resting_limits(coin):
            opp = book.best_ask if order.is_buy else book.best_bid
            if opp is None or (opp > order.limit_px if order.is_buy else opp < order.limit_px):
                continue
            taken = sum((sz for _px, sz in book.take(order.is_buy, order.limit_px, order.sz)), ZERO)
            if taken > 0:
                self.e.matcher.fill(order, order.limit_px, min(taken, order.sz), crossed=False, now_ms=now_ms)

    def apply_fill(self, order: Order, px: Decimal, sz: Decimal, fee: Decimal) -> dict[str, Any]:
        """Move the balances by one spot fill; the fill's account-side fields."""
        pair = self.e.spot.by_coin[order.coin]
        wallet = self.e.accounts[order.user].spot
        base = pair.base.name
        start = wallet.total(base)
        closed = ZERO
        if order.is_buy:
            wallet.credit(USDC, -(px * sz) - fee)
            wallet.credit(base, sz, px * sz)
        else:
            held = wallet.balances.get(base)
            cost = held.entry_ntl * sz / held.total if held is not None and held.total > 0 else ZERO
            closed = px * sz - cost
            wallet.credit(base, -sz, -cost)
            wallet.credit(USDC, px * sz - fee)
        return {
            "startPosition": fmt(start),
            "dir": "Buy" if order.is_buy else "Sell",
            "closedPnl": fmt_usd(closed),
        }


def spot_clearinghouse_state(engine: SimEngine, user: str) -> dict[str, Any]:
    """The ``spotClearinghouseState`` answer: every token held, with what open orders hold."""
    acct = engine.accounts.get(user)
    if acct is None:
        return {"balances": []}
    out = []
    for token in engine.spot.tokens:
        b = acct.spot.balances.get(token.name)
        hold = engine.spot_matcher.hold(user, token.name)
        if b is None and hold == 0:
            continue
        out.append(
            {
                "coin": token.name,
                "token": token.index,
                "hold": fmt(hold),
                "total": fmt(b.total if b else ZERO),
                "entryNtl": fmt_usd(b.entry_ntl if b else ZERO),
            }
        )
    return {"balances": out}


def spot_asset_ctxs(engine: SimEngine) -> list[dict[str, Any]]:
    """``spotMetaAndAssetCtxs``' second element: one context per pair, from its synthetic book."""
    out = []
    for pair in engine.spot.pairs:
        mid = engine.spot_book(pair.coin).mid()
        mid_s = fmt_px(mid) if mid is not None else None
        out.append(
            {
                "dayNtlVlm": "0.0",
                "markPx": mid_s or "0.0",
                "midPx": mid_s,
                "prevDayPx": mid_s or "0.0",
                "circulatingSupply": "0.0",
                "coin": pair.coin,
            }
        )
    return out


def new_spot_books(spot: SpotUniverse) -> dict[str, ReplayBook]:
    return {p.coin: ReplayBook(p.coin) for p in spot.pairs}
