"""The hot path's core: frames routed, triggers fired, decisions applied, state queried.

``HotPath`` does no I/O of its own: events leave through :class:`~.events.HotPathEvents` (the
one publisher) and orders through the execution layer it is given, so the same object runs
behind a live WebSocket, a paced replay, or a test feeding frames by hand.

Routing: each frame is decoded once and counted by channel. Market records go through the
:class:`~.pipeline.MarketPipeline` (book → features → triggers) and out as ``md.*`` events;
the account's own records (:data:`USER_RECORDS`) go straight to the order layer, never through
the market pipeline.

Callers read state through query methods (``mids()``, ``coins()``, ``active_triggers()``,
``decode_faults()``…) and change it through methods that refuse with a specific error before
changing anything; :mod:`.command_handlers` maps those onto the bus commands.
"""

from __future__ import annotations

import inspect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from tripwire.bus.commands import CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.config.settings import ALL_COINS, Settings, resolve_path
from tripwire.contracts.events import Decision, TriggerFired
from tripwire.contracts.features import CATALOG, EXTERNAL
from tripwire.hotpath.events import HotPathEvents
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.feed.records import (
    AssetCtx,
    Bbo,
    BookSnapshot,
    OrderUpdates,
    Record,
    Trades,
    UserEvent,
    UserFills,
)
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.risk.manager import RiskManager, Trip
from tripwire.hotpath.triggers.engine import RuleSet, load_rules

RECENT_TRIGGERS = 1000  # fired triggers remembered for decisions and status

# The account's own records: they go to the order layer and change no market state.
USER_RECORDS: tuple[type, ...] = (OrderUpdates, UserFills, UserEvent)

MaybeAwaitable = dict[str, Any] | Awaitable[dict[str, Any]]

_NONE: list[TriggerFired] = []


class Execution(Protocol):
    """What the hot path needs from the order layer (tripwire.hotpath.execution.layer.OrderLayer).
    Methods answering commands may return an awaitable: the command server awaits it."""

    def on_trigger(self, ev: TriggerFired) -> None: ...
    def on_user_record(self, rec: Record) -> None: ...
    def apply_decision(self, ev: TriggerFired, decision: Decision) -> MaybeAwaitable: ...
    def cancel_all(self, coin: str | None) -> MaybeAwaitable: ...
    def flatten(self, coin: str | None) -> MaybeAwaitable: ...
    def status(self) -> dict[str, Any]: ...


class StaleDecision(Exception):
    """A decision for a trigger that is unknown, already decided, closed or past its deadline;
    nothing was changed."""


class HotPath:
    def __init__(
        self,
        settings: Settings,
        risk: RiskManager,
        *,
        triggers_path: str | Path | None = None,
        publisher: Publisher | None = None,
        execution: Execution | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.triggers_path = Path(triggers_path or resolve_path(settings.triggers_file))
        # Frames are stamped with clock_ns (the feed's clock): its offset to the wall clock lets
        # the pipeline tell a clock that moved from a bad stamp.
        self.pipeline = MarketPipeline(
            settings, load_rules(self.triggers_path), wall_offset_ns=time.time_ns() - clock_ns()
        )
        self.risk = risk
        self.events = HotPathEvents(publisher, settings.features.liquidator_addresses)
        self.execution = execution
        self._clock_ns = clock_ns
        self._decoder = Decoder(settings.coins)  # market data for other coins: counted, dropped
        self._messages: dict[str, int] = {}  # decoded records by channel
        self._fired_counts: dict[tuple[str, str], int] = {}  # (rule, coin) → fired, for metrics
        self.recent: OrderedDict[str, TriggerFired] = OrderedDict()
        self.decisions: dict[str, dict[str, Any]] = {}
        self.model: dict[str, Any] | None = None
        self.model_path: str | None = None
        self.started_ns = clock_ns()
        self.last_frame_ns = 0
        self.status_extra: Callable[[], dict[str, Any]] | None = None  # the process's own state
        self.quoter: Any = None  # tripwire.hotpath.quoting.quoter.Quoter: told of every book
        self.carry: Any = None  # tripwire.hotpath.carry.live.LiveCarry: told of funding and spot books
        self._spot_coins: frozenset[str] = frozenset()
        # Breaker trips judged here (ws_lag, on every book) go to the process, which carries
        # them out and counts them; on their own they are only published.
        self.on_trips: Callable[[list[Trip]], None] = self._publish_trips
        self._lag_trip_ms = risk.cfg.breakers.ws_lag.max_ws_lag_ms
        self._worst_lag: tuple[str, float] | None = None  # (coin, ms) while followed: _worst_lag_ms
        # record type → handler returning the triggers it fired; a type not listed (pong,
        # subscription acknowledgements…) is counted and dropped.
        self._routes: dict[type, Callable[[Any, int], list[TriggerFired]]] = {
            BookSnapshot: self._on_book,
            Bbo: self._on_bbo,
            Trades: self._on_trades,
            AssetCtx: self._on_ctx,
            **{t: self._on_user for t in USER_RECORDS},
        }

    def attach_execution(self, execution: Execution) -> None:
        """Give the hot path its order layer after construction (the layer reads its books)."""
        self.execution = execution

    def attach_carry(self, carry: Any) -> None:
        """Give the hot path the funding carry: its pairs' books (``@index``) are decoded and go
        to it, past the market pipeline (they are no perp's); each perp context tells it the
        funding rate."""
        self.carry = carry
        self._spot_coins = frozenset(carry.by_spot)
        self._decoder.coins = (self._decoder.coins or frozenset()) | self._spot_coins

    def register_commands(self, server: CommandServer) -> None:
        """Answer the bus commands on ``server`` (:mod:`.command_handlers`)."""
        from tripwire.hotpath.command_handlers import HotPathCommands  # it imports this module

        HotPathCommands(self).register(server)

    # -- frames in ---------------------------------------------------------------------------

    def on_frame(self, frame: bytes | str, recv_ns: int) -> list[TriggerFired]:
        """One WebSocket frame with its local receive time (the publisher's clock)."""
        self.last_frame_ns = recv_ns
        rec = self._decoder.decode(frame)
        fired = _NONE
        if rec is not None:
            ch = rec.channel
            self._messages[ch] = self._messages.get(ch, 0) + 1
            route = self._routes.get(type(rec))
            if route is not None:
                fired = route(rec, recv_ns)
                for ev in fired:
                    self._on_fired(ev)
            self.events.after_frame(self.pipeline.coin_list, self.pipeline.coins.get(getattr(rec, "coin", "")), recv_ns)
        else:
            self.events.after_frame(self.pipeline.coin_list, None, recv_ns)
        return fired

    def _on_book(self, rec: BookSnapshot, recv_ns: int) -> list[TriggerFired]:
        if rec.coin in self._spot_coins:  # the carry's hedge: its top of book, O(1), nothing else
            if rec.bid_px and rec.ask_px:
                self.carry.on_spot_book(rec.coin, rec.bid_px[0], rec.ask_px[0], recv_ns)
            return _NONE
        fired = self.pipeline.on_record(rec, recv_ns)
        self.events.book(rec, recv_ns)
        if self.quoter is not None:
            self._quote(rec.coin, recv_ns)
        # The lag breaker is judged on the book that shows the lag, not on a timer: a hot path
        # behind its socket reads a burst of queued frames before any timer gets to run.
        lag = self.pipeline.coins[rec.coin].clock.lag_ms
        if lag > self._lag_trip_ms or self.risk.lagging:
            trips = self.risk.on_ws_lag(self._worst_lag_ms(rec.coin, lag))
            if trips:
                self.on_trips(trips)
        else:
            self._worst_lag = None  # this book's lag was not followed: look at every coin next time
        return fired

    def _quote(self, coin: str, recv_ns: int) -> None:
        """The one call per book into the quoting strategy (after the rules: they fire first)."""
        st = self.pipeline.coins.get(coin)
        if st is not None:
            problem = st.problem(self.settings.book.stale_after_ms, recv_ns)
            pred = st.features.values.get("pred_move_bps")  # set by tripwire alpha serve, if it runs
            self.quoter.on_book(
                coin,
                st.book.best_bid,
                st.book.best_ask,
                st.last_exch_ms,
                problem,
                pred if type(pred) is float else None,
            )

    def _on_bbo(self, rec: Bbo, recv_ns: int) -> list[TriggerFired]:
        self._worst_lag = None  # a bbo moves its coin's lag too: not followed (_worst_lag_ms)
        return self.pipeline.on_record(rec, recv_ns)

    def _worst_lag_ms(self, coin: str, lag: float) -> float:
        """The worst coin's lag, followed book by book while the lag breaker is judged: O(1)
        per book, except when the worst coin itself improves or the books were not followed
        (then every coin is looked at once). A max over 200 coins on every book cost more than
        the book while lagging, which is when the hot path can least afford it."""
        worst = self._worst_lag
        if worst is not None and lag >= worst[1]:
            self._worst_lag = (coin, lag)
        elif worst is None or coin == worst[0]:
            lags = self.pipeline.ws_lag_ms()
            top = max(lags, key=lags.__getitem__, default=coin)
            self._worst_lag = (top, lags.get(top, lag))
        return self._worst_lag[1]  # type: ignore[index]  # set just above

    def _publish_trips(self, trips: list[Trip]) -> None:
        self.events.trips(trips, self.risk.snapshot())

    def _on_trades(self, rec: Trades, recv_ns: int) -> list[TriggerFired]:
        fired = self.pipeline.on_record(rec, recv_ns)
        if self.events.enabled:
            self.events.trades(rec, recv_ns, self.pipeline.last_bar(rec.coin))
        return fired

    def _on_ctx(self, rec: AssetCtx, recv_ns: int) -> list[TriggerFired]:
        fired = self.pipeline.on_record(rec, recv_ns)  # stamps the context with the coin's time
        self.events.asset_ctx(rec, recv_ns)
        if self.carry is not None:
            self.carry.on_ctx(rec.coin, rec.funding)  # the carry decides once per funding update
        return fired

    def _on_user(self, rec: Record, _recv_ns: int) -> list[TriggerFired]:
        if self.execution is not None:
            self.execution.on_user_record(rec)
        return _NONE

    def _on_fired(self, ev: TriggerFired) -> None:
        key = (ev.rule, ev.coin)
        self._fired_counts[key] = self._fired_counts.get(key, 0) + 1
        self.recent[ev.trigger_id] = ev
        while len(self.recent) > RECENT_TRIGGERS:
            self.recent.popitem(last=False)
        self.events.trigger_fired(ev)
        if self.execution is not None:
            self.execution.on_trigger(ev)

    # -- queries -----------------------------------------------------------------------------

    def mids(self) -> dict[str, float]:
        """Each coin's current mid (coins without one left out)."""
        return self.pipeline.mids()

    def exchange_time_ms(self) -> int:
        """The newest book or trade time seen (0 before any): the exchange's clock as we know it."""
        return self.pipeline.exchange_time_ms()

    def latest_book_ms(self) -> int | None:
        """The exchange time of the newest book (None before any)."""
        return self.pipeline.latest_book_ms()

    def coins(self) -> dict[str, dict[str, Any]]:
        """Per coin: mid, spread, book time, why it is untradable (None if it is not; judged as
        of the newest frame received), how far behind the exchange its feed is and how many
        features it has."""
        problems = self.pipeline.problems()
        lags = self.pipeline.ws_lag_ms()
        return {
            c: {
                "mid": st.book.mid,
                "spread_bps": st.book.spread_bps,
                "book_time_ms": st.book.time_ms,
                "book_problem": problems[c] or None,
                "ws_lag_ms": lags.get(c),
                "features_present": len(st.features.values),
            }
            for c, st in self.pipeline.coins.items()
        }

    def book_counts(self) -> dict[str, dict[str, int]]:
        """Since start: time faults (``out_of_order`` books ignored, ``time_jump`` records held
        back, ``new_timeline`` restarts) and updates not traded on, by reason."""
        return {"time_faults": dict(self.pipeline.time_faults), "untradable": dict(self.pipeline.untradable)}

    def market_data_age_ms(self, now_ns: int) -> float:
        """How old the market data is by the receive clock at ``now_ns``: the stalest book's
        age, so a book that stopped updating counts even while other frames flow; before any
        book, the time since the last frame (0 before any frame)."""
        age = self.pipeline.book_age_ms(now_ns)
        if age is not None:
            return age
        return (now_ns - self.last_frame_ns) / 1e6 if self.last_frame_ns else 0.0

    def ws_lag_ms(self) -> dict[str, float]:
        """Per coin, how far behind the exchange its latest book was received, in ms."""
        return self.pipeline.ws_lag_ms()

    def check_market_data(self, now_ns: int) -> list[Trip]:
        """The market-data breakers judged at ``now_ns`` (receive clock): stale data and the
        feed's lag (the worst coin's). Returns the trips for the caller to carry out."""
        lag_ms = max(self.pipeline.ws_lag_ms().values(), default=0.0)
        return self.risk.on_data_age(self.market_data_age_ms(now_ns)) + self.risk.on_ws_lag(lag_ms)

    def active_triggers(self) -> list[str]:
        """Ids of the triggers still open for decisions, sorted."""
        return sorted(self.pipeline.triggers.active)

    def message_counts(self) -> dict[str, int]:
        """Decoded records since start, by channel."""
        return dict(self._messages)

    def decode_faults(self) -> dict[str, dict[str, Any]]:
        """Malformed frames since start: reason → count and the last example."""
        return self._decoder.faults.report()

    def fired_counts(self) -> dict[tuple[str, str], int]:
        """Triggers fired since start, by (rule, coin)."""
        return dict(self._fired_counts)

    def status(self) -> dict[str, Any]:
        now = self._clock_ns()
        return {
            "mode": self.settings.mode,
            "uptime_s": (now - self.started_ns) / 1e9,
            "last_tick_age_s": (now - self.last_frame_ns) / 1e9 if self.last_frame_ns else None,
            "risk": self.risk.snapshot(),
            "coins": self.coins(),
            "active_triggers": self.active_triggers(),
            "messages": self.message_counts(),
            "faults": self.decode_faults(),
            "books": self.book_counts(),
            "execution": self.execution.status() if self.execution is not None else None,
            "model": self.model_path,
            **(self.status_extra() if self.status_extra is not None else {}),
        }

    # -- changes -----------------------------------------------------------------------------

    def pause(self, reason: str) -> str:
        """Open nothing new (REDUCING); returns the trading state."""
        state = self.risk.pause(reason)
        self.events.risk_state(self.risk.snapshot())
        return state

    def resume(self, reason: str) -> str:
        state = self.risk.resume(reason)
        self.events.risk_state(self.risk.snapshot())
        return state

    def cancel_all(self, coin: str | None) -> MaybeAwaitable:
        if self.execution is None:
            return {"cancelled": 0, "note": "no execution attached (replay only)"}
        return self.execution.cancel_all(coin)

    def flatten(self, coin: str | None) -> MaybeAwaitable:
        if self.execution is None:
            return {"closed": 0, "note": "no execution attached (replay only)"}
        return self.execution.flatten(coin)

    def fire_rule(self, rule: str, coin: str, side: str | None = None) -> TriggerFired:
        """Fire a rule by hand, as if the market had (events, orders and all); raises
        ValueError saying why it cannot."""
        ev = self.pipeline.fire_rule(rule, coin, side)
        self._on_fired(ev)
        return ev

    def take_trigger(self, ev: TriggerFired) -> None:
        """A trigger another hot-path process fired (a market shard, docs/SCALE.md): recorded,
        published and handed to the order layer exactly like one fired here."""
        self._on_fired(ev)

    def set_external_feature(self, coin: str, name: str, value: float) -> None:
        """Set a feature computed off the hot path; raises KeyError/ValueError naming the
        settable features or the accepted range."""
        spec = CATALOG.get(name)
        if spec is None or EXTERNAL not in spec.updated_on:
            settable = sorted(n for n, s in CATALOG.items() if EXTERNAL in s.updated_on)
            raise ValueError(f"feature {name!r} cannot be set from outside; settable: {', '.join(settable)}")
        coins = self.settings.coins
        if coin not in coins and coins != (ALL_COINS,):
            # per-coin state exists only for the coins this hot path trades: a signal for any
            # other coin (the signals flow covers every coin its traders hold) must not create it
            raise ValueError(f"unknown coin {coin!r}: this hot path trades {', '.join(coins)}")
        self.pipeline.coin(coin).features.set_external(name, value)

    def replace_rules(self, rules: RuleSet, path: Path) -> None:
        """Trigger rules from ``path`` replace the current ones (cooldowns carry over)."""
        self.pipeline.triggers.replace_rules(rules)
        self.triggers_path = path

    def set_model(self, model: dict[str, Any], path: str) -> None:
        """The local model's identity, for status and events (scoring runs in the flows)."""
        self.model, self.model_path = model, path

    def apply_decision(self, d: Decision) -> MaybeAwaitable:
        """Apply a decision to one trigger's protective orders, or refuse a stale one.

        Raises :class:`StaleDecision` (nothing changes) when the trigger is unknown, already
        decided, closed or past its deadline. Decisions go through the order layer's risk
        checks like any order.
        """
        ev = self.recent.get(d.trigger_id)
        if ev is None:
            raise StaleDecision(f"unknown trigger {d.trigger_id!r}")
        if d.trigger_id in self.decisions:
            raise StaleDecision(f"trigger {d.trigger_id!r} already decided")
        if d.trigger_id not in self.pipeline.triggers.active:
            raise StaleDecision(f"trigger {d.trigger_id!r} is closed or past its deadline")
        # Claimed before anything is sent: a second decision arriving while the first one's
        # orders are in flight is refused, not applied twice.
        self.decisions[d.trigger_id] = {"decision": d.model_dump(), "result": None, "applied_ns": None}
        if d.kind == "cancel":
            self.pipeline.triggers.close(d.trigger_id, "decision_cancel")
        out = self.execution.apply_decision(ev, d) if self.execution is not None else {}
        if inspect.isawaitable(out):
            return self._finish_decision(ev, d, out)
        return self._record_decision(ev, d, out)

    async def _finish_decision(self, ev: TriggerFired, d: Decision, out: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        return self._record_decision(ev, d, await out)

    def _record_decision(self, ev: TriggerFired, d: Decision, out: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": d.kind, **out}
        record = {"decision": d.model_dump(), "result": result, "applied_ns": self._clock_ns()}
        self.decisions[d.trigger_id] = record
        self.events.decision(ev, record)
        return result
