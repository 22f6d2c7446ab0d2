"""Order placement, execution against the replayed book, resting fills and triggers.

Pure given the engine's state: every function takes ``now_ms`` from the caller and reports what
happened through the engine's outbox, never through I/O.

Fill model (why it is this simple): the replay shows us the market, not the queue, so
* a taker (Ioc, a crossing Gtc, a fired market trigger) walks the current book and consumes the
  levels it takes (:class:`~tripwire.sim.exchange.book.ReplayBook`), paying the taker fee;
* a resting order fills as maker at its own price when a replayed trade prints through it (all
  of it) or at it (up to the trade's size), or when a new snapshot's best opposite price crosses
  it (up to the crossing size, which it then consumes); with a queue model
  (:mod:`tripwire.sim.exchange.queue`, the backtest's default) a trade *at* its price first
  works through the size estimated ahead of it;
* triggers fire on the mark price; a market trigger executes as an Ioc with 10 % slippage
  around the mark, a limit trigger as a Gtc at its limit price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tripwire.sim.exchange import errors, rules
from tripwire.sim.exchange import orders as st
from tripwire.sim.exchange.errors import OrderRejected
from tripwire.sim.exchange.orders import Order, Trigger
from tripwire.sim.exchange.wire import ZERO, fmt

if TYPE_CHECKING:
    from tripwire.sim.exchange.engine import SimEngine

MARKET_TRIGGER_SLIPPAGE = Decimal("0.1")


@dataclass
class OrderSpec:
    """One parsed order wire (``{a,b,p,s,r,t,c?}``)."""

    asset: int
    is_buy: bool
    limit_px: Decimal
    sz: Decimal
    reduce_only: bool
    tif: str | None
    trigger: Trigger | None
    cloid: str | None


class Matcher:
    def __init__(self, engine: SimEngine) -> None:
        self.e = engine

    # -- placement -----------------------------------------------------------------------------

    def place(self, user: str, specs: list[OrderSpec], grouping: str, now_ms: int) -> list:
        """Place a batch; returns one status per order, as the ``order`` action answers."""
        statuses: list = []
        parent: Order | None = None
        for i, spec in enumerate(specs):
            is_child = grouping == "normalTpsl" and i > 0 and spec.trigger is not None and parent is not None
            try:
                if self.e.spot.by_asset(spec.asset) is not None:  # 10000 + pair index: spot.py
                    spot = self.e.spot_matcher
                    statuses.append(spot.submit(spot.new_order(user, spec, now_ms), now_ms))
                    continue
                order = self._new_order(user, spec, grouping, now_ms)
                if is_child:
                    statuses.append(self._attach_child(parent, order, now_ms))
                    continue
                status = self._submit(order, now_ms)
                if grouping == "normalTpsl" and i == 0 and spec.trigger is None:
                    parent = order
                if grouping == "positionTpsl" and order.trigger is not None:
                    status = "waitingForTrigger"
                statuses.append(status)
            except OrderRejected as exc:
                statuses.append({"error": exc.message})
        return statuses

    def _new_order(self, user: str, spec: OrderSpec, grouping: str, now_ms: int) -> Order:
        e = self.e
        market = e.universe.by_asset(spec.asset)
        assert market is not None  # unknown assets are refused before the batch starts
        rules.check_price(spec.limit_px, market.sz_decimals)
        if spec.trigger is not None:
            rules.check_price(spec.trigger.trigger_px, market.sz_decimals)
        rules.check_size(spec.sz, market.sz_decimals)
        rules.check_notional(spec.limit_px, spec.sz, spec.reduce_only)
        if spec.cloid is not None and e.open_by_cloid(user, spec.cloid) is not None:
            raise OrderRejected("Duplicate cloid")
        acct = e.accounts[user]
        pos = acct.position(market.name)
        is_tpsl_child = grouping in ("normalTpsl", "positionTpsl") and spec.trigger is not None
        if spec.reduce_only and not is_tpsl_child and (pos == 0 or (pos > 0) == spec.is_buy):
            raise OrderRejected(errors.REDUCE_ONLY)
        if not spec.reduce_only:
            self._check_margin(user, market.name, spec, pos)
        return Order(
            oid=e.next_oid(),
            user=user,
            coin=market.name,
            is_buy=spec.is_buy,
            limit_px=spec.limit_px,
            sz=spec.sz,
            orig_sz=spec.sz,
            tif=spec.tif,
            reduce_only=spec.reduce_only,
            timestamp=now_ms,
            cloid=spec.cloid,
            trigger=spec.trigger,
            is_position_tpsl=grouping == "positionTpsl",
            status_timestamp=now_ms,
        )

    def _check_margin(self, user: str, coin: str, spec: OrderSpec, pos: Decimal) -> None:
        e = self.e
        acct = e.accounts[user]
        market = e.universe.by_name[coin]
        _cross, lev = acct.leverage_of(coin, market.max_leverage)
        reducing = min(spec.sz, abs(pos)) if pos != 0 and (pos > 0) != spec.is_buy else ZERO
        px = spec.limit_px
        mark = e.mark(coin)
        if mark is not None and spec.is_buy and spec.tif == "Ioc":
            px = min(px, max(mark, e.books[coin].best_ask or mark))  # market buys pay ~the book, not the cap
        required = (spec.sz - reducing) * px / lev
        if required > e.available_margin(user):
            raise OrderRejected(errors.PERP_MARGIN)

    def _submit(self, order: Order, now_ms: int) -> object:
        """Register or execute a standalone order; returns its status entry."""
        e = self.e
        if order.trigger is not None:
            e.add_open(order, now_ms)
            return {"resting": self._oid_entry(order)}
        book = e.books[order.coin]
        if order.tif == "Alo":
            opp = book.best_ask if order.is_buy else book.best_bid
            if opp is not None and (order.limit_px >= opp if order.is_buy else order.limit_px <= opp):
                bbo = f"{fmt(book.best_bid) if book.best_bid is not None else ''}@{fmt(book.best_ask) if book.best_ask is not None else ''}"
                raise OrderRejected(errors.BAD_ALO_PX.format(bbo=bbo))
            e.add_open(order, now_ms)
            return {"resting": self._oid_entry(order)}
        self._clip_reduce_only(order)
        fills = book.take(order.is_buy, order.limit_px, order.sz)
        if order.tif == "Ioc" and not fills:
            raise OrderRejected(errors.IOC_CANCEL)
        e.add_order(order)
        filled_sz, notional = self._apply_taker_fills(order, fills, now_ms)
        if order.sz > 0 and order.tif == "Gtc":
            e.add_open(order, now_ms)
            return {"resting": self._oid_entry(order)}
        if order.sz > 0:  # Ioc remainder
            e.close_order(order, st.CANCELED if order.status != st.FILLED else st.FILLED, now_ms)
        entry = {"totalSz": fmt(filled_sz), "avgPx": fmt(notional / filled_sz), "oid": order.oid}
        if order.cloid:
            entry["cloid"] = order.cloid
        return {"filled": entry}

    @staticmethod
    def _oid_entry(order: Order) -> dict:
        return {"oid": order.oid, "cloid": order.cloid} if order.cloid else {"oid": order.oid}

    def _attach_child(self, parent: Order, child: Order, now_ms: int) -> str:
        """A normalTpsl child waits for its parent's first fill, then becomes a live trigger."""
        child.parent = parent.oid
        parent.children.append(child.oid)
        self.e.add_order(child)
        if parent.orig_sz > parent.sz:  # the parent already (partly) filled
            self.e.add_open(child, now_ms)
            return "waitingForTrigger"
        child.status = st.WAITING_FOR_FILL
        self.e.waiting_children[child.oid] = child
        return st.WAITING_FOR_FILL

    def _clip_reduce_only(self, order: Order) -> None:
        if not order.reduce_only:
            return
        pos = self.e.accounts[order.user].position(order.coin)
        room = abs(pos) if pos != 0 and (pos > 0) != order.is_buy else ZERO
        if order.sz > room:
            order.sz = room

    # -- fills ---------------------------------------------------------------------------------

    def _apply_taker_fills(self, order: Order, fills: list, now_ms: int) -> tuple[Decimal, Decimal]:
        filled = ZERO
        notional = ZERO
        for px, sz in fills:
            self.fill(order, px, sz, crossed=True, now_ms=now_ms)
            filled += sz
            notional += px * sz
        return filled, notional

    def fill(self, order: Order, px: Decimal, sz: Decimal, crossed: bool, now_ms: int) -> None:
        """Apply one fill of ``order`` to its account, its status, its children and siblings."""
        e = self.e
        had_fill = order.orig_sz > order.sz
        e.record_fill(order, px, sz, crossed, now_ms)
        order.sz -= sz
        if order.sz <= 0:
            e.close_order(order, st.FILLED, now_ms)
        if not had_fill:
            for child_oid in order.children:
                child = e.waiting_children.pop(child_oid, None)
                if child is not None:
                    e.add_open(child, now_ms)

    def fill_resting(self, order: Order, sz: Decimal, now_ms: int) -> None:
        """A resting order fills ``sz`` as maker at its own price (reduce-only clipped)."""
        self._clip_reduce_only(order)
        if order.sz <= 0:
            self.e.close_order(order, st.REDUCE_ONLY_CANCELED, now_ms)
            return
        self.fill(order, order.limit_px, min(sz, order.sz), crossed=False, now_ms=now_ms)

    # -- market events -------------------------------------------------------------------------

    def on_book(self, coin: str, now_ms: int) -> None:
        """A new snapshot: resting orders the book now crosses fill, consuming the crossing size;
        with a queue model, the others' queue positions follow their level's new size."""
        book = self.e.books[coin]
        model = self.e.queue_model
        for order in self.e.resting_limits(coin):
            opp = book.best_ask if order.is_buy else book.best_bid
            if opp is None or (opp > order.limit_px if order.is_buy else opp < order.limit_px):
                if model is not None and order.queue is not None:
                    level = book.size_at(order.is_buy, order.limit_px)
                    if level is not None:
                        model.depth(order.queue, level)
                continue
            taken = sum((sz for _px, sz in book.take(order.is_buy, order.limit_px, order.sz)), ZERO)
            if taken > 0:
                self.fill_resting(order, taken, now_ms)

    def on_trade(self, coin: str, px: Decimal, sz: Decimal, now_ms: int) -> None:
        """A replayed trade: resting orders it printed through fill fully; at their price, partly —
        with a queue model, only with what is left once the size ahead of them has traded."""
        model = self.e.queue_model
        for order in self.e.resting_limits(coin):
            through = px < order.limit_px if order.is_buy else px > order.limit_px
            if through:
                self.fill_resting(order, order.sz, now_ms)
            elif px == order.limit_px:
                if model is None or order.queue is None:
                    self.fill_resting(order, sz, now_ms)
                    continue
                lot = Decimal(1).scaleb(-self.e.universe.by_name[coin].sz_decimals)
                filled = model.trade(order.queue, sz, lot)
                if filled > 0:
                    self.fill_resting(order, filled, now_ms)

    def on_mark(self, coin: str, mark: Decimal, now_ms: int) -> None:
        """Fire every open trigger of ``coin`` that ``mark`` reached."""
        for order in self.e.open_triggers(coin):
            if order.status != st.OPEN:  # canceled as a sibling earlier in this pass
                continue
            trig = order.trigger
            assert trig is not None
            if mark >= trig.trigger_px if order.triggers_above() else mark <= trig.trigger_px:
                self._fire(order, mark, now_ms)

    def _fire(self, order: Order, mark: Decimal, now_ms: int) -> None:
        e = self.e
        trig = order.trigger
        assert trig is not None
        e.remove_open(order)
        order.status = st.TRIGGERED
        order.status_timestamp = now_ms
        e.emit_order_update(order)
        if order.parent is not None:  # OCO: the other children of the same parent go
            parent = e.orders.get(order.parent)
            for sib_oid in parent.children if parent else ():
                sib = e.orders.get(sib_oid)
                if sib is not None and sib is not order and sib.status in (st.OPEN, st.WAITING_FOR_FILL):
                    e.waiting_children.pop(sib_oid, None)
                    e.close_order(sib, st.SIBLING_FILLED_CANCELED, now_ms)
        self._clip_reduce_only(order)
        if order.sz <= 0:
            e.close_order(order, st.REDUCE_ONLY_CANCELED, now_ms)
            return
        order.trigger = None
        order.status = st.OPEN
        if trig.is_market:
            order.tif = "Ioc"
            slip = MARKET_TRIGGER_SLIPPAGE
            limit = mark * (1 + slip) if order.is_buy else mark * (1 - slip)
            fills = e.books[order.coin].take(order.is_buy, limit, order.sz)
            self._apply_taker_fills(order, fills, now_ms)
            if order.sz > 0:
                e.close_order(order, st.CANCELED, now_ms)
        else:
            order.tif = "Gtc"
            fills = e.books[order.coin].take(order.is_buy, order.limit_px, order.sz)
            self._apply_taker_fills(order, fills, now_ms)
            if order.sz > 0:
                e.add_open(order, now_ms)

    # -- cancel / modify -----------------------------------------------------------------------

    def cancel(self, user: str, order: Order | None, now_ms: int, status: str = st.CANCELED) -> object:
        """Cancel one open (or waiting) order of ``user``; returns the cancel status entry."""
        e = self.e
        if order is None or order.user != user or order.status not in (st.OPEN, st.WAITING_FOR_FILL):
            return {"error": errors.MISSING_ORDER}
        e.waiting_children.pop(order.oid, None)
        e.close_order(order, status, now_ms)
        for child_oid in order.children:  # an unfilled parent takes its waiting children with it
            child = e.waiting_children.pop(child_oid, None)
            if child is not None:
                e.close_order(child, status, now_ms)
        return "success"

    def modify(self, user: str, target: Order | None, spec: OrderSpec, now_ms: int) -> object:
        """Replace an open order with ``spec`` (a new oid); the status of the new order."""
        if target is None or target.user != user or target.status != st.OPEN:
            return {"error": errors.CANNOT_MODIFY}
        try:
            new = self._new_order(user, spec, "na", now_ms)
        except OrderRejected as exc:
            return {"error": exc.message}
        self.e.close_order(target, st.CANCELED, now_ms)
        try:
            return self._submit(new, now_ms)
        except OrderRejected as exc:
            return {"error": exc.message}
