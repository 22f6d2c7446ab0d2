"""The hot path's market pipeline: market record → book → features → triggers, per coin.

One object, no I/O: the caller feeds market records (:data:`MARKET_RECORDS`) with their local
receive time and gets back the triggers that fired. Records are dispatched through a table
keyed by record type. A coin whose book is empty, crossed or stale is never traded on: its
rules are not evaluated and the reason is counted.

Every timed record is first judged by its coin's :class:`~.book.market_clock.MarketClock`
against its local receive time, so one bad exchange time cannot freeze a coin: a record with an
implausible time is held back and counted (``time_jump``) and the coin is not traded on until
the next record decides. If that one continues the old timeline the held record was a lone bad
stamp and is dropped; if it continues the held one's, the exchange clock really moved (a
simulator looping its recording, an exchange clock stepped back): the coin's book and features
start again on the new timeline (``new_timeline``) with both records, instead of refusing every
later book as out of order. Given the receive clock's offset to the wall clock
(``wall_offset_ns``), a record on the wall clock starts a new timeline at once. A book is also stale
when its last update is ``stale_after_ms`` old by the receive clock, whatever its exchange time
says.

A replay, the backtest or a benchmark feeds raw frames instead (``on_frame``/``on_message``):
the pipeline then decodes them itself and counts every channel. The running hot path decodes
and routes frames in :class:`~tripwire.hotpath.service.HotPath`, so this object only ever sees
market data there; our own orders and fills never pass through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tripwire.config.settings import Settings
from tripwire.contracts.events import Topics, TriggerFired
from tripwire.contracts.features import BAR_CLOSE, BOOK, CTX, TRADES
from tripwire.hotpath.book.market_clock import TIME_JUMP, MarketClock
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.bars import Bar
from tripwire.hotpath.features.custom import CustomFeature
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.feed.records import AssetCtx, Bbo, BookSnapshot, Record, Trades
from tripwire.hotpath.triggers.engine import RuleSet, TriggerEngine

_NONE: list[TriggerFired] = []

# The record types the pipeline applies: everything else (user channels, pongs, subscription
# acknowledgements) changes no market state.
MARKET_RECORDS: tuple[type, ...] = (BookSnapshot, Bbo, Trades, AssetCtx)


# Time faults, counted in MarketPipeline.time_faults.
OUT_OF_ORDER = "out_of_order"  # a book older than the one held: ignored
# TIME_JUMP: a record whose time is implausible against its receive time: held back
# NEW_TIMELINE: the coin's exchange clock moved: book and features started again

TimedRecord = BookSnapshot | Bbo | Trades


class CoinState:
    """Everything the hot path keeps for one coin."""

    __slots__ = (
        "coin",
        "book",
        "features",
        "features_topic",
        "last_exch_ms",
        "clock",
        "held",
        "held_recv_ns",
        "_settings",
        "_custom",
    )

    def __init__(
        self, coin: str, settings: Settings, custom: Sequence[CustomFeature], wall_offset_ns: int | None = None
    ):
        self.coin = coin
        self.book = OrderBook(coin, settings.book.max_levels)
        self.features = CoinFeatures(coin, settings.features, custom)
        self.features_topic = Topics.md_features(coin)  # built once: published up to once a second
        self.last_exch_ms = 0
        self.clock = MarketClock(wall_offset_ns)
        self.held: TimedRecord | None = None  # the record of the clock's pending jump
        self.held_recv_ns = 0
        self._settings = settings
        self._custom = custom

    def problem(self, stale_after_ms: int, now_ns: int | None) -> str:
        """Why the coin must not be traded on now, or ``""``."""
        if self.clock.jumped:
            return TIME_JUMP
        return self.book.problem(self.last_exch_ms, stale_after_ms, now_ns)

    def restart(self, t_ms: int) -> None:
        """The exchange clock moved to ``t_ms``: windows and bars over the old times mean
        nothing on the new ones, so the features start cold; the book keeps its levels until
        its next update (:meth:`OrderBook.restamp`)."""
        self.book.restamp(t_ms)
        self.features = CoinFeatures(self.coin, self._settings.features, self._custom)
        self.last_exch_ms = 0


class MarketPipeline:
    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        custom_features: Sequence[CustomFeature] = (),
        clock_ns: Callable[[], int] = time.monotonic_ns,
        wall_offset_ns: int | None = None,
    ) -> None:
        """``wall_offset_ns``: the wall clock minus the receive clock records are stamped
        with, when they are stamped live (None for made-up receive times)."""
        self.settings = settings
        self.decoder = Decoder(settings.coins)  # on_frame / on_message only
        self.triggers = TriggerEngine(rules)
        self.coins: dict[str, CoinState] = {}
        self.coin_list: list[CoinState] = []  # the same states in creation order (indexable)
        self.messages: dict[str, int] = {}  # decoded by on_frame / on_message, by channel
        self.untradable: dict[str, int] = {}  # updates not traded on, by reason
        self.time_faults: dict[str, int] = {}  # OUT_OF_ORDER, TIME_JUMP, NEW_TIMELINE
        self.last_recv_ns = 0  # the newest local receive time seen
        self._custom = tuple(custom_features)
        self._clock_ns = clock_ns
        self._wall_offset_ns = wall_offset_ns
        self._stale_ms = settings.book.stale_after_ms
        # Any: each handler takes its own record type, which the key's type guarantees.
        self._handlers: dict[type, Callable[[Any, int], list[TriggerFired]]] = {
            BookSnapshot: self._on_timed,
            Bbo: self._on_timed,
            Trades: self._on_timed,
            AssetCtx: self._on_ctx,
        }
        # how a timed record whose time was judged sane is applied
        self._apply: dict[type, Callable[[CoinState, Any, int], list[TriggerFired]]] = {
            BookSnapshot: self._apply_book,
            Bbo: self._apply_bbo,
            Trades: self._apply_trades,
        }

    # -- entry points ------------------------------------------------------------------------

    def on_frame(self, frame: bytes | str, recv_ns: int) -> list[TriggerFired]:
        """One raw frame (a replay, a benchmark): decoded, counted by channel, applied."""
        rec = self.decoder.decode(frame)
        return _NONE if rec is None else self._counted(rec, recv_ns)

    def on_message(self, msg: object, recv_ns: int) -> list[TriggerFired]:
        """One already-parsed message (a recording): decoded, counted by channel, applied."""
        rec = self.decoder.decode_message(msg)
        return _NONE if rec is None else self._counted(rec, recv_ns)

    def _counted(self, rec: Record, recv_ns: int) -> list[TriggerFired]:
        ch = rec.channel
        self.messages[ch] = self.messages.get(ch, 0) + 1
        return self.on_record(rec, recv_ns)

    def on_record(self, rec: Record, recv_ns: int) -> list[TriggerFired]:
        """Apply one decoded record; records other than :data:`MARKET_RECORDS` change nothing."""
        handler = self._handlers.get(type(rec))
        if handler is None:
            return _NONE
        if recv_ns > self.last_recv_ns:
            self.last_recv_ns = recv_ns
        return handler(rec, recv_ns)

    def coin(self, coin: str) -> CoinState:
        st = self.coins.get(coin)
        if st is None:
            st = self.coins[coin] = CoinState(coin, self.settings, self._custom, self._wall_offset_ns)
            self.coin_list.append(st)
        return st

    # -- reading -----------------------------------------------------------------------------

    def mids(self) -> dict[str, float]:
        """Each coin's current mid (coins whose book has none left out)."""
        return {c: st.book.mid for c, st in self.coins.items() if st.book.mid}

    def exchange_time_ms(self) -> int:
        """The newest book or trade time seen across coins (0 before any)."""
        return max((st.last_exch_ms for st in self.coins.values()), default=0)

    def latest_book_ms(self) -> int | None:
        """The exchange time of the newest book across coins (None before any)."""
        return max((st.book.time_ms for st in self.coins.values() if st.book.time_ms), default=None)

    def book_age_ms(self, now_ns: int) -> float | None:
        """Local time since the stalest book was last updated (None before any book): a book
        that stops updating ages here even while other records keep coming."""
        return max(((now_ns - st.book.recv_ns) / 1e6 for st in self.coins.values() if st.book.updates), default=None)

    def ws_lag_ms(self) -> dict[str, float]:
        """Per coin, how far behind the exchange its latest book was received
        (:meth:`MarketClock.measure_lag`)."""
        return {c: st.clock.lag_ms for c, st in self.coins.items() if st.book.updates}

    def problems(self) -> dict[str, str]:
        """Why each coin is not tradable as of the newest record received (``""`` if it is)."""
        return {c: st.problem(self._stale_ms, self.last_recv_ns) for c, st in self.coins.items()}

    def last_bar(self, coin: str) -> Bar | None:
        """The coin's latest closed 1-minute bar."""
        st = self.coins.get(coin)
        return st.features.last_bar if st is not None else None

    # -- handlers ----------------------------------------------------------------------------

    def _on_timed(self, rec: TimedRecord, recv_ns: int) -> list[TriggerFired]:
        """Judge the record's exchange time on its coin's clock, then apply it (or hold it)."""
        st = self.coin(rec.coin)
        verdict = st.clock.observe(rec.time_ms, recv_ns)
        if not verdict:  # SANE, the usual path
            return self._apply[type(rec)](st, rec, recv_ns)
        self._count(self.time_faults, verdict)
        if verdict == TIME_JUMP:
            st.held, st.held_recv_ns = rec, recv_ns
            self._count(self.untradable, TIME_JUMP)
            return _NONE
        # NEW_TIMELINE: begun by the held record (and confirmed by this one) or by this one.
        held, st.held = (st.held if st.clock.from_candidate else None), None
        st.restart((rec if held is None else held).time_ms)
        self.triggers.forget_cooldowns(st.coin)
        fired = _NONE if held is None else self._apply[type(held)](st, held, st.held_recv_ns)
        more = self._apply[type(rec)](st, rec, recv_ns)
        return fired + more if fired and more else fired or more

    def _apply_book(self, st: CoinState, rec: BookSnapshot, recv_ns: int) -> list[TriggerFired]:
        if not st.book.apply_snapshot(rec, recv_ns):
            return self._out_of_order()
        st.clock.measure_lag(rec.time_ms, recv_ns)
        return self._after_book(st, rec.time_ms, recv_ns)

    def _apply_bbo(self, st: CoinState, rec: Bbo, recv_ns: int) -> list[TriggerFired]:
        if not st.book.apply_bbo(rec, recv_ns):
            return self._out_of_order()
        st.clock.measure_lag(rec.time_ms, recv_ns)
        return self._after_book(st, rec.time_ms, recv_ns)

    def _out_of_order(self) -> list[TriggerFired]:
        self._count(self.time_faults, OUT_OF_ORDER)
        self._count(self.untradable, "out_of_order_book")
        return _NONE

    @staticmethod
    def _count(counts: dict[str, int], key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    def _after_book(self, st: CoinState, t_ms: int, recv_ns: int) -> list[TriggerFired]:
        if t_ms > st.last_exch_ms:
            st.last_exch_ms = t_ms
        closed = st.features.on_book(st.book, t_ms)
        return self._evaluate(st, BOOK, closed, recv_ns)

    def _apply_trades(self, st: CoinState, rec: Trades, recv_ns: int) -> list[TriggerFired]:
        if rec.time_ms > st.last_exch_ms:
            st.last_exch_ms = rec.time_ms
        closed = st.features.on_trades(rec)
        return self._evaluate(st, TRADES, closed, recv_ns)

    def _on_ctx(self, rec: AssetCtx, recv_ns: int) -> list[TriggerFired]:
        st = self.coin(rec.coin)
        # activeAssetCtx carries no timestamp: it belongs to the coin's latest exchange time.
        rec.time_ms = st.last_exch_ms
        closed = st.features.on_asset_ctx(rec, st.last_exch_ms)
        return self._evaluate(st, CTX, closed, recv_ns)

    def fire_rule(self, rule: str, coin: str, side: str | None = None) -> TriggerFired:
        """Fire ``rule`` by hand for ``coin`` on its current features (cooldown, cap and the
        book's tradability apply as for a market-fired rule); raises ValueError saying why not."""
        st = self.coins.get(coin)
        if st is None:
            raise ValueError(f"no market data for {coin!r} yet; known: {', '.join(self.coins) or 'none'}")
        problem = st.problem(self._stale_ms, self.last_recv_ns)
        if problem:
            raise ValueError(f"{coin} book is {problem}: nothing is fired on it")
        event = self.triggers.fire(
            rule, coin, st.features.values, st.last_exch_ms, self._clock_ns(), self._clock_ns(), side
        )
        event.candles = st.features.recent_candles()
        return event

    def _evaluate(self, st: CoinState, kind: str, bar_closed: bool, recv_ns: int) -> list[TriggerFired]:
        problem = (
            TIME_JUMP if st.clock.candidate_exch_ms else st.book.problem(st.last_exch_ms, self._stale_ms, recv_ns)
        )  # CoinState.problem, inlined: every update
        if problem:
            self._count(self.untradable, problem)
            return _NONE
        values = st.features.values
        now_ns = self._clock_ns()
        fired = self.triggers.evaluate(st.coin, kind, values, st.last_exch_ms, recv_ns, now_ns)
        if bar_closed:
            on_bar = self.triggers.evaluate(st.coin, BAR_CLOSE, values, st.last_exch_ms, recv_ns, now_ns)
            if on_bar:
                fired = fired + on_bar if fired else on_bar
        if fired:  # rare: the candle list is built only when something fired
            candles = st.features.recent_candles()
            for event in fired:
                event.candles = candles
        return fired
