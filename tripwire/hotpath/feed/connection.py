"""The hot path's live WebSocket to Hyperliquid: connect, subscribe, deliver raw frames, stay up.

:class:`FeedConnection` owns one socket at a time and nothing else. It hands every frame, as
received and stamped with the local receive time, to ``on_frame``; the hot path decodes it once
(:class:`~tripwire.hotpath.feed.decode.Decoder`). What the connection learns on the side — which stream a
frame fed, acks, errors, pongs — it reads from the frame's first bytes
(:func:`~tripwire.hotpath.feed.subscriptions.stream_of`) and parses only the rare control frames.
A control frame of an unexpected shape (an ack echoing a number as ``user``, an error that is a
list) is counted in ``bad_control_frames`` and ignored: it never raises and never costs the
connection. Per-stream state is kept only for the streams subscribed to, so frames for coins
nobody asked for cannot grow it.

It keeps the socket healthy: a ping every ``ping_interval_s`` (the server closes a connection it
has sent nothing to for 60 s), a reconnect when a pong does not come back, a reconnect when a
watched stream stays silent while the socket looks open, and between attempts fast jittered
retries while an outage is young, then exponential backoff with full jitter. Every
(re)connect resubscribes everything. Its state —
DISCONNECTED, CONNECTING, CONNECTED, RECONNECTING, FATAL — goes to ``on_state``; faults that do
not change the state (a refused subscription, a stale stream) go to ``on_fault``. Counters for
metrics are in :attr:`FeedConnection.counters`.

The exchange does not replay user channels after a reconnect: the hot path must reconcile over
REST (:mod:`tripwire.hotpath.feed.reconcile`) before it trusts its view of orders and positions again.
See docs/CONNECTION.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tripwire.hotpath.feed.decode import PARSERS, Decoder
from tripwire.hotpath.feed.records import ServerError, SubscriptionResponse
from tripwire.hotpath.feed.subscriptions import (
    ACK_CHANNEL,
    DEFAULT_STALE_RULES,
    ERROR_CHANNEL,
    PONG_CHANNEL,
    StaleRule,
    StreamWatch,
    Subscription,
    stream_of,
)

log = logging.getLogger("tripwire.feed")

DISCONNECTED = "DISCONNECTED"  # not running (before run(), after stop())
CONNECTING = "CONNECTING"  # first attempts, never connected yet
CONNECTED = "CONNECTED"  # socket open and every subscription sent
RECONNECTING = "RECONNECTING"  # was connected, lost it, trying again (risk must be in its safe state)
FATAL = "FATAL"  # gave up: an auth-type refusal or too many consecutive failures

PING_FRAME = '{"method":"ping"}'

try:  # the fast client; aiohttp serves when it is missing
    from tripwire.hotpath.feed.picows_socket import CONNECT_ERRORS as _PICOWS_ERRORS
    from tripwire.hotpath.feed.picows_socket import HandshakeRefused, PicowsSocket
except ImportError:  # pragma: no cover - picows is a declared dependency
    PicowsSocket = None  # type: ignore[assignment,misc]
    HandshakeRefused = None  # type: ignore[assignment,misc]
    _PICOWS_ERRORS = ()

CLIENTS = ("picows", "aiohttp")
_CONNECT_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError, *_PICOWS_ERRORS)
_SEND_ERRORS = (ConnectionError, aiohttp.ClientError, RuntimeError)
_DATA_TYPES = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)
_CONTROL_CHANNELS = frozenset({ACK_CHANNEL, ERROR_CHANNEL, PONG_CHANNEL})
# frames_by_channel keys: the channels the decoder knows, every other name counted under one key
# (a channel name is whatever the server sends; counting each would be unbounded state).
_KNOWN_CHANNELS = frozenset(PARSERS)
OTHER_CHANNEL = "other"
_MAX_EXPONENT = 32  # 2**32 × any sane base is far past any cap; keeps the float finite

FrameHandler = Callable[[str | bytes, int], None]
Socket = Any  # aiohttp.ClientWebSocketResponse or PicowsSocket: send_str, close, closed, close_code
StateHandler = Callable[[str], None]
FaultHandler = Callable[[str, dict], None]


class FatalFeedError(Exception):
    """The server refused us in a way retrying will not fix (e.g. HTTP 401/403 on the handshake)."""


@dataclass(frozen=True)
class FeedConfig:
    """Timings and limits of the connection. Defaults suit mainnet; tests shrink them to run in seconds."""

    ping_interval_s: float = 50.0  # the SDK's interval; the server's idle limit is 60 s
    pong_timeout_s: float = 10.0  # no pong this long after a ping: the socket is dead
    fast_retry_s: float = 0.25  # retry interval (jittered) while an outage is young…
    fast_retry_for_s: float = 10.0  # …for this long; then the exponential backoff below
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    stable_after_s: float = 60.0  # a connection that lived this long resets the backoff
    max_consecutive_failures: int | None = 20  # backoff-phase failures, then FATAL; None: forever
    connect_timeout_s: float = 10.0
    close_timeout_s: float = 2.0  # how long a close handshake may take before we drop the socket
    ack_timeout_s: float = 10.0  # a subscription with neither ack nor error by then is reported
    monitor_interval_s: float = 0.5  # how often pings, pongs, acks and stale streams are checked
    stale: Mapping[str, StaleRule] = field(default_factory=lambda: dict(DEFAULT_STALE_RULES))
    max_frame_bytes: int = 32 * 1024 * 1024  # a 2000-fill userFills snapshot is ~1 MB
    fatal_http_statuses: frozenset[int] = frozenset({401, 403})
    # the WebSocket client: picows (under half of aiohttp's CPU a frame) or aiohttp; the same
    # behaviour either way (docs/CONNECTION.md "Library"). picows when it is installed.
    client: str = "picows"

    def __post_init__(self) -> None:
        for name in (
            "ping_interval_s",
            "pong_timeout_s",
            "fast_retry_s",
            "backoff_base_s",
            "backoff_cap_s",
            "connect_timeout_s",
            "close_timeout_s",
            "ack_timeout_s",
            "monitor_interval_s",
        ):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"feed config: {name} must be > 0, got {value!r}")
        if self.client not in CLIENTS:
            raise ValueError(f"feed config: client must be one of {', '.join(CLIENTS)}, got {self.client!r}")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError(
                f"feed config: backoff_cap_s ({self.backoff_cap_s}) must be >= backoff_base_s ({self.backoff_base_s})"
            )
        if self.fast_retry_for_s < 0:
            raise ValueError(f"feed config: fast_retry_for_s must be >= 0, got {self.fast_retry_for_s!r}")
        if self.stable_after_s < 0:
            raise ValueError(f"feed config: stable_after_s must be >= 0, got {self.stable_after_s!r}")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 1:
            raise ValueError(
                f"feed config: max_consecutive_failures must be >= 1 or None, got {self.max_consecutive_failures!r}"
            )


def full_jitter_delay_s(attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before retry ``attempt`` (0-based): uniform in [0, min(cap, base × 2^attempt)).

    "Full jitter" (AWS architecture blog): clients that lost the same server at the same
    moment spread their retries over the whole window instead of arriving together.
    """
    return rand() * min(cap_s, base_s * 2 ** min(attempt, _MAX_EXPONENT))


class Backoff:
    """Delays between reconnect attempts: fast while an outage is young, then growing, capped,
    jittered; :meth:`reset` after a connection proved stable.

    Most cuts are short (a dropped TCP connection, a proxy or load balancer restarting). While
    an outage is younger than ``fast_for_s`` the delay is ``fast_s`` with equal jitter (half to
    all of it), so the feed is back within a fraction of a second of the exchange (figures in
    docs/OPERATIONS.md); a backoff growing from 1 s added seconds to every short cut. Past ``fast_for_s`` the outage is real and many clients are likely retrying together:
    :func:`full_jitter_delay_s` from ``base_s`` up to ``cap_s`` spreads them. ``attempt``
    counts only those backoff-phase delays (it is the exponent, and what FATAL is judged on).
    """

    __slots__ = ("base_s", "cap_s", "fast_s", "fast_for_s", "attempt", "_rand", "_clock_s", "_outage_since_s")

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        rand: Callable[[], float] = random.random,
        *,
        fast_s: float = 0.0,
        fast_for_s: float = 0.0,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.fast_s = fast_s
        self.fast_for_s = fast_for_s
        self.attempt = 0
        self._rand = rand
        self._clock_s = clock_s
        self._outage_since_s: float | None = None

    def next_delay_s(self) -> float:
        now = self._clock_s()
        if self._outage_since_s is None:
            self._outage_since_s = now
        if now - self._outage_since_s < self.fast_for_s:
            return self.fast_s * (0.5 + 0.5 * self._rand())
        delay = full_jitter_delay_s(self.attempt, self.base_s, self.cap_s, self._rand)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
        self._outage_since_s = None


def ws_url(api_url: str) -> str:
    """The WebSocket URL of an API base URL, as the SDK builds it: http(s)://h → ws(s)://h/ws."""
    base = api_url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[4:]
    return base if base.endswith("/ws") else base + "/ws"


class FeedCounters:
    """Everything the connection counts, for metrics. ``bytes`` counts characters of text frames
    (the same as bytes for Hyperliquid's ASCII JSON) and bytes of binary ones."""

    __slots__ = (
        "connects",
        "reconnects",
        "connect_failures",
        "consecutive_failures",
        "disconnects",
        "frames",
        "bytes",
        "frames_by_channel",
        "pings",
        "pongs",
        "pong_timeouts",
        "last_pong_rtt_ns",
        "acks",
        "subscription_errors",
        "unacknowledged",
        "server_errors",
        "bad_control_frames",
        "stale_events",
        "stale_reconnects",
        "handler_errors",
        "last_frame_ns",
    )

    def __init__(self) -> None:
        self.connects = 0  # successful handshakes
        self.reconnects = 0  # successful handshakes after the first
        self.connect_failures = 0
        self.consecutive_failures = 0  # failed handshakes and connections that died before
        #                                stable_after_s, since the last stable one; FATAL at the limit
        self.disconnects = 0  # connections lost or torn down (not counting stop())
        self.frames = 0
        self.bytes = 0
        self.frames_by_channel: dict[str, int] = {}
        self.pings = 0
        self.pongs = 0
        self.pong_timeouts = 0
        self.last_pong_rtt_ns: int | None = None
        self.acks = 0
        self.subscription_errors = 0  # error frames attributed to a subscription
        self.unacknowledged = 0  # subscriptions with no answer within ack_timeout_s
        self.server_errors = 0  # all error frames
        self.bad_control_frames = 0  # acks and error frames of a shape we cannot read; ignored
        self.stale_events: dict[str, int] = {}  # by subscription type
        self.stale_reconnects = 0
        self.handler_errors = 0  # exceptions raised by on_frame / on_state / on_fault
        self.last_frame_ns: int | None = None

    def snapshot(self, now_ns: int) -> dict:
        """A plain dict for metrics; ``last_frame_age_s`` is None before the first frame."""
        out = {name: getattr(self, name) for name in self.__slots__ if name != "last_frame_ns"}
        out["frames_by_channel"] = dict(self.frames_by_channel)
        out["stale_events"] = dict(self.stale_events)
        out["last_frame_age_s"] = None if self.last_frame_ns is None else (now_ns - self.last_frame_ns) / 1e9
        return out


class FeedConnection:
    """One resilient WebSocket: ``await run()`` until ``await stop()`` or FATAL.

    ``on_frame(frame, recv_ns)`` gets every frame (``str`` for text frames) and ``recv_ns`` from
    ``clock``, read as soon as the frame is handed to us. ``clock`` must be monotonic (default
    ``time.monotonic_ns``, the hot path pipeline's clock); the connection also times pings and
    silences with it. ``on_state(state)`` is called on every state change, ``on_fault(kind,
    detail)`` on every fault that is not a state change. Callbacks run on the event loop and must
    not block; an exception in one is counted and logged, never fatal to the connection.
    """

    def __init__(
        self,
        url: str,
        subscriptions: Sequence[Subscription],
        on_frame: FrameHandler,
        on_state: StateHandler,
        clock: Callable[[], int] = time.monotonic_ns,
        *,
        config: FeedConfig | None = None,
        on_fault: FaultHandler | None = None,
        session: aiohttp.ClientSession | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.subscriptions = tuple(subscriptions)
        keys = [s.key for s in self.subscriptions]
        if len(set(keys)) != len(keys):
            dupes = sorted({str(s) for s in self.subscriptions if keys.count(s.key) > 1})
            raise ValueError(
                f"feed subscriptions: listed more than once: {', '.join(dupes)} "
                "(the exchange refuses a double subscription)"
            )
        self.config = config or FeedConfig()
        self.counters = FeedCounters()
        self.fatal_reason: str | None = None
        self.last_disconnect_reason: str | None = None
        self._on_frame = on_frame
        self._on_state = on_state
        self._on_fault = on_fault
        self._clock = clock
        self._session = session
        cfg = self.config
        self._backoff = Backoff(
            cfg.backoff_base_s,
            cfg.backoff_cap_s,
            rand,
            fast_s=cfg.fast_retry_s,
            fast_for_s=cfg.fast_retry_for_s,
            clock_s=lambda: clock() / 1e9,
        )
        self._watch = StreamWatch()
        self._streams = frozenset(s.stream for s in self.subscriptions)
        self._control = Decoder()  # reads acks and error frames (what it refuses: bad_control_frames)
        self._bad_control_logged = False
        self._state = DISCONNECTED
        self._stop = asyncio.Event()
        self._ws: Socket | None = None
        self._client = self.config.client if PicowsSocket is not None else "aiohttp"
        self._running = False
        self._last_error = ""
        self._pending: dict[tuple, Subscription] = {}  # sent, neither acked nor refused; send order
        self._subscribed_ns = 0
        self._last_ping_ns = 0
        self._pong_due_ns: int | None = None
        self._handler_error_logged = False

    # -- public ------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def stale_subscriptions(self) -> list[Subscription]:
        """Watched streams currently past their report threshold."""
        return self._watch.stale

    def stream_ages_s(self) -> dict[str, float]:
        """Seconds since each stream's last frame (streams that have had one), for metrics."""
        now = self._clock()
        return {f"{ch}:{coin}" if coin else ch: (now - t) / 1e9 for (ch, coin), t in self._watch.last_seen_ns.items()}

    async def run(self) -> str:
        """Connect and stay connected until :meth:`stop` or FATAL; returns the final state."""
        if self._running:
            raise RuntimeError("FeedConnection.run() is already running")
        self._running = True
        self._stop.clear()
        session = self._session or aiohttp.ClientSession()
        try:
            await self._loop(session)
        finally:
            if self._session is None:
                await session.close()
            self._running = False
            self._ws = None
            if self._state != FATAL:
                self._set_state(DISCONNECTED)
        return self._state

    async def stop(self) -> None:
        """Close the socket and make :meth:`run` return (state DISCONNECTED)."""
        self._stop.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    # -- lifecycle ---------------------------------------------------------------------------

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        cfg = self.config
        c = self.counters
        while not self._stop.is_set():
            self._set_state(RECONNECTING if self.counters.connects else CONNECTING)
            try:
                ws = await self._connect(session)
            except FatalFeedError as exc:
                self._give_up(str(exc))
                return
            except _CONNECT_ERRORS as exc:
                c.consecutive_failures += 1
                c.connect_failures += 1
                self._last_error = f"connect to {self.url} failed: {exc!r}"
                log.warning("feed: %s (attempt %d)", self._last_error, c.consecutive_failures)
                delay = self._backoff.next_delay_s()
                if self._too_many():
                    return
                await self._pause(delay)
                continue
            connected_ns = self._clock()
            reason = await self._serve(ws)
            if self._stop.is_set():
                return
            c.disconnects += 1
            self.last_disconnect_reason = self._last_error = reason
            log.warning("feed: connection lost: %s", reason)
            if self._clock() - connected_ns >= cfg.stable_after_s * 1e9:
                c.consecutive_failures = 0
                self._backoff.reset()
            else:
                c.consecutive_failures += 1  # a connection that keeps dying young is a failing one
            self._set_state(RECONNECTING)
            delay = self._backoff.next_delay_s()
            if self._too_many():
                return
            await self._pause(delay)

    async def _connect(self, session: aiohttp.ClientSession) -> Socket:
        cfg = self.config
        if self._client == "picows":
            try:
                async with asyncio.timeout(cfg.connect_timeout_s):
                    return await PicowsSocket.connect(
                        self.url,
                        self._frame_handler(),
                        max_frame_bytes=cfg.max_frame_bytes,
                        timeout_s=cfg.connect_timeout_s,
                        close_timeout_s=cfg.close_timeout_s,
                    )
            except HandshakeRefused as exc:
                if exc.status in cfg.fatal_http_statuses:
                    raise FatalFeedError(
                        f"{self.url} refused the WebSocket handshake with HTTP {exc.status} "
                        f"({exc.message}); check the endpoint URL and credentials"
                    ) from exc
                raise ConnectionError(str(exc)) from exc
        close_timeout = (
            aiohttp.ClientWSTimeout(ws_close=cfg.close_timeout_s)
            if hasattr(aiohttp, "ClientWSTimeout")
            else cfg.close_timeout_s
        )
        try:
            async with asyncio.timeout(cfg.connect_timeout_s):
                return await session.ws_connect(
                    self.url,
                    autoping=True,
                    heartbeat=None,
                    compress=0,
                    max_msg_size=cfg.max_frame_bytes,
                    timeout=close_timeout,
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in cfg.fatal_http_statuses:
                raise FatalFeedError(
                    f"{self.url} refused the WebSocket handshake with HTTP {exc.status} "
                    f"({exc.message}); check the endpoint URL and credentials"
                ) from exc
            raise

    async def _serve(self, ws: Socket) -> str:
        """One connection's life: subscribe, read, monitor. Returns why it ended."""
        self._ws = ws
        c = self.counters
        c.connects += 1
        if c.connects > 1:
            c.reconnects += 1
        now = self._clock()
        self._pending = {s.key: s for s in self.subscriptions}
        self._subscribed_ns = now
        self._last_ping_ns = now
        self._pong_due_ns = None
        self._watch.arm(self.subscriptions, self.config.stale, now)
        reader = asyncio.create_task(
            self._wait_closed(ws) if isinstance(ws, PicowsSocket) else self._read(ws),  # type: ignore[arg-type]
            name="feed-reader",
        )  # reading first: acks flow at once
        monitor: asyncio.Task | None = None
        try:
            try:
                for sub in self.subscriptions:
                    await ws.send_str(orjson.dumps({"method": "subscribe", "subscription": sub.wire()}).decode())
            except _SEND_ERRORS as exc:
                return f"subscribing failed: {exc!r}"
            self._set_state(CONNECTED)
            monitor = asyncio.create_task(self._monitor(ws), name="feed-monitor")
            done, _ = await asyncio.wait({reader, monitor}, return_when=asyncio.FIRST_COMPLETED)
            task = done.pop()
            exc = task.exception()
            if exc is not None:  # a bug in our own bookkeeping: reconnect rather than die
                log.error("feed: %s failed", task.get_name(), exc_info=exc)
                return f"internal error in {task.get_name()}: {exc!r}"
            return task.result()
        finally:
            for task in (reader, monitor):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(*(t for t in (reader, monitor) if t is not None), return_exceptions=True)
            if not ws.closed:
                await ws.close()  # bounded by close_timeout_s when the peer is gone
            self._ws = None

    async def _pause(self, delay_s: float) -> None:
        """Sleep for the backoff, waking early on stop()."""
        try:
            await asyncio.wait_for(self._stop.wait(), delay_s)
        except TimeoutError:
            pass

    def _too_many(self) -> bool:
        """FATAL once the backoff phase has failed ``max_consecutive_failures`` times: the fast
        retries of an outage's first seconds would reach any sane limit before a short cut ends."""
        failures = self.counters.consecutive_failures
        limit = self.config.max_consecutive_failures
        if limit is not None and self._backoff.attempt >= limit:
            self._give_up(f"{failures} consecutive connection failures; last: {self._last_error}")
            return True
        return False

    def _give_up(self, reason: str) -> None:
        self.fatal_reason = reason
        log.error("feed: giving up: %s", reason)
        self._set_state(FATAL)

    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        log.info("feed: %s -> %s", self._state, state)
        self._state = state
        try:
            self._on_state(state)
        except Exception:  # noqa: BLE001  (a failing handler is counted and logged; the connection must live)
            self._handler_failed("on_state")

    # -- reading -----------------------------------------------------------------------------

    def _frame_handler(self) -> Callable[[str | bytes], None]:
        """What is done with each data frame, as received: hand it to ``on_frame`` first, then
        the bookkeeping (counters, the stream's last-seen time, acks and errors). One closure
        over the hot attributes, called by either client's reader."""
        on_frame = self._on_frame
        clock = self._clock
        c = self.counters
        by_channel = c.frames_by_channel
        last_seen = self._watch.last_seen_ns
        streams = self._streams
        known = _KNOWN_CHANNELS
        handler_failed = self._handler_failed
        on_control = self._on_control

        def handle(data: str | bytes) -> None:
            now = clock()
            try:
                on_frame(data, now)  # first: bookkeeping below adds nothing to the hot path's latency
            except Exception:  # noqa: BLE001  (a failing handler is counted and logged; the connection must live)
                handler_failed("on_frame")
            c.frames += 1
            c.bytes += len(data)
            c.last_frame_ns = now
            stream = stream_of(data)
            if stream is None:
                return
            channel = stream[0]
            if channel not in known:
                channel = OTHER_CHANNEL
            by_channel[channel] = by_channel.get(channel, 0) + 1
            if channel in _CONTROL_CHANNELS:
                on_control(channel, data, now)
            elif stream in streams:
                last_seen[stream] = now

        return handle

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """aiohttp: read until the socket closes, each data frame to the frame handler."""
        handle = self._frame_handler()
        async for msg in ws:  # ends on CLOSE / CLOSING / CLOSED
            if msg.type in _DATA_TYPES:
                handle(msg.data)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                return f"socket error: {ws.exception()!r}"
        return f"closed by the server (close code {ws.close_code})"

    async def _wait_closed(self, ws: PicowsSocket) -> str:
        """picows: frames reach the handler from picows's own callback; this waits for the end."""
        try:
            await ws.wait_closed()
        except Exception as exc:  # noqa: BLE001 - picows ends the wait with the protocol error it met
            return f"socket error: {exc!r}"
        if ws.close_code is None:
            return "socket closed without a close frame (network error or the server went away)"
        return f"closed by the server (close code {int(ws.close_code)})"

    def _on_control(self, channel: str, frame: str | bytes, now_ns: int) -> None:
        c = self.counters
        if channel == PONG_CHANNEL:
            c.pongs += 1
            if self._pong_due_ns is not None:
                c.last_pong_rtt_ns = now_ns - self._last_ping_ns
                self._pong_due_ns = None
            return
        rec = self._control.decode(frame)
        if type(rec) is SubscriptionResponse:
            if rec.method == "subscribe":
                try:
                    key = Subscription.from_wire(rec.subscription).key
                except ValueError as exc:  # the decoder checks the same; kept as the last guard
                    self._bad_control(channel, str(exc))
                    return
                if self._pending.pop(key, None) is not None:
                    c.acks += 1
            return
        if type(rec) is not ServerError:
            self._bad_control(channel, repr(frame[:120]))
            return
        # An error frame. The server answers each subscribe in order, so an error while
        # subscriptions await their answer belongs to the oldest of them.
        c.server_errors += 1
        message = rec.message
        if self._pending:
            sub = self._pending.pop(next(iter(self._pending)))
            c.subscription_errors += 1
            self._watch.disarm(sub)
            log.warning("feed: subscription %s refused: %s", sub, message)
            self._fault("subscription_error", {"subscription": str(sub), "message": message})
        else:
            log.warning("feed: server error frame: %s", message)
            self._fault("server_error", {"message": message})

    def _bad_control(self, channel: str, why: str) -> None:
        self.counters.bad_control_frames += 1
        if not self._bad_control_logged:  # once: a misbehaving server would otherwise log every frame
            self._bad_control_logged = True
            log.warning(
                "feed: %s frame ignored (%s); counted in bad_control_frames, logged only this once", channel, why
            )

    # -- monitoring --------------------------------------------------------------------------

    async def _monitor(self, ws: Socket) -> str:
        cfg = self.config
        c = self.counters
        ping_interval_ns = int(cfg.ping_interval_s * 1e9)
        ack_timeout_ns = int(cfg.ack_timeout_s * 1e9)
        while True:
            await asyncio.sleep(cfg.monitor_interval_s)
            now = self._clock()
            if self._pong_due_ns is not None and now >= self._pong_due_ns:
                c.pong_timeouts += 1
                self._fault("pong_timeout", {"timeout_s": cfg.pong_timeout_s})
                return f"no pong within {cfg.pong_timeout_s} s of a ping"
            if now - self._last_ping_ns >= ping_interval_ns:
                try:
                    await ws.send_str(PING_FRAME)
                except _SEND_ERRORS as exc:
                    return f"ping failed: {exc!r}"
                c.pings += 1
                self._last_ping_ns = now
                if self._pong_due_ns is None:
                    self._pong_due_ns = now + int(cfg.pong_timeout_s * 1e9)
            if self._pending and now - self._subscribed_ns >= ack_timeout_ns:
                for sub in self._pending.values():
                    c.unacknowledged += 1
                    log.warning("feed: subscription %s got no answer within %s s", sub, cfg.ack_timeout_s)
                    self._fault("subscription_unacknowledged", {"subscription": str(sub)})
                self._pending.clear()
            for ev in self._watch.check(now):
                sub = ev.subscription
                detail = {
                    "subscription": str(sub),
                    "type": sub.type,
                    "coin": sub.coin,
                    "silent_s": round(ev.silent_s, 3),
                }
                if ev.kind == "stale":
                    c.stale_events[sub.type] = c.stale_events.get(sub.type, 0) + 1
                    log.warning("feed: stream %s stale: silent for %.1f s", sub, ev.silent_s)
                    self._fault("stale", detail)
                elif ev.kind == "recovered":
                    log.info("feed: stream %s flowing again", sub)
                    self._fault("stale_recovered", detail)
                else:
                    c.stale_reconnects += 1
                    self._fault("stale_reconnect", detail)
                    return f"stream {sub} silent for {ev.silent_s:.1f} s while the socket was open"

    def _fault(self, kind: str, detail: dict) -> None:
        if self._on_fault is None:
            return
        try:
            self._on_fault(kind, detail)
        except Exception:  # noqa: BLE001  (a failing handler is counted and logged; the connection must live)
            self._handler_failed("on_fault")

    def _handler_failed(self, which: str) -> None:
        self.counters.handler_errors += 1
        if not self._handler_error_logged:  # once: a broken handler would otherwise log every frame
            self._handler_error_logged = True
            log.exception("feed: %s raised; counted in handler_errors, logged only this once", which)
