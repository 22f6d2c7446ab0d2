"""The simulated exchange's state and its reactions to market data and time. No I/O.

The shell (server, replay) calls in with explicit ``now_ms`` values and drains :attr:`outbox`
after each call; the outbox holds ``(channel, key, data)`` tuples — ``key`` is the user for
user channels (``orderUpdates``, ``userFills``, ``user``) and the coin for ``trades``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from tripwire.sim.exchange import orders as st
from tripwire.sim.exchange.accounts import Account
from tripwire.sim.exchange.book import ReplayBook
from tripwire.sim.exchange.candles import CandleBook
from tripwire.sim.exchange.leaderboard import EquityHistory
from tripwire.sim.exchange.markets import Universe
from tripwire.sim.exchange.matching import Matcher
from tripwire.sim.exchange.nonces import NonceBook
from tripwire.sim.exchange.orders import Order
from tripwire.sim.exchange.queue import QueueModel
from tripwire.sim.exchange.spot import SpotMatcher, SpotUniverse, new_spot_books
from tripwire.sim.exchange.wire import ZERO, fmt, fmt_usd, market_decimal

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Fees:
    """Fee rates as fractions (0.00045 = 0.045 %), Hyperliquid's base tier by default."""

    taker: Decimal = Decimal("0.00045")
    maker: Decimal = Decimal("0.00015")
    # spot's base tier is dearer than the perps' (Hyperliquid's fee schedule: 0.070 % / 0.040 %)
    spot_taker: Decimal = Decimal("0.0007")
    spot_maker: Decimal = Decimal("0.0004")


class SimEngine:
    def __init__(
        self,
        universe: Universe | None = None,
        fees: Fees = Fees(),
        queue_model: QueueModel | None = None,
        spot: SpotUniverse | None = None,
    ) -> None:
        self.universe = universe or Universe()
        # one U<COIN>/USDC pair per perp, its book a copy of the perp's at a basis (spot.py)
        self.spot = spot or SpotUniverse(self.universe)
        self.spot_books = new_spot_books(self.spot)  # read them through spot_book(): built lazily
        # pair → its perp's last snapshot, not yet copied to the pair's book (copying costs ~0.1 ms,
        # so it happens when the pair is looked at, not on every replayed book)
        self._spot_snapshots: dict[str, tuple[list, list, int]] = {}
        self.fees = fees
        # None: a resting order fills when a trade prints at its price (no queue ahead of it)
        self.queue_model = queue_model
        self.books = {m.name: ReplayBook(m.name) for m in self.universe.markets}
        self.ctxs: dict[str, dict] = {}
        self.marks: dict[str, Decimal] = {}
        self.candles = CandleBook()
        self.accounts: dict[str, Account] = {}
        self.equity = EquityHistory()  # what the leaderboard's windows start from
        self.nonces = NonceBook()
        self.orders: dict[int, Order] = {}  # every order ever accepted, by oid
        self.open: dict[int, Order] = {}  # resting limits and live triggers
        self.waiting_children: dict[int, Order] = {}  # normalTpsl children before the parent fills
        self.schedule: dict[str, int] = {}  # user -> scheduled cancel-all time
        self.schedule_count: dict[str, tuple[int, int]] = {}  # user -> (utc day, triggers that day)
        self.funding_history: dict[str, list[dict]] = {}
        self.outbox: list[tuple[str, str, object]] = []
        self.matcher = Matcher(self)
        self.spot_matcher = SpotMatcher(self)
        self._oid = 0
        self._tid = 0
        self._funding_hour: int | None = None

    # -- ids -----------------------------------------------------------------------------------

    def next_oid(self) -> int:
        self._oid += 1
        return self._oid

    def _next_tid(self) -> int:
        self._tid += 1
        return self._tid

    # -- accounts ------------------------------------------------------------------------------

    def fund(self, user: str, usdc: Decimal) -> Account:
        """Add ``usdc`` to ``user`` (creating the account, like a deposit)."""
        acct = self.accounts.setdefault(user.lower(), Account(user.lower()))
        acct.balance += usdc
        acct.net_deposits += usdc
        return acct

    def reset(self, user: str, usdc: Decimal) -> Account:
        """Replace ``user``'s account with a flat one holding ``usdc``; their orders are canceled."""
        user = user.lower()
        for order in [o for o in self.open.values() if o.user == user]:
            self.close_order(order, st.CANCELED, order.status_timestamp)
        for oid in [oid for oid, o in self.waiting_children.items() if o.user == user]:
            del self.waiting_children[oid]
        self.accounts[user] = Account(user, balance=usdc, net_deposits=usdc)
        self.equity.forget(user)  # a reset account's PnL starts over
        return self.accounts[user]

    def spot_book(self, coin: str) -> ReplayBook:
        """The spot pair ``coin``'s book (``@i``), rebuilt from its perp's latest snapshot if a new
        one came since it was last looked at."""
        snap = self._spot_snapshots.pop(coin, None)
        book = self.spot_books[coin]
        if snap is not None:
            bids, asks, time_ms = snap
            book.bids, book.asks = self.spot.book_from_perp(self.spot.by_coin[coin], [bids, asks])
            book.time_ms = time_ms
        return book

    def spot_value(self, user: str) -> Decimal:
        """The spot side of ``user`` in USDC: USDC plus tokens at their pair's mid."""
        acct = self.accounts.get(user.lower())
        if acct is None:
            return ZERO
        value = acct.spot.total("USDC")
        for pair in self.spot.pairs:
            held = acct.spot.total(pair.base.name)
            mid = self.spot_book(pair.coin).mid()
            if held and mid is not None:
                value += held * mid
        return value

    def mark(self, coin: str) -> Decimal | None:
        return self.marks.get(coin)

    def max_leverages(self) -> dict[str, int]:
        return {m.name: m.max_leverage for m in self.universe.markets}

    def available_margin(self, user: str) -> Decimal:
        """Account value minus position margin minus the margin held by open orders."""
        acct = self.accounts[user]
        held = ZERO
        for o in self.open.values():
            if o.user == user and o.trigger is None and not o.reduce_only:
                m = self.universe.by_name[o.coin]
                held += o.sz * o.limit_px / acct.leverage_of(o.coin, m.max_leverage)[1]
        return acct.account_value(self.marks) - acct.margin_used(self.marks, self.max_leverages()) - held

    def clearinghouse_state(self, user: str, now_ms: int) -> dict:
        acct = self.accounts.get(user.lower()) or Account(user.lower())
        return acct.clearinghouse_state(self.marks, self.max_leverages(), now_ms)

    # -- order registry ------------------------------------------------------------------------

    def add_order(self, order: Order) -> None:
        self.orders[order.oid] = order

    def add_open(self, order: Order, now_ms: int) -> None:
        if self.queue_model is not None and order.trigger is None and order.queue is None:
            # it joins the back of its level: everything displayed there is ahead of it
            book = self.books.get(order.coin) or self.spot_book(order.coin)
            order.queue = self.queue_model.new_order(book.size_at(order.is_buy, order.limit_px))
        order.status = st.OPEN
        order.status_timestamp = now_ms
        self.orders[order.oid] = order
        self.open[order.oid] = order
        self.emit_order_update(order)

    def remove_open(self, order: Order) -> None:
        self.open.pop(order.oid, None)

    def close_order(self, order: Order, status: str, now_ms: int) -> None:
        self.open.pop(order.oid, None)
        order.status = status
        order.status_timestamp = now_ms
        self.orders[order.oid] = order
        self.emit_order_update(order)

    def open_by_cloid(self, user: str, cloid: str) -> Order | None:
        for o in list(self.open.values()) + list(self.waiting_children.values()):
            if o.user == user and o.cloid == cloid:
                return o
        return None

    def find(self, user: str, oid_or_cloid: object) -> Order | None:
        """An order of ``user`` by oid (int) or cloid (hex string), latest first."""
        if isinstance(oid_or_cloid, int) and not isinstance(oid_or_cloid, bool):
            o = self.orders.get(oid_or_cloid)
            return o if o is not None and o.user == user else None
        if isinstance(oid_or_cloid, str):
            for o in reversed(list(self.orders.values())):
                if o.user == user and o.cloid == oid_or_cloid.lower():
                    return o
        return None

    def resting_limits(self, coin: str) -> list[Order]:
        return [o for o in self.open.values() if o.coin == coin and o.trigger is None]

    def open_triggers(self, coin: str) -> list[Order]:
        return [o for o in self.open.values() if o.coin == coin and o.trigger is not None]

    def user_open_orders(self, user: str) -> list[Order]:
        return [o for o in self.open.values() if o.user == user]

    # -- events --------------------------------------------------------------------------------

    def emit_order_update(self, order: Order) -> None:
        self.outbox.append(("orderUpdates", order.user, [order.update()]))

    def record_fill(self, order: Order, px: Decimal, sz: Decimal, crossed: bool, now_ms: int) -> dict:
        acct = self.accounts[order.user]
        if order.coin in self.spot.by_coin:
            fee = px * sz * (self.fees.spot_taker if crossed else self.fees.spot_maker)
            moved = self.spot_matcher.apply_fill(order, px, sz, fee)
        else:
            fee = px * sz * (self.fees.taker if crossed else self.fees.maker)
            result = acct.apply_fill(order.coin, order.is_buy, px, sz, fee)
            moved = {
                "startPosition": fmt(result.start_position),
                "dir": result.direction,
                "closedPnl": fmt_usd(result.closed_pnl),
            }
        tid = self._next_tid()
        tx_hash = "0x" + hashlib.sha256(f"sim-fill-{tid}".encode()).hexdigest()
        fill = {
            "coin": order.coin,
            "px": fmt(px),
            "sz": fmt(sz),
            "side": order.side,
            "time": now_ms,
            **moved,
            "hash": tx_hash,
            "oid": order.oid,
            "crossed": crossed,
            "fee": fmt_usd(fee),
            "tid": tid,
            "feeToken": "USDC",
        }
        if order.cloid:
            fill["cloid"] = order.cloid
        acct.fills.append(fill)
        self.outbox.append(("userFills", order.user, {"user": order.user, "fills": [fill]}))
        self.outbox.append(("user", order.user, {"fills": [fill]}))
        if crossed:
            users = [order.user, ZERO_ADDRESS] if order.is_buy else [ZERO_ADDRESS, order.user]
            self.outbox.append(
                (
                    "trades",
                    order.coin,
                    [
                        {
                            "coin": order.coin,
                            "side": order.side,
                            "px": fmt(px),
                            "sz": fmt(sz),
                            "hash": tx_hash,
                            "time": now_ms,
                            "tid": tid,
                            "users": users,
                        }
                    ],
                )
            )
        return fill

    # -- market data ---------------------------------------------------------------------------

    def on_l2book(self, data: dict) -> None:
        coin = data["coin"]
        book = self.books.get(coin)
        if book is None:
            return
        now_ms = int(data["time"])
        book.apply_snapshot(data["levels"], now_ms)
        mid = book.mid()
        if mid is not None:
            self.candles.observe(coin, mid, None, now_ms)
            if coin not in self.ctxs:
                self.marks[coin] = mid
        pair = self.spot.by_perp.get(coin)
        if pair is not None:  # the pair's synthetic book follows its perp's snapshots
            self._spot_snapshots[pair.coin] = ([lv[:] for lv in book.bids], [lv[:] for lv in book.asks], now_ms)
        self.matcher.on_book(coin, now_ms)
        if pair is not None and any(o.coin == pair.coin for o in self.open.values()):
            self.spot_matcher.on_book(pair.coin, now_ms)
        self._after_mark(coin, now_ms)

    def on_trades(self, trades: list[dict]) -> None:
        """Replayed trades; all of them are parsed before any is applied (ValueError etc. if one is bad)."""
        parsed = [
            (t["coin"], market_decimal(t["px"], positive=True), market_decimal(t["sz"], positive=True), int(t["time"]))
            for t in trades
            if isinstance(t["coin"], str) and t["coin"] in self.books
        ]
        for coin, px, sz, now_ms in parsed:
            self.candles.observe(coin, px, sz, now_ms)
            self.matcher.on_trade(coin, px, sz, now_ms)

    def on_asset_ctx(self, coin: str, ctx: dict, now_ms: int) -> None:
        if coin not in self.books:
            return
        if not isinstance(ctx, dict):
            raise TypeError(f"activeAssetCtx ctx must be an object, got {type(ctx).__name__}")
        mark = ctx.get("markPx")
        mark_px = market_decimal(mark, positive=True) if mark is not None else None
        for name in ("funding", "premium"):  # read at every funding hour: refuse a bad one now
            if ctx.get(name) is not None:  # the exchange sends a null premium for some assets
                market_decimal(str(ctx[name]))
        self.ctxs[coin] = ctx
        if mark_px is not None:
            self.marks[coin] = mark_px
        self._after_mark(coin, now_ms)

    def _after_mark(self, coin: str, now_ms: int) -> None:
        mark = self.marks.get(coin)
        if mark is not None:
            self.matcher.on_mark(coin, mark, now_ms)

    # -- time ----------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """Run what is due at ``now_ms``: scheduled cancels, hourly funding, the minute's equity
        sample of every account (the leaderboard's windows)."""
        for user, deadline in list(self.schedule.items()):
            if now_ms >= deadline:
                del self.schedule[user]
                for order in self.user_open_orders(user) + [
                    o for o in self.waiting_children.values() if o.user == user
                ]:
                    self.matcher.cancel(user, order, now_ms, st.SCHEDULED_CANCEL)
                day, count = self.schedule_count.get(user, (now_ms // DAY_MS, 0))
                self.schedule_count[user] = (now_ms // DAY_MS, count + 1 if day == now_ms // DAY_MS else 1)
        hour = now_ms // HOUR_MS
        if self._funding_hour is None:
            self._funding_hour = hour
        elif hour > self._funding_hour:
            self._funding_hour = hour
            self._pay_funding(hour * HOUR_MS)
        self.equity.observe(now_ms, self.accounts, self.marks)

    def _pay_funding(self, time_ms: int) -> None:
        """Hourly funding at each coin's last replayed rate: longs pay ``szi × mark × rate``."""
        for coin, ctx in self.ctxs.items():
            rate = Decimal(str(ctx.get("funding") or "0"))
            self.funding_history.setdefault(coin, []).append(
                {
                    "coin": coin,
                    "fundingRate": fmt(rate),
                    "premium": fmt(Decimal(str(ctx.get("premium") or "0"))),
                    "time": time_ms,
                }
            )
            mark = self.marks.get(coin)
            if mark is None:
                continue
            for acct in self.accounts.values():
                szi = acct.position(coin)
                if szi == 0:
                    continue
                payment = -szi * mark * rate
                acct.apply_funding(coin, payment)
                entry = {
                    "time": time_ms,
                    "coin": coin,
                    "usdc": fmt_usd(payment),
                    "szi": fmt(szi),
                    "fundingRate": fmt(rate),
                }
                acct.funding.append(entry)
                self.outbox.append(("user", acct.address, {"funding": entry}))

    def drain(self) -> list[tuple[str, str, object]]:
        out, self.outbox = self.outbox, []
        return out
