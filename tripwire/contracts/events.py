"""Contracts the hot path owns and every other package imports: events, commands, decisions.

Only plain data here, no behaviour beyond (de)serialisation, so tripwire/flows/ and tripwire/api/ can import it
without pulling in anything from the hot path's internals.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class TriggerFired:
    """One fired trigger: the unit that protective orders, analysis and decisions refer to.

    ``exch_ts_ns`` and ``recv_ts_ns`` are the exchange time and local receive time of the tick
    that caused it, so latency can be measured end to end; ``fired_ts_ns`` is when it fired
    (same clock as ``recv_ts_ns``).
    """

    __slots__ = ("trigger_id", "rule", "coin", "side", "features", "actions", "exch_ts_ns",
                 "recv_ts_ns", "fired_ts_ns")

    def __init__(self, trigger_id: str, rule: str, coin: str, side: str,
                 features: dict[str, float | bool], actions: list[tuple[str, dict[str, Any]]],
                 exch_ts_ns: int, recv_ts_ns: int, fired_ts_ns: int):
        self.trigger_id = trigger_id
        self.rule = rule
        self.coin = coin
        self.side = side
        self.features = features
        self.actions = actions
        self.exch_ts_ns = exch_ts_ns
        self.recv_ts_ns = recv_ts_ns
        self.fired_ts_ns = fired_ts_ns

    @property
    def topic(self) -> str:
        return f"trigger.fired.{self.rule}.{self.coin}"

    def to_dict(self) -> dict[str, Any]:
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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TriggerFired":
        return cls(d["trigger_id"], d["rule"], d["coin"], d["side"], dict(d["features"]),
                   [(a["name"], dict(a["params"])) for a in d["actions"]], int(d["exch_ts_ns"]),
                   int(d["recv_ts_ns"]), int(d["fired_ts_ns"]))


def trigger_seq(trigger_id: str) -> int | None:
    """The hot path's trigger sequence number, which ends every trigger id
    (``<rule>.<coin>.<exch_ms>.<seq>``): one counter across rules and coins per hot-path
    instance, so a consumer that saw #4 and then #7 knows it missed two triggers."""
    tail = trigger_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else None


# -- decisions (analysis, n8n, operators → hot path) ---------------------------------------

DECISION_SOURCES = ("llm", "local", "n8n", "operator", "policy")


class Decision(BaseModel):
    """What to do with one trigger's protective orders.

    ``go`` false → cancel them; ``go`` true with ``tp_atr``/``sl_atr``/``size_scale`` → adjust
    to those; ``go`` true with none of them → keep as placed. ``sA`` is the directional score
    in the trigger's favour (−1..1), ``confA`` the confidence in it (0..1), ``prob_cont`` the
    probability the move continues — the seed analyzer's field names, kept for n8n.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str = Field(min_length=1, max_length=200)
    go: bool
    sA: float = Field(ge=-1.0, le=1.0)
    confA: float = Field(ge=0.0, le=1.0)
    prob_cont: float = Field(ge=0.0, le=1.0)
    tp_atr: float | None = Field(None, gt=0.0, le=20.0)
    sl_atr: float | None = Field(None, ge=0.7, le=20.0, description="never tighter than 0.7 ATR")
    size_scale: float | None = Field(None, ge=0.0, le=1.0,
                                     description="scale the trigger's size down (never up)")
    reason: str = Field("", max_length=2000)
    source: str = Field("local", pattern="^(" + "|".join(DECISION_SOURCES) + ")$")
    created_ns: int = 0

    @property
    def kind(self) -> str:
        """keep, cancel or adjust: what the hot path will do."""
        if not self.go:
            return "cancel"
        if self.tp_atr is None and self.sl_atr is None and self.size_scale in (None, 1.0):
            return "keep"
        return "adjust"


# -- event bus: envelopes, topics and commands (hot path ⇄ everyone) ------------------------
# Wire format and rationale: docs/BUS.md. Sockets live in tripwire.bus; only schemas here.

EVENT_FIELDS = ("schema", "seq", "topic_seq", "topic", "exch_ts_ns", "recv_ts_ns", "pub_ts_ns",
                "publisher", "instance", "data")


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
    def md_candle(coin: str) -> str:
        return f"md.candle.{coin}"

    ACCOUNT = "account"


def topic_root(topic: str) -> str:
    """The first two dotted parts (``md.book.BTC`` → ``md.book``): the unit drops are counted in."""
    parts = topic.split(".", 2)
    return ".".join(parts[:2])


class Event:
    """One decoded bus event (the envelope plus its ``data``).

    ``seq`` counts every event of one publisher instance from 0, dropped ones included, so a
    subscriber that takes every topic sees a gap; ``topic_seq`` does the same per exact topic for
    subscribers that filter. ``instance`` changes when the publisher restarts. ``exch_ts_ns`` and
    ``recv_ts_ns`` are those of the tick that caused the event (0 when none did); ``pub_ts_ns``
    is the publisher's wall clock at send.
    """

    __slots__ = EVENT_FIELDS

    def __init__(self, schema: int, seq: int, topic_seq: int, topic: str, exch_ts_ns: int,
                 recv_ts_ns: int, pub_ts_ns: int, publisher: str, instance: str,
                 data: dict[str, Any]):
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
        return (f"Event({self.topic!r}, seq={self.seq}, publisher={self.publisher!r}, "
                f"data={self.data!r})")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in EVENT_FIELDS}

    @classmethod
    def from_dict(cls, d: Any) -> "Event":
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
        return cls(d["schema"], d["seq"], d["topic_seq"], d["topic"], d["exch_ts_ns"],
                   d["recv_ts_ns"], d["pub_ts_ns"], d["publisher"], d["instance"], d["data"])


_EVENT_TYPES = (("schema", int), ("seq", int), ("topic_seq", int), ("topic", str),
                ("exch_ts_ns", int), ("recv_ts_ns", int), ("pub_ts_ns", int), ("publisher", str),
                ("instance", str), ("data", dict))


class CommandErrorCode:
    """The ``error.code`` values a command reply can carry."""

    BAD_REQUEST = "bad_request"          # not JSON, not an object, no id/cmd
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGS = "invalid_args"        # args failed the command's model; nothing applied
    EXPIRED = "expired"                  # arrived after the caller's deadline; nothing applied
    HANDLER_ERROR = "handler_error"      # the handler raised unexpectedly
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
}
