"""The hot path's market pipeline: market record → book → features → triggers, per coin.

One object, no I/O: the caller feeds market records (:data:`MARKET_RECORDS`) with their local
receive time and gets back the triggers that fired. Records are dispatched through a table
keyed by record type. A coin whose book is empty, crossed or stale is never traded on: its
rules are not evaluated and the reason is counted.

A replay, the backtest or a benchmark feeds raw frames instead (``on_frame``/``on_message``):
the pipeline then decodes them itself and counts every channel. The running hot path decodes
and routes frames in :class:`~tripwire.hotpath.service.HotPath`, so this object only ever sees
market data there; our own orders and fills never pass through it.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

from tripwire.hotpath.book.order_book import OrderBook
from tripwire.contracts.events import TriggerFired
from tripwire.contracts.features import BAR_CLOSE, BOOK, CTX, TRADES
from tripwire.hotpath.features.custom import CustomFeature
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.features.bars import Bar
from tripwire.hotpath.feed.records import AssetCtx, Bbo, BookSnapshot, Record, Trades
from tripwire.config.settings import Settings
from tripwire.hotpath.triggers.engine import RuleSet, TriggerEngine

_NONE: list[TriggerFired] = []

# The record types the pipeline applies: everything else (user channels, pongs, subscription
# acknowledgements) changes no market state.
MARKET_RECORDS: tuple[type, ...] = (BookSnapshot, Bbo, Trades, AssetCtx)


class CoinState:
    """Everything the hot path keeps for one coin."""

    __slots__ = ("coin", "book", "features", "last_exch_ms")

    def __init__(self, coin: str, settings: Settings, custom: Sequence[CustomFeature]):
        self.coin = coin
        self.book = OrderBook(coin, settings.book.max_levels)
        self.features = CoinFeatures(coin, settings.features, custom)
        self.last_exch_ms = 0


class MarketPipeline:
    def __init__(self, settings: Settings, rules: RuleSet,
                 custom_features: Sequence[CustomFeature] = (),
                 clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.settings = settings
        self.decoder = Decoder(settings.coins)    # on_frame / on_message only
        self.triggers = TriggerEngine(rules)
        self.coins: dict[str, CoinState] = {}
        self.messages: dict[str, int] = {}        # decoded by on_frame / on_message, by channel
        self.untradable: dict[str, int] = {}
        self._custom = tuple(custom_features)
        self._clock_ns = clock_ns
        self._stale_ms = settings.book.stale_after_ms
        self._handlers: dict[type, Callable[[Record, int], list[TriggerFired]]] = {
            BookSnapshot: self._on_book,
            Bbo: self._on_bbo,
            Trades: self._on_trades,
            AssetCtx: self._on_ctx,
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
        return _NONE if handler is None else handler(rec, recv_ns)

    def coin(self, coin: str) -> CoinState:
        st = self.coins.get(coin)
        if st is None:
            st = self.coins[coin] = CoinState(coin, self.settings, self._custom)
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
        return max((st.book.time_ms for st in self.coins.values() if st.book.time_ms),
                   default=None)

    def last_bar(self, coin: str) -> Bar | None:
        """The coin's latest closed 1-minute bar."""
        st = self.coins.get(coin)
        return st.features.last_bar if st is not None else None

    # -- handlers ----------------------------------------------------------------------------

    def _on_book(self, rec: BookSnapshot, recv_ns: int) -> list[TriggerFired]:
        st = self.coin(rec.coin)
        if not st.book.apply_snapshot(rec):
            return self._out_of_order()
        return self._after_book(st, rec.time_ms, recv_ns)

    def _on_bbo(self, rec: Bbo, recv_ns: int) -> list[TriggerFired]:
        st = self.coin(rec.coin)
        if not st.book.apply_bbo(rec):
            return self._out_of_order()
        return self._after_book(st, rec.time_ms, recv_ns)

    def _out_of_order(self) -> list[TriggerFired]:
        self.untradable["out_of_order_book"] = self.untradable.get("out_of_order_book", 0) + 1
        return _NONE

    def _after_book(self, st: CoinState, t_ms: int, recv_ns: int) -> list[TriggerFired]:
        if t_ms > st.last_exch_ms:
            st.last_exch_ms = t_ms
        closed = st.features.on_book(st.book, t_ms)
        return self._evaluate(st, BOOK, closed, recv_ns)

    def _on_trades(self, rec: Trades, recv_ns: int) -> list[TriggerFired]:
        st = self.coin(rec.coin)
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
        problem = st.book.problem(st.last_exch_ms, self._stale_ms)
        if problem:
            raise ValueError(f"{coin} book is {problem}: nothing is fired on it")
        return self.triggers.fire(rule, coin, st.features.values, st.last_exch_ms,
                                  self._clock_ns(), self._clock_ns(), side)

    def _evaluate(self, st: CoinState, kind: str, bar_closed: bool,
                  recv_ns: int) -> list[TriggerFired]:
        problem = st.book.problem(st.last_exch_ms, self._stale_ms)
        if problem:
            self.untradable[problem] = self.untradable.get(problem, 0) + 1
            return _NONE
        values = st.features.values
        now_ns = self._clock_ns()
        fired = self.triggers.evaluate(st.coin, kind, values, st.last_exch_ms, recv_ns, now_ns)
        if bar_closed:
            on_bar = self.triggers.evaluate(st.coin, BAR_CLOSE, values, st.last_exch_ms, recv_ns,
                                            now_ns)
            if on_bar:
                fired = fired + on_bar if fired else on_bar
        return fired
