"""The seed dialect: trigger YAML as the design documents wrote it, translated to the native form.

The design documents' rule files say ``triggers:`` (or are a bare mapping of trigger names),
``symbols`` and ``intervals``, name some features differently (``funding_bp``, ``vwap_z_1m``,
``oi_delta_5m``, ``trade_burst``), put the side in an action (``side: sell``) and have action
shorthands (``protective_long``, ``start_analysis``). :func:`translate` is a pure function from
that form to the native one; the native compiler then validates the result unchanged, and
:func:`in_seed_terms` puts its errors back in the words the user wrote. Every choice made here
is in docs/TRIGGERS.md ("The seed dialect").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NoReturn

from tripwire.contracts.features import BOOL, CATALOG
from tripwire.hotpath.triggers.errors import RuleConfigError
from tripwire.hotpath.triggers.grammar import COMBINATORS, OPERATORS, PCT_OPS, TOP_KEYS

SEED_TOP_KEYS = ("symbols", "intervals", "triggers")
# Bar intervals a seed file may list; the features carry their window in their name (_1m, _5m…).
INTERVALS = ("1m", "5m", "15m", "30m")
FEATURE_ALIASES = {
    "funding_bp": "funding_bps",
    "vwap_z_1m": "vwap_zscore_1m",
    "oi_delta_5m": "oi_change_pct_5m",
    "oi_delta_15m": "oi_change_pct_15m",
}
# Seed thresholds on these are in millions of USD per minute; the features are in USD per minute.
MUSD_FEATURES = ("cvd_slope_1m", "cvd_slope_5m")
MUSD = 1_000_000.0
# Past this a "$M per minute" threshold is surely written in USD: refused, not multiplied.
MUSD_MAX = 1_000.0
# Features already in percent: the seed's scalar `_gt_pct: p` is a plain comparison on them.
PCT_FEATURES = ("oi_change_pct_5m", "oi_change_pct_15m")
# `trade_burst: true` = the 5 s trade count at least this many σ above its baseline.
TRADE_BURST_Z = 2.0
BOOL_SHORTHANDS = {"trade_burst": "trade_burst_zscore"}
SIDE_WORDS = {"buy": "long", "sell": "short", "long": "long", "short": "short"}
ENTRY_WORDS = {"market": "ioc"}
PARAM_ALIASES = {"place_limit": {"price_offset_bps": "offset_bps"}}
ACTION_ALIASES = {"protective_long": "place_bracket", "protective_short": "place_bracket", "start_analysis": None}
RULE_KEY_ALIASES = {"symbols": "coins"}


@dataclass
class Translation:
    """The native document, and per rule the native words that stand for what the user wrote."""

    native: dict[str, Any]
    written: dict[str, dict[str, str]] = field(default_factory=dict)  # rule → native → seed


def is_seed(doc: Any) -> bool:
    """A seed-form document: it has a seed top-level key, or is a bare mapping of triggers."""
    if not isinstance(doc, dict) or not doc:
        return False
    if any(k in SEED_TOP_KEYS for k in doc):
        return True
    return all(
        isinstance(k, str)
        and k not in TOP_KEYS
        and isinstance(v, dict)
        and any(c in v for c in (*COMBINATORS, "actions"))
        for k, v in doc.items()
    )


def translate(doc: dict[str, Any], source: str) -> Translation:
    """The seed document ``doc`` in native form; a seed-only mistake raises RuleConfigError."""
    if not any(k in SEED_TOP_KEYS for k in doc) and "rules" not in doc:
        top: dict[str, Any] = {}
        triggers: Any = doc  # the bare form: every key is a trigger
    else:
        if "triggers" in doc and "rules" in doc:
            _fail(source, None, "triggers", "both 'triggers' and 'rules': write the rules under one of them")
        top = {k: v for k, v in doc.items() if k not in SEED_TOP_KEYS and k != "rules"}
        triggers = doc.get("triggers", doc.get("rules"))
    symbols = None if triggers is doc else doc.get("symbols")
    if symbols is not None and (
        not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) and s for s in symbols)
    ):
        _fail(source, None, "symbols", f"'symbols' must be a non-empty list of coin names, e.g. [BTC], got {symbols!r}")
    intervals = doc.get("intervals") if triggers is not doc else None
    if intervals is not None:
        if not isinstance(intervals, list) or not intervals:
            _fail(source, None, "intervals", f"'intervals' must be a list like [1m, 5m], got {intervals!r}")
        for iv in intervals:
            if iv not in INTERVALS:
                _fail(
                    source, None, "intervals", f"unknown interval {iv!r} in 'intervals' (one of {', '.join(INTERVALS)})"
                )
    if triggers is None:
        triggers = {}
    out = Translation({**top, "rules": triggers})
    if not isinstance(triggers, dict):
        return out  # the native compiler says what 'rules' must be
    rules: dict[Any, Any] = {}
    for name, body in triggers.items():
        rule = _Rule(source, str(name))
        rules[name] = rule.body(body, symbols)
        out.written[str(name)] = rule.written
    out.native["rules"] = rules
    return out


def in_seed_terms(e: RuleConfigError, t: Translation) -> RuleConfigError:
    """A native compiler error about a translated document, naming the seed keys instead."""
    written = t.written.get(e.rule or "", {})
    reason, key = e.reason, e.key
    for native, seed in written.items():
        reason = reason.replace(repr(native), repr(seed))
        if key == native:
            key = seed
    return RuleConfigError(e.source, reason, rule=e.rule, key=key, line=e.line, noun="trigger")


def _fail(source: str, rule: str | None, key: str | None, reason: str) -> NoReturn:
    raise RuleConfigError(source, reason, rule=rule, key=key, noun="trigger")


def _is_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


class _Rule:
    """Translates one trigger, remembering the native words that replaced the user's."""

    def __init__(self, source: str, name: str):
        self.source = source
        self.name = name
        self.written: dict[str, str] = {}
        self.sides: list[tuple[str, str]] = []  # (side, the key that said so)

    def fail(self, key: str | None, reason: str) -> NoReturn:
        _fail(self.source, self.name, key, reason)

    def body(self, body: Any, symbols: list[str] | None) -> Any:
        if not isinstance(body, dict):
            return body  # the native compiler names what a rule must be
        out: dict[str, Any] = {}
        for key, value in body.items():
            if key in ("when_all", "when_any"):
                out[key] = self.conditions(value)
            elif key == "quorum":
                out[key] = self.quorum(value)
            elif key == "when_present":
                out[key] = self.when_present(value)
            elif key == "actions":
                out[key] = self.actions(value)
            elif key == "symbols":
                if "coins" in body:
                    self.fail("symbols", "both 'symbols' and 'coins': give one")
                out["coins"] = value
                self.written["coins"] = "symbols"
            elif key == "side":
                if value not in SIDE_WORDS:
                    self.fail("side", f"'side' must be buy, sell, long or short, got {value!r}")
                self.sides.append((SIDE_WORDS[value], "side"))
            else:
                out[key] = value
        if symbols is not None and "coins" not in out:
            out["coins"] = list(symbols)
        if not self.sides:
            self.fail(
                None,
                "no side: give an order action 'side: buy|sell', use protective_long or protective_short, "
                "or write 'side: long|short' on the trigger",
            )
        side, said = self.sides[0]
        for other, key in self.sides[1:]:
            if other != side:
                self.fail(key, f"{key!r} says {other} but {said!r} says {side}: a trigger's orders take one side")
        return {"side": side, **out}

    # -- conditions

    def conditions(self, value: Any) -> Any:
        """A list of condition mappings; a mapping is one entry per condition."""
        if isinstance(value, dict):
            return [self.mapping({k: v}) for k, v in value.items()]
        if isinstance(value, list):
            return [self.mapping(item) for item in value]
        return value

    def quorum(self, value: Any) -> Any:
        if isinstance(value, dict) and "of" in value:
            return {**value, "of": self.conditions(value["of"])}
        return value

    def when_present(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: self.conditions(v) if k in ("then", "else") else v for k, v in value.items()}

    def mapping(self, m: Any) -> Any:
        if not isinstance(m, dict):
            return m
        out: dict[Any, Any] = {}
        for key, value in m.items():
            if key in ("when_all", "when_any"):
                out[key] = self.conditions(value)
            elif key == "quorum":
                out[key] = self.quorum(value)
            elif key == "when_present":
                out[key] = self.when_present(value)
            elif isinstance(key, str):
                native, v = self.leaf(key, value)
                if native != key:
                    self.written[native] = key
                out[native] = v
            else:
                out[key] = value
        return out

    def leaf(self, key: str, value: Any) -> tuple[str, Any]:
        if key in BOOL_SHORTHANDS:
            if type(value) is not bool:
                self.fail(key, f"{key!r} expects true or false, got {value!r}")
            return f"{BOOL_SHORTHANDS[key]}{'_ge' if value else '_lt'}", TRADE_BURST_Z
        if key in CATALOG and CATALOG[key].kind == BOOL and type(value) is int:
            if value not in (0, 1):
                self.fail(key, f"{key!r} is true or false (1 or 0 in the seed form), got {value!r}")
            return key, bool(value)
        split = _split(key)
        if split is None:
            return key, value  # the native compiler names the unknown feature
        written, op = split
        feature = FEATURE_ALIASES.get(written, written)
        if op in PCT_OPS and not isinstance(value, dict):
            if feature not in PCT_FEATURES:
                self.fail(
                    key,
                    f"{key!r}: a number after {op!r} means 'changed by more than p %', which only "
                    f"{', '.join(a for a, f in FEATURE_ALIASES.items() if f in PCT_FEATURES)} have; for "
                    f"'more than p % above another feature' write {{of: <feature>, pct: p}}",
                )
            op = op[:3]
        if feature in MUSD_FEATURES and _is_number(value):
            if abs(value) > MUSD_MAX:
                self.fail(
                    key,
                    f"{key!r}: in the seed form {feature} is in $M per minute, so {value!r} would be "
                    f"${value:g}M per minute; write it in $M (e.g. 0.5), or use the native form (rules:)",
                )
            value = value * MUSD
        return feature + op, value

    # -- actions

    def actions(self, raw: Any) -> Any:
        if not isinstance(raw, list):
            return raw
        out: list[Any] = []
        for item in raw:
            if isinstance(item, str) and item in ACTION_ALIASES:
                if item.startswith("protective_"):
                    self.sides.append((item.removeprefix("protective_"), item))
                    out.append({"place_bracket": {}})
                # start_analysis: every trigger is analysed by the configured default workflow
                continue
            if isinstance(item, dict) and len(item) == 1:
                ((name, params),) = item.items()
                if isinstance(params, dict):
                    params = self.params(str(name), params)
                out.append({name: params})
                continue
            out.append(item)
        return out

    def params(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        if "side" in out:
            side = out.pop("side")
            if side not in SIDE_WORDS:
                self.fail(action, f"action {action!r}: parameter 'side' must be buy or sell, got {side!r}")
            self.sides.append((SIDE_WORDS[side], action))
        for seed, native in PARAM_ALIASES.get(action, {}).items():
            if seed in out:
                if native in out:
                    self.fail(action, f"action {action!r}: both {seed!r} and {native!r}: give one")
                out[native] = out.pop(seed)
                self.written[native] = seed
        if action == "place_bracket" and out.get("entry") in ENTRY_WORDS:
            out["entry"] = ENTRY_WORDS[out["entry"]]
        return out


def _split(key: str) -> tuple[str, str] | None:
    """(feature as written, operator) when the feature is a catalogue name or a seed alias."""
    best: tuple[str, str] | None = None
    for op in OPERATORS:
        if key.endswith(op):
            feature = key[: -len(op)]
            if (feature in CATALOG or feature in FEATURE_ALIASES) and (best is None or len(feature) > len(best[0])):
                best = (feature, op)
    return best
