"""Contracts the hot path owns and every other package imports: events and commands.

Only plain data here, no behaviour beyond (de)serialisation, so tripwire/flows/ and tripwire/api/ can import it
without pulling in anything from the hot path's internals. The payload of every topic is a
TypedDict in a small module beside this one (market, orders, risk, status, decisions);
:data:`TOPIC_PAYLOADS` maps each topic to its type and docs/EVENTS.md documents the same table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from tripwire.contracts.decisions import Decision, DecisionData
from tripwire.contracts.market import BookData, CandleData, CtxData, FeaturesData, TradeData
from tripwire.contracts.orders import AccountData, CarryData, FillData, OrderData, OrderRefusedData, PositionData
from tripwire.contracts.risk import BreakerData, RiskStateData
from tripwire.contracts.status import FeedStatusData, HeartbeatData

SCHEMA_VERSION = 1


class TriggerFired:
    """One fired trigger: the unit that protective orders, analysis and decisions refer to.

    ``exch_ts_ns`` and ``recv_ts_ns`` are the exchange time and local receive time of the tick
    that caused it, so latency can be measured end to end; ``fired_ts_ns`` is when it fired
    (same clock as ``recv_ts_ns``). A trigger built off the hot path (POST /analyze, a test)
    has no tick: its times are 0, unknown, as in the event envelope.
    """

    __slots__ = (
        "trigger_id",
        "rule",
        "coin",
        "side",
        "features",
        "actions",
        "exch_ts_ns",
        "recv_ts_ns",
        "fired_ts_ns",
        "candles",
    )

    def __init__(
        self,
        trigger_id: str,
        rule: str,
        coin: str,
        side: str,
        features: dict[str, float | bool | None],
        actions: Sequence[tuple[str, dict[str, Any]]] = (),
        exch_ts_ns: int = 0,
        recv_ts_ns: int = 0,
        fired_ts_ns: int = 0,
        candles: list[CandleData] | None = None,
    ):
        self.trigger_id = trigger_id
        self.rule = rule
        self.coin = coin
        self.side = side
        self.features = features
        self.actions = actions
        self.exch_ts_ns = exch_ts_ns
        self.recv_ts_ns = recv_ts_ns
        self.fired_ts_ns = fired_ts_ns
        # The coin's last closed 1-minute candles, oldest first; set by the hot path's pipeline
        # only when a trigger fires (the analysis's prompt reads them), empty off the hot path.
        self.candles: list[CandleData] = candles if candles is not None else []

    @property
    def topic(self) -> str:
        return f"trigger.fired.{self.rule}.{self.coin}"

    def to_dict(self) -> TriggerFiredData:
        return {
            "schema": SCHEMA_VERSION,
            "trigger_id": self.trigger_id,
            "rule": self.rule,
            "coin": self.coin,
            "side": self.side,
            "features": self.features,
            "actions": [{"name": n, "params": p} for n, p in self.actions],
            "exch_ts_ns": self.exch_ts_ns,
            "recv_ts_ns": self.recv_ts_ns,
            "fired_ts_ns": self.fired_ts_ns,
            "candles": self.candles,
        }

    @classmethod
    def from_dict(cls, d: TriggerFiredData) -> TriggerFired:
        """From a payload already checked (:func:`check_payload`, or the hot path's own)."""
        return cls(
            d["trigger_id"],
            d["rule"],
            d["coin"],
            d["side"],
            dict(d["features"]),
            [(a["name"], dict(a["params"])) for a in d["actions"]],
            int(d["exch_ts_ns"]),
            int(d["recv_ts_ns"]),
            int(d["fired_ts_ns"]),
            [CandleData(**c) for c in d["candles"]],
        )


class ActionData(TypedDict):
    """One action of a fired trigger's rule, e.g. ``place_bracket`` with its params."""

    name: str
    params: dict[str, Any]


class TriggerFiredData(TypedDict):
    """``trigger.fired.<rule>.<coin>``: :meth:`TriggerFired.to_dict`. It carries ``schema``
    itself because it is stored and forwarded on its own (the store, n8n), without the
    envelope."""

    schema: int
    trigger_id: Annotated[str, Field(min_length=1, max_length=200)]
    rule: Annotated[str, Field(min_length=1)]
    coin: Annotated[str, Field(min_length=1)]
    side: Literal["long", "short"]
    # Feature name → value when it fired; null is a value that was not finite (orjson writes
    # NaN as null), which a consumer treats like a feature still warming up.
    features: dict[str, float | bool | None]
    actions: list[ActionData]
    exch_ts_ns: int
    recv_ts_ns: int
    fired_ts_ns: int
    candles: list[CandleData]


def trigger_seq(trigger_id: str) -> int | None:
    """The hot path's trigger sequence number, which ends every trigger id
    (``<rule>.<coin>.<exch_ms>.<seq>``): one counter across rules and coins per hot-path
    instance, so a consumer that saw #4 and then #7 knows it missed two triggers."""
    tail = trigger_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else None


# -- event bus: envelopes, topics and commands (hot path ⇄ everyone) ------------------------
# Wire format and rationale: docs/BUS.md. Sockets live in tripwire.bus; only schemas here.

EVENT_FIELDS = (
    "schema",
    "seq",
    "topic_seq",
    "topic",
    "exch_ts_ns",
    "recv_ts_ns",
    "pub_ts_ns",
    "publisher",
    "instance",
    "data",
)


class Topics:
    """Builders for every event topic, so one name is spelt one way everywhere.

    Topics are dotted and filtered by byte prefix: subscribing to ``md.trade.BTC`` also matches
    ``md.trade.BTCX``; end a prefix with ``.`` (``trigger.fired.``) to stop at a segment.
    """

    HEARTBEAT = "heartbeat"
    RISK_STATE = "risk.state"
    FEED_STATUS = "feed.status"

    @staticmethod
    def trigger_fired(rule: str, coin: str) -> str:
        return f"trigger.fired.{rule}.{coin}"

    @staticmethod
    def order(state: str, coin: str) -> str:
        return f"order.{state}.{coin}"

    @staticmethod
    def risk_breaker(name: str) -> str:
        return f"risk.breaker.{name}"

    @staticmethod
    def md_trade(coin: str) -> str:
        return f"md.trade.{coin}"

    @staticmethod
    def md_book(coin: str) -> str:
        return f"md.book.{coin}"

    @staticmethod
    def md_features(coin: str) -> str:
        return f"md.features.{coin}"

    @staticmethod
    def md_ctx(coin: str) -> str:
        return f"md.ctx.{coin}"

    @staticmethod
    def position(coin: str) -> str:
        return f"position.{coin}"

    @staticmethod
    def decision(trigger_id: str) -> str:
        return f"decision.{trigger_id}"

    @staticmethod
    def fill(coin: str) -> str:
        return f"fill.{coin}"

    @staticmethod
    def carry(coin: str) -> str:
        return f"carry.{coin}"

    @staticmethod
    def md_candle(coin: str) -> str:
        return f"md.candle.{coin}"

    ACCOUNT = "account"


def topic_root(topic: str) -> str:
    """The first two dotted parts (``md.book.BTC`` → ``md.book``): the unit drops are counted in."""
    parts = topic.split(".", 2)
    return ".".join(parts[:2])


# -- payloads: the ``data`` of every topic ----------------------------------------------------
# docs/EVENTS.md documents this same table; tests/contracts checks one against the other.

TOPIC_PAYLOADS: dict[str, type] = {
    "heartbeat": HeartbeatData,
    "md.trade.<coin>": TradeData,
    "md.book.<coin>": BookData,
    "md.ctx.<coin>": CtxData,
    "md.candle.<coin>": CandleData,
    "md.features.<coin>": FeaturesData,
    "trigger.fired.<rule>.<coin>": TriggerFiredData,
    "order.<state>.<coin>": OrderData,
    "order.refused.<coin>": OrderRefusedData,
    "fill.<coin>": FillData,
    "position.<coin>": PositionData,
    "carry.<coin>": CarryData,
    "account": AccountData,
    "decision.<trigger_id>": DecisionData,
    "risk.state": RiskStateData,
    "risk.breaker.<name>": BreakerData,
    "feed.status": FeedStatusData,
}


P = TypeVar("P")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # A placeholder is one dotted segment, except the last, which takes the rest: trigger ids
    # (decision.<trigger_id>) have dots in them.
    parts = pattern.split(".")
    out = []
    for i, part in enumerate(parts):
        if part.startswith("<"):
            out.append(".+" if i == len(parts) - 1 else "[^.]+")
        else:
            out.append(re.escape(part))
    return re.compile(r"\.".join(out))


# The more literal segments a pattern has, the more specific it is: order.refused.<coin>
# before order.<state>.<coin>.
_MATCHERS = sorted(
    ((_pattern_regex(p), p) for p in TOPIC_PAYLOADS), key=lambda m: -sum(not s.startswith("<") for s in m[1].split("."))
)


def topic_pattern(topic: str) -> str | None:
    """The :data:`TOPIC_PAYLOADS` key a concrete topic belongs to (``order.filled.BTC`` →
    ``order.<state>.<coin>``), or None for a topic the hot path does not publish."""
    for regex, pattern in _MATCHERS:
        if regex.fullmatch(topic):
            return pattern
    return None


@functools.cache
def _adapter(payload_type: type) -> TypeAdapter[Any]:
    return TypeAdapter(payload_type)


def parse_payload(payload_type: type[P], data: Any) -> P:
    """``data`` (decoded JSON) checked strictly against ``payload_type``: no string-to-number
    coercion, unknown keys dropped. Raises pydantic's ``ValidationError`` naming the field."""
    return _adapter(payload_type).validate_python(data, strict=True)


class PayloadError(ValueError):
    """An event's ``data`` does not match its topic's payload type."""


def check_payload(topic: str, data: Any) -> None:
    """Check one event's ``data`` as a subscriber receives it (after JSON) against its topic's
    payload type: the exact keys, and each value's type. Raises :class:`PayloadError` naming
    the topic and the field. For tests and tools; a hot consumer reads the documented keys."""
    pattern = topic_pattern(topic)
    if pattern is None:
        raise PayloadError(f"{topic}: not a topic of docs/EVENTS.md")
    payload_type = TOPIC_PAYLOADS[pattern]
    if not isinstance(data, dict):
        raise PayloadError(f"{topic}: data is {type(data).__name__}, not an object")
    keys = payload_type.__required_keys__ | payload_type.__optional_keys__
    missing, unknown = sorted(keys - set(data)), sorted(set(data) - keys)
    if missing or unknown:
        raise PayloadError(
            f"{topic}: {payload_type.__name__} "
            + "; ".join(
                f"{what} {', '.join(names)}" for what, names in (("missing", missing), ("unknown", unknown)) if names
            )
        )
    try:
        _adapter(payload_type).validate_json(orjson.dumps(data), strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayloadError(
            f"{topic}: {payload_type.__name__}.{where}: {first['msg']} (got {first.get('input')!r:.60})"
        ) from None


class Event:
    """One decoded bus event (the envelope plus its ``data``).

    ``seq`` counts every event of one publisher instance from 0, dropped ones included, so a
    subscriber that takes every topic sees a gap; ``topic_seq`` does the same per exact topic for
    subscribers that filter. ``instance`` changes when the publisher restarts. ``exch_ts_ns`` and
    ``recv_ts_ns`` are those of the tick that caused the event (0 when none did); ``pub_ts_ns``
    is the publisher's wall clock at send.
    """

    __slots__ = EVENT_FIELDS

    def __init__(
        self,
        schema: int,
        seq: int,
        topic_seq: int,
        topic: str,
        exch_ts_ns: int,
        recv_ts_ns: int,
        pub_ts_ns: int,
        publisher: str,
        instance: str,
        data: dict[str, Any],
    ):
        self.schema = schema
        self.seq = seq
        self.topic_seq = topic_seq
        self.topic = topic
        self.exch_ts_ns = exch_ts_ns
        self.recv_ts_ns = recv_ts_ns
        self.pub_ts_ns = pub_ts_ns
        self.publisher = publisher
        self.instance = instance
        self.data = data

    def __repr__(self) -> str:
        return f"Event({self.topic!r}, seq={self.seq}, publisher={self.publisher!r}, data={self.data!r})"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in EVENT_FIELDS}

    @classmethod
    def from_dict(cls, d: Any) -> Event:
        """Strict: raises ``ValueError`` naming the first missing or mistyped field."""
        if not isinstance(d, dict):
            raise ValueError("payload is not a JSON object")
        for name, kind in _EVENT_TYPES:
            v = d.get(name)
            if v is None:
                raise ValueError(f"missing field {name!r}")
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise ValueError(f"field {name!r} has type {type(v).__name__}")
        if d["schema"] != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema {d['schema']!r} (this client reads {SCHEMA_VERSION})")
        return cls(
            d["schema"],
            d["seq"],
            d["topic_seq"],
            d["topic"],
            d["exch_ts_ns"],
            d["recv_ts_ns"],
            d["pub_ts_ns"],
            d["publisher"],
            d["instance"],
            d["data"],
        )


_EVENT_TYPES = (
    ("schema", int),
    ("seq", int),
    ("topic_seq", int),
    ("topic", str),
    ("exch_ts_ns", int),
    ("recv_ts_ns", int),
    ("pub_ts_ns", int),
    ("publisher", str),
    ("instance", str),
    ("data", dict),
)


class CommandErrorCode:
    """The ``error.code`` values a command reply can carry."""

    BAD_REQUEST = "bad_request"  # not JSON, not an object, no id/cmd
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGS = "invalid_args"  # args failed the command's model; nothing applied
    EXPIRED = "expired"  # arrived after the caller's deadline; nothing applied
    HANDLER_ERROR = "handler_error"  # the handler raised unexpectedly
    # Handlers refuse with their own codes too (e.g. "stale_decision", "paused").


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CommandRequest(_Args):
    """``{"id", "cmd", "args"}``; ``expires_at_ns`` (wall clock) lets the hot path refuse a
    request its caller has already given up on."""

    id: str = Field(min_length=1, max_length=200)
    cmd: str = Field(min_length=1, max_length=100)
    args: dict[str, Any] = Field(default_factory=dict)
    expires_at_ns: int | None = None


class CommandErrorBody(_Args):
    code: str
    message: str


class CommandReply(_Args):
    """``{"id", "ok": true, "result"}`` or ``{"id", "ok": false, "error": {"code", "message"}}``."""

    id: str
    ok: bool
    result: Any = None
    error: CommandErrorBody | None = None


class NoArgs(_Args):
    """status, resume, reload_model without a path."""


class PauseArgs(_Args):
    reason: str = Field("", max_length=500)


class CoinScopeArgs(_Args):
    """cancel_all / flatten: one coin, or every coin when ``coin`` is None."""

    coin: str | None = Field(None, min_length=1, max_length=40)


class SetFeatureArgs(_Args):
    """A feature value computed off the hot path (e.g. smart-money bias from signals)."""

    coin: str = Field(min_length=1, max_length=40)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=80)
    value: float | bool


class ReloadArgs(_Args):
    """reload_triggers / reload_model: the configured file when ``path`` is None."""

    path: str | None = Field(None, min_length=1, max_length=1000)


class FireRuleArgs(_Args):
    """Fire a named rule by hand for a coin (tests, overrides). It goes through the same
    cooldowns, caps and risk checks as a rule the market fired."""

    rule: str = Field(min_length=1, max_length=200)
    coin: str = Field(min_length=1, max_length=40)
    side: Literal["long", "short"] | None = None  # None: the rule's own side


class ShardJoinArgs(_Args):
    """A market shard asking the account owner (shard 0) for its coins (docs/SCALE.md)."""

    index: int = Field(ge=1, le=255)
    count: int = Field(ge=2, le=256)
    commands: str | None = Field(None, max_length=1000)  # the shard's own commands socket


class ShardTriggerArgs(_Args):
    """A trigger a market shard fired, for the account owner to trade: its ``trigger`` is
    :meth:`TriggerFired.to_dict`; ``mid`` and ``atr`` are the shard's at that tick (the owner
    has no book of the coin)."""

    index: int = Field(ge=1, le=255)
    trigger: dict[str, Any]
    mid: float | None = Field(None, gt=0)
    atr: float | None = Field(None, gt=0)


class ShardMarketArgs(_Args):
    """A market shard's mids and 1-minute ATRs, pushed to the account owner every second
    (exposure, equity and brackets of coins the owner does not subscribe to), and its own
    market-data breakers' state."""

    index: int = Field(ge=1, le=255)
    coins: list[str] = Field(default_factory=list)  # the shard's coins, as the owner gave them
    mids: dict[str, float]
    atr: dict[str, float] = Field(default_factory=dict)
    state: str = "ACTIVE"


# Every command the hot path answers and the model its args must satisfy.
COMMAND_ARGS: dict[str, type[BaseModel]] = {
    "status": NoArgs,
    "pause": PauseArgs,
    "resume": NoArgs,
    "cancel_all": CoinScopeArgs,
    "flatten": CoinScopeArgs,
    "apply_decision": Decision,
    "set_feature": SetFeatureArgs,
    "reload_triggers": ReloadArgs,
    "reload_model": ReloadArgs,
    "fire_rule": FireRuleArgs,
    # the account owner of a sharded hot path (shard 0) answers these too
    "shard_join": ShardJoinArgs,
    "shard_trigger": ShardTriggerArgs,
    "shard_market": ShardMarketArgs,
}
