"""The rule language (config/triggers.yaml): parse and validate once, compile to closures.

A rule's conditions become a tree of small closures at load time, so evaluating a rule on the
hot path is a few function calls and dict ``get``s on the coin's feature values, with no walk
over the rule's structure. A leaf reads ``values.get(feature, nan)``: every comparison with NaN
is False, so a feature that is absent (still warming up) makes its condition false without an
extra ``is None`` test, and a rule that needs it cannot fire. (There is deliberately no ``not``
combinator: negating would turn "absent" into "true".)

Grammar (see docs/TRIGGERS.md for the full reference)::

    max_active_triggers: 3
    active_ttl_s: 120
    defaults: {cooldown_s: 60, on: tick}
    allow_empty: false          # true: 'rules: {}' is accepted (otherwise refused)
    rules:
      <name>:
        side: long|short
        on: tick|bar_close_1m
        when_all | when_any: [<condition mapping>, ...]   # or quorum: {k, of: [...]}
        actions: [{<action>: {<params>}}, ...]

A condition mapping holds ``<feature>_<op>: value`` entries (all must hold), nested
``when_all`` / ``when_any`` / ``quorum``, and ``<bool feature>: true|false``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeGuard

from tripwire.config.files import ConfigFileError, StrictLoader, dotted, load_yaml
from tripwire.contracts.features import BAR_CLOSE, BOOL, CATALOG, NUMBER
from tripwire.hotpath.triggers.actions import ActionError, validate_action
from tripwire.hotpath.triggers.errors import RuleConfigError, did_you_mean
from tripwire.hotpath.triggers.grammar import COMBINATORS, OPERATORS, PCT_OPS, RULE_KEYS, TOP_KEYS
from tripwire.hotpath.triggers.seed_dialect import (
    BOOL_SHORTHANDS,
    FEATURE_ALIASES,
    RULE_KEY_ALIASES,
    SEED_TOP_KEYS,
    in_seed_terms,
    is_seed,
    translate,
)

Condition = Callable[[Mapping[str, Any]], bool]

_NAN = float("nan")

TICK = "tick"
ON_VALUES = (TICK, BAR_CLOSE)
SIDES = ("long", "short")
_PCT_OPS = PCT_OPS
# A bare word the seed dialect knows, suggested as the native feature it stands for.
_BARE_ALIASES = {**FEATURE_ALIASES, **BOOL_SHORTHANDS}
# Spellings from other query languages, where difflib alone would guess '_gt' for '_gte'.
_OPERATOR_ALIASES = {"_gte": "_ge", "_lte": "_le", "_geq": "_ge", "_leq": "_le", "_above": "_gt", "_below": "_lt"}
DEFAULT_KEYS = ("cooldown_s", "on")
_RULE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_MAX_ACTIVE = 3
DEFAULT_ACTIVE_TTL_S = 120.0
DEFAULT_COOLDOWN_S = 60.0


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``condition(values)`` is the whole ``when_*`` tree as one closure."""

    name: str
    side: str
    on: str
    cooldown_s: float
    coins: frozenset[str] | None  # None: every coin
    condition: Condition
    features: frozenset[str]  # every feature the conditions read
    kinds: frozenset[str]  # update kinds that can change the outcome
    actions: tuple[tuple[str, dict[str, Any]], ...]
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    max_active_triggers: int
    active_ttl_s: float
    source: str

    def __getitem__(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)


# ---------------------------------------------------------------------------------------------
# loading


class _Loader(StrictLoader):
    """YAML 1.1 with three traps removed, because each silently changes what a rule means.

    - ``on``/``off``/``yes``/``no`` stay strings (PyYAML reads ``on: tick`` as ``True: tick``);
      only true/false are booleans.
    - ``1e5`` is a float (PyYAML needs ``1.0e+5``, otherwise it is the string '1e5').
    - A duplicate key is an error (PyYAML keeps the last one: a second rule with the same name
      would silently replace the first); the shared :class:`StrictLoader` does that, and refuses
      ``.inf``/``.nan``, as it does for every config file.
    """


_Loader.yaml_implicit_resolvers = {
    ch: [r for r in rs if r[0] != "tag:yaml.org,2002:bool"] for ch, rs in StrictLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def load_rules(path: str | Path) -> RuleSet:
    """Read and compile a rule file; any problem raises :class:`RuleConfigError`."""
    source = _display_path(Path(path))
    try:
        doc = load_yaml(Path(path), _Loader)
    except OSError as e:
        raise RuleConfigError(source, f"cannot read the file ({e.strerror or e})") from None
    except ConfigFileError as e:
        raise _file_error(source, e) from None
    return compile_rules(doc, source)


def _file_error(source: str, e: ConfigFileError) -> RuleConfigError:
    """The reader's error in the rule file's terms: an entry under ``rules.<name>`` names the rule."""
    keys = e.keys
    rule = None
    noun = "trigger" if keys and keys[0] == "triggers" else "rule"  # the seed dialect's word
    if len(keys) >= 2 and keys[0] in ("rules", "triggers") and isinstance(keys[1], str):
        rule, keys = keys[1], keys[2:]
    reason = f"{dotted(keys)}: {e.reason}" if keys else e.reason
    key = next((k for k in reversed(keys) if isinstance(k, str)), None)
    return RuleConfigError(source, reason, rule=rule, key=key, line=e.line, noun=noun)


def compile_rules(doc: Any, source: str = "<rules>") -> RuleSet:
    """Validate a parsed rule document and compile each rule to a :class:`Rule`.

    A document in the seed dialect (``triggers:``, ``symbols``, …: docs/TRIGGERS.md) is
    translated to the native form first; errors then name what the user wrote.
    """
    if is_seed(doc):
        seed = translate(doc, source)
        try:
            return _compile_native(seed.native, source)
        except RuleConfigError as e:
            raise in_seed_terms(e, seed) from None
    return _compile_native(doc, source)


def _compile_native(doc: Any, source: str) -> RuleSet:
    if doc is None:
        raise RuleConfigError(source, "the file is empty: expected " + ", ".join(TOP_KEYS))
    if not isinstance(doc, dict):
        raise RuleConfigError(source, f"expected a mapping of {', '.join(TOP_KEYS)}, got {_type_name(doc)}")
    for key in doc:
        if key not in TOP_KEYS:
            raise RuleConfigError(
                source,
                f"unknown top-level key {_key_text(key)}{did_you_mean(str(key), (*TOP_KEYS, *SEED_TOP_KEYS))}",
                key=str(key),
            )
    top = _Compiler(source, None)
    max_active = doc.get("max_active_triggers", DEFAULT_MAX_ACTIVE)
    if type(max_active) is not int or max_active < 1:
        top.fail("max_active_triggers", f"'max_active_triggers' must be an integer ≥ 1, got {max_active!r}")
    ttl_s = top.number("active_ttl_s", doc.get("active_ttl_s", DEFAULT_ACTIVE_TTL_S))
    if ttl_s <= 0:
        top.fail("active_ttl_s", f"'active_ttl_s' must be > 0, got {ttl_s!r}")

    defaults = doc.get("defaults", {})
    if defaults is None:  # 'defaults:' with nothing under it
        defaults = {}
    if not isinstance(defaults, dict):
        top.fail("defaults", f"'defaults' must be a mapping, got {_type_name(defaults)}")
    for key in defaults:
        if key not in DEFAULT_KEYS:
            top.fail(str(key), f"unknown key {_key_text(key)} in 'defaults'{did_you_mean(str(key), DEFAULT_KEYS)}")
    default_cooldown = top.cooldown(defaults.get("cooldown_s", DEFAULT_COOLDOWN_S))
    default_on = top.on(defaults.get("on", TICK))

    if "rules" not in doc:
        top.fail("rules", "missing 'rules' (a mapping of rule name → rule)")
    allow_empty = doc.get("allow_empty", False)
    if type(allow_empty) is not bool:
        top.fail("allow_empty", f"'allow_empty' must be true or false, got {allow_empty!r}")
    rules_doc = doc["rules"]
    if rules_doc is None:
        rules_doc = {}  # 'rules:' with nothing under it: the same as 'rules: {}'
    if not isinstance(rules_doc, dict):
        top.fail("rules", f"'rules' must be a mapping of rule name → rule, got {_type_name(rules_doc)}")
    # An emptied rule file would otherwise stop all trading without a word (at start, or on a
    # live reload that replaces every rule), so running without rules has to be asked for.
    if not rules_doc and not allow_empty:
        top.fail(
            "rules",
            "'rules' is empty: no rule would ever fire; to run without rules on purpose, add 'allow_empty: true'",
        )
    rules = tuple(
        _Compiler(source, str(name)).rule(body, default_cooldown, default_on) for name, body in rules_doc.items()
    )
    return RuleSet(rules, max_active, float(ttl_s), source)


# ---------------------------------------------------------------------------------------------
# compiling


class _Compiler:
    """Compiles one rule; knows the file and rule name so every error can name both."""

    def __init__(self, source: str, rule: str | None):
        self.source = source
        self.rule_name = rule
        self.features: set[str] = set()

    def fail(self, key: str | None, reason: str) -> NoReturn:
        raise RuleConfigError(self.source, reason, rule=self.rule_name, key=key)

    # -- scalars

    def number(self, key: str, value: Any) -> float:
        if not _is_number(value):
            self.fail(key, f"{key!r} expects a number, got {_value_text(value)}")
        return value

    def cooldown(self, value: Any) -> float:
        value = self.number("cooldown_s", value)
        if value < 0:
            self.fail("cooldown_s", f"'cooldown_s' must be ≥ 0, got {value!r}")
        return float(value)

    def on(self, value: Any) -> str:
        if value not in ON_VALUES:
            self.fail(
                "on", f"'on' must be one of {', '.join(ON_VALUES)}, got {value!r}{did_you_mean(str(value), ON_VALUES)}"
            )
        return str(value)

    # -- a rule

    def rule(self, body: Any, default_cooldown: float, default_on: str) -> Rule:
        name = self.rule_name
        assert name is not None, "compile_rules makes one _Compiler per rule, with its name"
        if not _RULE_NAME_RE.match(name):
            self.fail(None, "a rule name must be lower_snake_case (it appears in event topics and trigger ids)")
        if not isinstance(body, dict):
            self.fail(None, f"expected a mapping of {', '.join(RULE_KEYS)}, got {_type_name(body)}")
        for key in body:
            if key not in RULE_KEYS:
                self.fail(
                    str(key), f"unknown key {_key_text(key)}{did_you_mean(str(key), RULE_KEYS, RULE_KEY_ALIASES)}"
                )

        side = body.get("side")
        if side not in SIDES:
            self.fail("side", f"'side' must be long or short, got {side!r}")
        on = self.on(body["on"]) if "on" in body else default_on
        cooldown_s = self.cooldown(body["cooldown_s"]) if "cooldown_s" in body else default_cooldown
        description = body.get("description", "")
        if not isinstance(description, str):
            self.fail("description", "'description' must be text")
        enabled = body.get("enabled", True)
        if type(enabled) is not bool:
            self.fail("enabled", f"'enabled' must be true or false, got {enabled!r}")
        coins = body.get("coins")
        if coins is not None:
            if not isinstance(coins, list) or not coins or not all(isinstance(c, str) and c for c in coins):
                self.fail("coins", f"'coins' must be a non-empty list of coin names, e.g. [BTC], got {coins!r}")
            coins = frozenset(coins)

        top = {k: body[k] for k in COMBINATORS if k in body}
        if not top:
            self.fail(None, "no conditions: give when_all, when_any or quorum")
        condition = _all_of(self.mapping(top, "conditions"))
        kinds = (
            frozenset({BAR_CLOSE})
            if on == BAR_CLOSE
            else frozenset(k for f in self.features for k in CATALOG[f].updated_on)
        )
        return Rule(
            name=name,
            side=side,
            on=on,
            cooldown_s=cooldown_s,
            coins=coins,
            condition=condition,
            features=frozenset(self.features),
            kinds=kinds,
            actions=self.actions(body.get("actions", [])),
            description=description,
            enabled=enabled,
        )

    def actions(self, raw: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail("actions", "'actions' must be a list like [{place_bracket: {...}}]")
        out = []
        for item in raw:
            if isinstance(item, str):
                name, params = item, None
            elif isinstance(item, dict) and len(item) == 1:
                ((name, params),) = item.items()
            else:
                self.fail("actions", f"each action must be one '<name>: {{params}}' mapping, got {item!r}")
            try:
                out.append((str(name), validate_action(str(name), params)))
            except ActionError as e:
                self.fail(str(name), str(e))
        if sum(name == "start_workflow" for name, _ in out) > 1:
            self.fail("start_workflow", "more than one 'start_workflow': a trigger is analysed by one workflow")
        return tuple(out)

    # -- conditions

    def mapping(self, m: Any, where: str) -> list[Condition]:
        """All conditions of one mapping (each must hold), in the order written."""
        if not isinstance(m, dict):
            self.fail(
                where, f"{where!r}: a condition must be a mapping like {{funding_bps_lt: 0}}, got {_value_text(m)}"
            )
        if not m:
            self.fail(where, f"{where!r}: empty conditions")
        out = []
        for key, value in m.items():
            if not isinstance(key, str):
                self.fail(str(key), f"condition key {_key_text(key)} is not text")
            if key in COMBINATORS:
                out.append(self.combinator(key, value))
            else:
                out.append(self.leaf(key, value))
        return out

    def items(self, key: str, value: Any) -> list[Condition]:
        """A list of condition mappings; each item is one condition (its entries ANDed)."""
        if not isinstance(value, list):
            self.fail(key, f"{key!r} must be a list of conditions, got {_value_text(value)}")
        if not value:
            self.fail(key, f"{key!r}: empty conditions")
        return [_all_of(self.mapping(item, key)) for item in value]

    def combinator(self, key: str, value: Any) -> Condition:
        if key == "when_all":
            return _all_of(self.items(key, value))
        if key == "when_any":
            return _any_of(self.items(key, value))
        if key == "when_present":
            return self.when_present(value)
        if not isinstance(value, dict) or set(value) != {"k", "of"}:
            self.fail("quorum", f"'quorum' must be {{k: <int>, of: [conditions]}}, got {_value_text(value)}")
        voters = self.items("quorum", value["of"])
        k = value["k"]
        if type(k) is not int or not 1 <= k <= len(voters):
            self.fail(
                "quorum",
                f"'quorum' k must be an integer from 1 to {len(voters)} (the number of conditions in 'of'), got {k!r}",
            )
        return _quorum(k, voters)

    def when_present(self, value: Any) -> Condition:
        """``{feature: f, then: [..], else: [..]}``: ``then`` must hold while f has a value, else
        ``else`` (which holds when left out). For a feature set from outside the hot path, such as
        ``ls_ratio``: use it once it exists without making the rule wait for it."""
        if not isinstance(value, dict) or not {"feature", "then"} <= set(value) <= {"feature", "then", "else"}:
            self.fail(
                "when_present",
                "'when_present' must be {feature: <name>, then: [conditions], else: [conditions]} "
                f"('else' optional), got {_value_text(value)}",
            )
        feature = value["feature"]
        if not isinstance(feature, str) or feature not in CATALOG:
            self.fail(
                "when_present",
                f"unknown feature {feature!r} in 'when_present'{did_you_mean(str(feature), CATALOG, FEATURE_ALIASES)}",
            )
        self.features.add(feature)
        then = _all_of(self.items("when_present", value["then"]))
        otherwise = _all_of(self.items("when_present", value["else"])) if "else" in value else None
        return _when_present(feature, then, otherwise)

    def leaf(self, key: str, value: Any) -> Condition:
        feature, op = self.parse_key(key)
        spec = CATALOG[feature]
        self.features.add(feature)
        if op is None:  # a bare feature name: boolean equality
            if spec.kind != BOOL:
                self.fail(
                    key,
                    f"feature {feature!r} is a number: add an operator, e.g. "
                    f"'{feature}_gt' (one of {' '.join(OPERATORS)})",
                )
            op = "_eq"
        if spec.kind == BOOL:
            if op != "_eq":
                self.fail(
                    key,
                    f"operator {op!r} in {key!r} needs a number, but {feature!r} is "
                    f"a boolean: write '{feature}: true' or '{feature}: false'",
                )
            if type(value) is not bool:
                self.fail(key, f"{key!r} expects true or false, got {_value_text(value)}")
            return _eq(feature, value)
        if op in _PCT_OPS:
            return self.pct(key, feature, op, value)
        if not _is_number(value):
            self.fail(key, f"{key!r} expects a number, got {_value_text(value)}")
        return _COMPARE[op](feature, value)

    def pct(self, key: str, feature: str, op: str, value: Any) -> Condition:
        if not isinstance(value, dict) or set(value) != {"of", "pct"}:
            self.fail(key, f"{key!r} expects {{of: <feature>, pct: <number>}}, got {_value_text(value)}")
        of, pct = value["of"], value["pct"]
        if of not in CATALOG:
            self.fail(key, f"unknown feature {of!r} in {key!r} 'of'{did_you_mean(str(of), CATALOG)}")
        if CATALOG[of].kind != NUMBER:
            self.fail(key, f"{key!r}: 'of' must be a number feature, {of!r} is a boolean")
        if not _is_number(pct):
            self.fail(key, f"{key!r} 'pct' expects a number, got {_value_text(pct)}")
        self.features.add(of)
        if op == "_gt_pct":
            return _gt_scaled(feature, of, 1.0 + pct / 100.0)
        return _lt_scaled(feature, of, 1.0 - pct / 100.0)

    def parse_key(self, key: str) -> tuple[str, str | None]:
        """Split ``<feature><op>`` into (feature, op); op is None for a bare feature name.

        Feature names contain underscores and operators are suffixes, so the split is by
        matching known names: of the splits whose feature is in the catalog, the longest
        feature wins (a feature named ``x_gt`` makes ``x_gt_gt`` mean ``x_gt`` + ``_gt``).
        """
        if key in CATALOG:
            return key, None
        best: tuple[str, str] | None = None
        for op in OPERATORS:
            if key.endswith(op):
                feature = key[: -len(op)]
                if feature in CATALOG and (best is None or len(feature) > len(best[0])):
                    best = (feature, op)
        if best is not None:
            return best
        # Not valid: say which part is wrong.
        for op in OPERATORS:
            if key.endswith(op) and len(key) > len(op):
                feature = key[: -len(op)]
                self.fail(
                    key, f"unknown feature {feature!r} in {key!r}{did_you_mean(feature, CATALOG, FEATURE_ALIASES)}"
                )
        prefixes = [f for f in CATALOG if key.startswith(f + "_")]
        if prefixes:
            feature = max(prefixes, key=len)
            op = key[len(feature) :]
            hint = (
                f" (did you mean {_OPERATOR_ALIASES[op]!r}?)"
                if op in _OPERATOR_ALIASES
                else did_you_mean(op, OPERATORS)
            )
            self.fail(key, f"unknown operator {op!r} in {key!r}{hint}; operators are {' '.join(OPERATORS)}")
        self.fail(
            key,
            f"unknown feature or condition {key!r}{did_you_mean(key, [*CATALOG, *COMBINATORS], _BARE_ALIASES)}",
        )


# ---------------------------------------------------------------------------------------------
# closures: the only code that runs per tick


def _gt(name: str, t: float) -> Condition:
    return lambda values: values.get(name, _NAN) > t


def _lt(name: str, t: float) -> Condition:
    return lambda values: values.get(name, _NAN) < t


def _ge(name: str, t: float) -> Condition:
    return lambda values: values.get(name, _NAN) >= t


def _le(name: str, t: float) -> Condition:
    return lambda values: values.get(name, _NAN) <= t


def _eq(name: str, t: float | bool) -> Condition:
    return lambda values: values.get(name, _NAN) == t


_COMPARE = {"_gt": _gt, "_lt": _lt, "_ge": _ge, "_le": _le, "_eq": _eq}


def _gt_scaled(name: str, of: str, factor: float) -> Condition:
    return lambda values: values.get(name, _NAN) > values.get(of, _NAN) * factor


def _lt_scaled(name: str, of: str, factor: float) -> Condition:
    return lambda values: values.get(name, _NAN) < values.get(of, _NAN) * factor


def _all_of(conds: list[Condition]) -> Condition:
    # Unrolled for the common short cases: one call level fewer than a loop over a tuple.
    if len(conds) == 1:
        return conds[0]
    if len(conds) == 2:
        a, b = conds
        return lambda values: a(values) and b(values)
    if len(conds) == 3:
        a, b, c = conds
        return lambda values: a(values) and b(values) and c(values)
    cs = tuple(conds)

    def all_of(values: Mapping[str, Any]) -> bool:
        for c in cs:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not c(values):
                return False
        return True

    return all_of


def _any_of(conds: list[Condition]) -> Condition:
    if len(conds) == 1:
        return conds[0]
    if len(conds) == 2:
        a, b = conds
        return lambda values: a(values) or b(values)
    cs = tuple(conds)

    def any_of(values: Mapping[str, Any]) -> bool:
        for c in cs:  # noqa: SIM110 - a loop is faster than any() over a generator
            if c(values):
                return True
        return False

    return any_of


def _when_present(name: str, then: Condition, otherwise: Condition | None) -> Condition:
    if otherwise is None:
        return lambda values: then(values) if name in values else True
    return lambda values: then(values) if name in values else otherwise(values)


def _quorum(k: int, conds: list[Condition]) -> Condition:
    n = len(conds)
    if k == 1:
        return _any_of(conds)
    if k == n:
        return _all_of(conds)
    cs = tuple(conds)

    def quorum(values: Mapping[str, Any]) -> bool:
        hits = 0
        left = n
        for c in cs:
            left -= 1
            if c(values):
                hits += 1
                if hits >= k:
                    return True
            elif hits + left < k:  # too few left to reach k
                return False
        return False

    return quorum


# ---------------------------------------------------------------------------------------------
# small helpers


def _display_path(p: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    if p.is_absolute():
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            pass
    return str(p)


def _is_number(v: Any) -> TypeGuard[float]:
    """A finite int or float (not a bool, which YAML's true/false would otherwise pass as)."""
    return type(v) in (int, float) and math.isfinite(v)


def _type_name(v: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "text", bool: "a boolean", type(None): "nothing"}.get(
        type(v), type(v).__name__
    )


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, float) and not math.isfinite(v):
        return f"{v} (not finite)"
    return f"{_type_name(v)} {v!r}" if isinstance(v, (list, dict)) else repr(v)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return (
            f"{str(key).lower()} (an unquoted YAML on/off/yes/no reads as a boolean: "
            f"load the file with load_rules, or quote the key)"
        )
    return repr(key)
