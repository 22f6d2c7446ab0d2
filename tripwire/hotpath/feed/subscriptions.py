"""What the feed subscribes to, which stream a raw frame belongs to, and which streams went quiet.

Pure: no I/O, clocks passed in. :class:`FeedConnection` uses three things from here:

- :class:`Subscription` and :func:`build_subscriptions`: the subscription messages, one per
  coin and market type plus the account's user channels, and the key an ack is matched on.
- :func:`stream_of`: the ``(channel, coin)`` of a raw frame *without decoding it*. The hot path
  decodes every frame once, in :class:`~tripwire.hotpath.feed.decode.Decoder`; the connection only needs
  to know which stream a frame fed, so it reads the channel and coin from the first bytes of the
  compact JSON Hyperliquid sends (``{"channel":"l2Book","data":{"coin":"BTC",…``) and falls back
  to a full parse only when the frame does not look like that.
- :class:`StreamWatch`: per-stream last-seen times and the stale rules (a stream that stops while
  the socket stays open is a fault the socket itself never reports).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

# Subscription types, as the hot path configures them and the exchange names them.
COIN_TYPES = ("trades", "l2Book", "bbo", "activeAssetCtx", "candle")
USER_TYPES = ("orderUpdates", "userFills", "userEvents")

# The channel a subscription's frames arrive on, where it differs from the type.
CHANNEL_OF_TYPE = {"userEvents": "user"}

# Control channels: answers to what we sent, not market or account data.
ACK_CHANNEL = "subscriptionResponse"
ERROR_CHANNEL = "error"
PONG_CHANNEL = "pong"

# Where each coin channel puts its coin, so the coin can be read without a parse. A candle's coin
# is its "s" field; the others carry "coin" as the first key of data (or of data[0] for trades).
_COIN_MARKER = {
    "l2Book": '"coin":"',
    "trades": '"coin":"',
    "bbo": '"coin":"',
    "activeAssetCtx": '"coin":"',
    "activeSpotAssetCtx": '"coin":"',
    "candle": '"s":"',
}
_COIN_FIELD = {"candle": "s"}
_PREFIX = '{"channel":"'
_PREFIX_LEN = len(_PREFIX)
_COIN_WINDOW = 128  # how far past the channel name the coin may start before we parse instead


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription. ``coin`` for market types, ``interval`` for candles, ``user`` for user types."""

    type: str
    coin: str | None = None
    interval: str | None = None
    user: str | None = None

    def wire(self) -> dict[str, str]:
        """The ``subscription`` object of the subscribe message."""
        out: dict[str, str] = {"type": self.type}
        if self.coin is not None:
            out["coin"] = self.coin
        if self.interval is not None:
            out["interval"] = self.interval
        if self.user is not None:
            out["user"] = self.user
        return out

    @property
    def channel(self) -> str:
        return CHANNEL_OF_TYPE.get(self.type, self.type)

    @property
    def stream(self) -> tuple[str, str | None]:
        """The ``(channel, coin)`` its frames are counted under (user channels: coin None)."""
        return (self.channel, self.coin)

    @property
    def key(self) -> tuple[str | None, ...]:
        """What an ack's echo is matched on (addresses compare lower-case; extra echo fields ignored)."""
        return (self.type, self.coin, self.interval, self.user.lower() if self.user else None)

    @classmethod
    def from_wire(cls, sub: Mapping[str, object]) -> Subscription:
        """The subscription an ack echoes (``l2Book`` echoes add ``nSigFigs``/``mantissa``).

        Raises ValueError when ``type`` is not text or ``coin``/``interval``/``user`` is
        neither text nor absent: such an echo matches nothing we sent.
        """

        def text(name: str) -> str | None:
            value = sub.get(name)
            if value is None or type(value) is str:
                return value
            raise ValueError(f"subscription echo: {name} must be a string, got {type(value).__name__}")

        kind = text("type")
        if kind is None:
            raise ValueError("subscription echo: type must be a string, got nothing")
        return cls(kind, text("coin"), text("interval"), text("user"))

    def __str__(self) -> str:
        parts = [self.type] + [p for p in (self.coin, self.interval, self.user) if p is not None]
        return ":".join(parts)


def build_subscriptions(
    coins: Iterable[str],
    user: str | None = None,
    *,
    coin_types: Iterable[str] = COIN_TYPES,
    user_types: Iterable[str] = USER_TYPES,
    candle_interval: str = "1m",
) -> tuple[Subscription, ...]:
    """Every market type for every coin, then the user channels of ``user`` (if given)."""
    subs = []
    for coin in coins:
        for kind in coin_types:
            if kind not in COIN_TYPES:
                raise ValueError(
                    f"feed subscriptions: unknown coin subscription type {kind!r} "
                    f"(expected one of {', '.join(COIN_TYPES)})"
                )
            subs.append(Subscription(kind, coin, candle_interval if kind == "candle" else None))
    if user is not None:
        for kind in user_types:
            if kind not in USER_TYPES:
                raise ValueError(
                    f"feed subscriptions: unknown user subscription type {kind!r} "
                    f"(expected one of {', '.join(USER_TYPES)})"
                )
            subs.append(Subscription(kind, user=user))
    return tuple(subs)


def stream_of(frame: str | bytes) -> tuple[str, str | None] | None:
    """The ``(channel, coin)`` a frame belongs to, or None for a frame with no channel (the greeting).

    The fast path slices the compact JSON; anything else (bytes, other key order, whitespace)
    is parsed once, which is correct but slower.
    """
    if type(frame) is str and frame.startswith(_PREFIX):
        end = frame.find('"', _PREFIX_LEN)
        if end > 0:
            channel = frame[_PREFIX_LEN:end]
            marker = _COIN_MARKER.get(channel)
            if marker is None:
                return (channel, None)
            i = frame.find(marker, end, end + _COIN_WINDOW)
            if i > 0:
                i += len(marker)
                j = frame.find('"', i)
                if j > 0:
                    return (channel, frame[i:j])
    return _stream_by_parsing(frame)


def _stream_by_parsing(frame: str | bytes) -> tuple[str, str | None] | None:
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if type(msg) is not dict or type(msg.get("channel")) is not str:
        return None
    channel = msg["channel"]
    if channel not in _COIN_MARKER:
        return (channel, None)
    data = msg.get("data")
    if type(data) is list and data:
        data = data[0]
    coin = data.get(_COIN_FIELD.get(channel, "coin")) if type(data) is dict else None
    return (channel, coin if type(coin) is str else None)


@dataclass(frozen=True, slots=True)
class StaleRule:
    """A stream silent for ``report_after_s`` is reported stale; for ``reconnect_after_s``, the
    connection is torn down and rebuilt (None: report only)."""

    report_after_s: float
    reconnect_after_s: float | None = None

    def __post_init__(self) -> None:
        if not self.report_after_s > 0:
            raise ValueError(f"stale rule: report_after_s must be > 0, got {self.report_after_s}")
        if self.reconnect_after_s is not None and not self.reconnect_after_s >= self.report_after_s:
            raise ValueError(
                f"stale rule: reconnect_after_s ({self.reconnect_after_s}) must be >= "
                f"report_after_s ({self.report_after_s})"
            )


# l2Book arrives every block (~0.5 s) on every listed coin, so 10 s of silence is a fault.
# activeAssetCtx changes with the mark price, a few times a minute at worst. trades, bbo and
# candle can be legitimately quiet on a calm coin, and user channels are quiet by nature.
DEFAULT_STALE_RULES: Mapping[str, StaleRule] = {
    "l2Book": StaleRule(10.0, 30.0),
    "activeAssetCtx": StaleRule(60.0, 180.0),
}


@dataclass(frozen=True, slots=True)
class StaleEvent:
    """What :meth:`StreamWatch.check` found for one stream."""

    subscription: Subscription
    silent_s: float
    kind: str  # "stale" (newly past report_after_s), "recovered", or "reconnect"


class StreamWatch:
    """Last-seen time per stream and which watched streams are silent. Clock in ns, passed in."""

    __slots__ = ("last_seen_ns", "_watched", "_stale")

    def __init__(self) -> None:
        self.last_seen_ns: dict[tuple[str, str | None], int] = {}
        self._watched: dict[tuple[str, str | None], tuple[Subscription, StaleRule]] = {}
        self._stale: set[tuple[str, str | None]] = set()

    def arm(self, subscriptions: Iterable[Subscription], rules: Mapping[str, StaleRule], now_ns: int) -> None:
        """Start watching afresh (at every (re)subscribe): silence is counted from ``now_ns``."""
        self._watched = {s.stream: (s, rules[s.type]) for s in subscriptions if s.type in rules}
        self._stale.clear()
        for stream in self._watched:
            self.last_seen_ns[stream] = now_ns

    def disarm(self, subscription: Subscription) -> None:
        """Stop watching a stream the server refused: it will never flow."""
        self._watched.pop(subscription.stream, None)
        self._stale.discard(subscription.stream)

    def seen(self, stream: tuple[str, str | None], now_ns: int) -> None:
        self.last_seen_ns[stream] = now_ns

    @property
    def stale(self) -> list[Subscription]:
        return [self._watched[s][0] for s in self._stale if s in self._watched]

    def check(self, now_ns: int) -> list[StaleEvent]:
        """Streams that went stale or recovered since the last check, and any due a reconnect."""
        events = []
        for stream, (sub, rule) in self._watched.items():
            silent_s = (now_ns - self.last_seen_ns.get(stream, now_ns)) / 1e9
            if silent_s >= rule.report_after_s:
                if stream not in self._stale:
                    self._stale.add(stream)
                    events.append(StaleEvent(sub, silent_s, "stale"))
                if rule.reconnect_after_s is not None and silent_s >= rule.reconnect_after_s:
                    events.append(StaleEvent(sub, silent_s, "reconnect"))
            elif stream in self._stale:
                self._stale.discard(stream)
                events.append(StaleEvent(sub, silent_s, "recovered"))
        return events
