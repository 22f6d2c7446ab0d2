"""Everything the hot path tells the bus, in one place: typed facts in, events out.

The hot path's parts hand :class:`HotPathEvents` what happened — a trades record, a fired
trigger, a leg whose state changed, a breaker trip, a feed state — and it alone turns them
into topics (:class:`~tripwire.contracts.events.Topics`) and payloads and calls
:meth:`Publisher.publish`. So each event's shape is found here, as are the throttles, the
candle de-duplication and the heartbeat; the callers stay free of bus details.

A hot path without a bus (a replay, a benchmark, a test) is the same code with
``publisher=None``: every method returns at once, so the hot loop pays one comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tripwire.bus.publisher import Publisher
from tripwire.contracts.events import Topics, TriggerFired
from tripwire.hotpath.feed.records import AssetCtx, BookSnapshot, Fill, Trades
from tripwire.hotpath.risk.manager import Trip

if TYPE_CHECKING:
    from tripwire.hotpath.execution.orders import Leg
    from tripwire.hotpath.features.bars import Bar
    from tripwire.hotpath.pipeline import CoinState

FEATURES_EVERY_MS = 1000  # md.features.<coin> throttle
BOOK_EVERY_MS = 1000  # md.book.<coin> throttle
BOOK_LEVELS = 20  # levels per side in md.book.<coin>

# Roots (tripwire.contracts.events.topic_root) of the topics always published: the drop
# counters report them at zero, so a series exists before its first drop.
TOPIC_ROOTS = (
    "md.trade",
    "md.book",
    "md.ctx",
    "md.candle",
    "md.features",
    "trigger.fired",
    "risk.state",
    "risk.breaker",
    "feed.status",
    "account",
    "heartbeat",
)


class HotPathEvents:
    """The hot path's one publisher of events; see the module docstring.

    ``liquidators`` are addresses whose trades are flagged ``liquidation`` in ``md.trade``.
    """

    def __init__(self, publisher: Publisher | None, liquidators: Iterable[str] = ()) -> None:
        self._pub = publisher
        self._turn = 0  # after_frame: the coin whose features are looked at next in turn
        self._liquidators = frozenset(a.lower() for a in liquidators)
        self._last_candle: dict[str, int] = {}  # coin → open time of the last md.candle sent

    @property
    def enabled(self) -> bool:
        return self._pub is not None

    def drops(self) -> dict[str, int]:
        """Events dropped at the high-water mark since start, by topic root (every root of
        :data:`TOPIC_ROOTS` present); empty without a bus."""
        if self._pub is None:
            return {}
        return {**dict.fromkeys(TOPIC_ROOTS, 0), **self._pub.dropped_total}

    # -- market data --------------------------------------------------------------------------

    def trades(self, rec: Trades, recv_ns: int, last_bar: Bar | None) -> None:
        """``md.trade`` per trade, and ``md.candle`` once for each newly closed 1-minute bar."""
        pub = self._pub
        if pub is None:
            return
        topic = Topics.md_trade(rec.coin)
        liq = self._liquidators
        for tr in rec.trades:
            users = tr.users
            pub.publish(
                topic,
                {
                    "coin": tr.coin,
                    "px": tr.px,
                    "sz": tr.sz,
                    "side": "B" if tr.is_buy else "A",
                    "time": tr.time_ms,
                    "tid": tr.tid,
                    "liquidation": bool(users) and (users[0].lower() in liq or users[1].lower() in liq),
                },
                tr.time_ms * 1_000_000,
                recv_ns,
            )
        if last_bar is not None and self._last_candle.get(rec.coin) != last_bar.open_ms:
            self._last_candle[rec.coin] = last_bar.open_ms
            pub.publish(
                Topics.md_candle(rec.coin),
                last_bar.to_candle(rec.coin),
                rec.time_ms * 1_000_000,
                recv_ns,
            )

    def book(self, b: BookSnapshot, recv_ns: int) -> None:
        """``md.book`` (top :data:`BOOK_LEVELS`), at most once per :data:`BOOK_EVERY_MS`."""
        pub = self._pub
        if pub is None:
            return
        topic = Topics.md_book(b.coin)
        if not pub.throttle(topic, BOOK_EVERY_MS, recv_ns):
            return
        mid = (b.bid_px[0] + b.ask_px[0]) / 2 if b.bid_px and b.ask_px else None
        n = BOOK_LEVELS
        pub.publish(
            topic,
            {
                "coin": b.coin,
                "time": b.time_ms,
                "mid": mid,
                "bids": [[p, q] for p, q in zip(b.bid_px[:n], b.bid_sz[:n])],
                "asks": [[p, q] for p, q in zip(b.ask_px[:n], b.ask_sz[:n])],
            },
            b.time_ms * 1_000_000,
            recv_ns,
        )

    def asset_ctx(self, c: AssetCtx, recv_ns: int) -> None:
        pub = self._pub
        if pub is None:
            return
        pub.publish(
            Topics.md_ctx(c.coin),
            {
                "coin": c.coin,
                "time": c.time_ms,
                "funding": c.funding,
                "open_interest": c.open_interest,
                "mark_px": c.mark_px,
                "oracle_px": c.oracle_px,
                "mid_px": c.mid_px,
                "premium": c.premium,
                "day_ntl_vlm": c.day_ntl_vlm,
            },
            c.time_ms * 1_000_000,
            recv_ns,
        )

    def after_frame(self, coins: Sequence[CoinState], coin: CoinState | None, recv_ns: int) -> None:
        """Once per frame: ``md.features`` of the frame's coin when due, and of one other coin
        in turn (so a coin whose last update fell inside the throttle is still published), and
        the heartbeat when due. O(1) per frame however many coins are subscribed: looping over
        200 coins on every frame cost more than the frame itself."""
        pub = self._pub
        if pub is None:
            return
        if coin is not None:
            self._features(pub, coin, recv_ns)
        if coins:
            self._turn = (self._turn + 1) % len(coins)
            other = coins[self._turn]
            if other is not coin:
                self._features(pub, other, recv_ns)
        pub.maybe_heartbeat(recv_ns)

    @staticmethod
    def _features(pub: Publisher, st: CoinState, recv_ns: int) -> None:
        topic = st.features_topic
        if st.features.values and pub.throttle(topic, FEATURES_EVERY_MS, recv_ns):
            pub.publish(topic, {"coin": st.coin, "values": st.features.values}, st.last_exch_ms * 1_000_000, recv_ns)

    # -- triggers and decisions ---------------------------------------------------------------

    def trigger_fired(self, ev: TriggerFired) -> None:
        if self._pub is not None:
            self._pub.publish(ev.topic, ev.to_dict(), ev.exch_ts_ns, ev.recv_ts_ns)

    def decision(self, ev: TriggerFired, record: dict[str, Any]) -> None:
        """``decision.<trigger_id>``: a decision and its result, stamped with the trigger's tick."""
        if self._pub is not None:
            self._pub.publish(Topics.decision(ev.trigger_id), record, ev.exch_ts_ns, ev.recv_ts_ns)

    # -- risk and the feed ---------------------------------------------------------------------

    def trips(self, trips: list[Trip], risk_state: dict[str, Any]) -> None:
        """``risk.breaker.<name>`` per trip, then the ``risk.state`` they led to."""
        if self._pub is None or not trips:
            return
        for t in trips:
            self._pub.publish(
                Topics.risk_breaker(t.breaker),
                {"breaker": t.breaker, "action": t.action, "state": t.state, "detail": t.detail},
            )
        self._pub.publish(Topics.RISK_STATE, risk_state)

    def risk_state(self, risk_state: dict[str, Any]) -> None:
        if self._pub is not None:
            self._pub.publish(Topics.RISK_STATE, risk_state)

    def feed_status(self, state: str, previous: str, reconnects: int) -> None:
        if self._pub is not None:
            self._pub.publish(Topics.FEED_STATUS, {"state": state, "previous": previous, "reconnects": reconnects})

    # -- orders and the account ----------------------------------------------------------------

    def account(self, snapshot: dict[str, Any]) -> None:
        if self._pub is not None:
            self._pub.publish(Topics.ACCOUNT, snapshot)

    def order(self, leg: Leg) -> None:
        """``order.<state>.<coin>`` for one leg in its current state."""
        if self._pub is None:
            return
        self._pub.publish(
            Topics.order(leg.state, leg.coin),
            {
                "trigger_id": leg.trigger_id,
                "leg": leg.name,
                "cloid": leg.cloid,
                "oid": leg.oid,
                "coin": leg.coin,
                "side": "B" if leg.is_buy else "A",
                "px": leg.px,
                "sz": leg.sz,
                "trigger_px": leg.trigger_px,
                "reduce_only": leg.reduce_only,
                "state": leg.state,
                "filled_sz": leg.filled_sz,
                "avg_px": leg.avg_px,
                "error": leg.error,
            },
        )

    def order_refused(self, trigger_id: str, coin: str, kind: str, reason: str) -> None:
        """``order.refused.<coin>``: a trigger's order action refused before anything was sent."""
        if self._pub is not None:
            self._pub.publish(
                Topics.order("refused", coin),
                {
                    "trigger_id": trigger_id,
                    "leg": None,
                    "coin": coin,
                    "state": "refused",
                    "error": reason,
                    "kind": kind,
                },
            )

    def fill(self, f: Fill, leg: Leg | None) -> None:
        """``fill.<coin>``: one of our fills, with its trigger and leg when they are known."""
        if self._pub is None:
            return
        self._pub.publish(
            Topics.fill(f.coin),
            {
                "coin": f.coin,
                "px": f.px,
                "sz": f.sz,
                "side": "B" if f.is_buy else "A",
                "time": f.time_ms,
                "oid": f.oid,
                "cloid": leg.cloid if leg else None,
                "tid": f.tid,
                "fee": f.fee,
                "closed_pnl": f.closed_pnl,
                "trigger_id": leg.trigger_id if leg else None,
                "leg": leg.name if leg else None,
            },
        )

    def carry(self, coin: str, data: dict[str, Any]) -> None:
        """``carry.<coin>``: the funding carry finished an open or a close (docs/CARRY.md)."""
        if self._pub is not None:
            self._pub.publish(Topics.carry(coin), data)

    def position(self, coin: str, szi: float, entry_px: float, mid: float) -> None:
        """``position.<coin>``: signed size and entry after a fill, valued at ``mid``."""
        if self._pub is not None:
            self._pub.publish(
                Topics.position(coin),
                {
                    "coin": coin,
                    "szi": szi,
                    "entry_px": entry_px,
                    "unrealized_pnl": szi * (mid - entry_px),
                    "notional": abs(szi) * mid,
                },
            )
