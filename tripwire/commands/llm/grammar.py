"""A llama.cpp grammar (GBNF) for a flat JSON object schema, numeric bounds included.

llama-cpp-python turns a JSON schema into a grammar, but ignores ``minimum`` / ``maximum`` on
numbers: a small model then writes ``"sA": 1.25`` where the contract says −1..1, and the whole
answer is refused (``bad_json``). This builds the grammar itself for the schemas the analysis
sends — an object whose properties are all required and are booleans, strings or numbers (each
maybe nullable) — with each number confined to its bounds and each string to its ``maxLength``.
Anything else returns None and the server's own conversion is used.

:func:`with_decision_bounds` adds ``Decision``'s bounds to the analysis's response schema (which
carries them only in its descriptions: most providers' strict modes reject numeric keywords), so
the grammar enforces exactly what the analysis will check.

Numbers are written with at most 3 decimals and no exponent. Supported bounds (all the contract
has): an integer maximum; a minimum of 0 (inclusive or exclusive), minus the maximum, or a
one-decimal value such as 0.7.
"""

from __future__ import annotations

import math
from typing import Any

STRING_MAX = 200  # a string without maxLength: what the system prompt asks of the reason
DECIMALS = 3

_CHAR = r'[^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_FRACTION = f'("." [0-9]{{1,{DECIMALS}}})?'
_ZEROS = f'("." "0"{{1,{DECIMALS}}})?'


def with_decision_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``Decision``'s bounds on the properties named like its fields."""
    from tripwire.contracts.decisions import Decision

    props = dict(schema.get("properties") or {})
    for name, prop in props.items():
        field = Decision.model_fields.get(name)
        if field is None or not isinstance(prop, dict):
            continue
        extra: dict[str, Any] = {}
        for m in field.metadata:
            for attr, key in (
                ("ge", "minimum"),
                ("gt", "exclusiveMinimum"),
                ("le", "maximum"),
                ("lt", "exclusiveMaximum"),
            ):
                if getattr(m, attr, None) is not None:
                    extra[key] = getattr(m, attr)
        props[name] = {**prop, **extra}
    return {**schema, "properties": props}


def _types(prop: dict[str, Any]) -> list[str] | None:
    t = prop.get("type")
    types = [t] if isinstance(t, str) else t
    if not isinstance(types, list) or not types or not set(types) <= {"boolean", "number", "string", "null"}:
        return None
    return types


def bounded_number(prop: dict[str, Any]) -> str | None:
    """A GBNF expression for a JSON number within the property's bounds; None if unsupported."""
    lo_incl, lo_excl, hi = prop.get("minimum"), prop.get("exclusiveMinimum"), prop.get("maximum")
    if "exclusiveMaximum" in prop:
        return None
    if hi is None:
        return '"-"? [0-9]+ ' + _FRACTION if lo_incl is None and lo_excl is None else None
    if hi != math.floor(hi) or hi < 0 or hi > 1000:
        return None
    top = int(hi)
    lo = lo_incl if lo_incl is not None else lo_excl
    if lo is None:
        return None
    if lo == -hi and lo_excl is None:
        return '"-"? (' + _magnitude(0.0, top, False) + ")"
    if lo < 0 or lo > top or round(lo * 10) != lo * 10:
        return None
    return _magnitude(float(lo), top, lo_excl is not None)


def _magnitude(lo: float, top: int, open_lo: bool) -> str:
    """Non-negative decimals in [lo, top] (or (lo, top]); lo has at most one decimal."""
    alts = []
    first = math.floor(lo)
    for i in range(first, top + 1):
        if i == top:
            if not (open_lo and lo == top):
                alts.append(f'"{i}" {_ZEROS}')
        elif i == first and lo > i:  # e.g. 0.7: "0." then 7, 8 or 9
            d = round((lo - i) * 10)
            alts.append(f'"{i}." [{d}-9] [0-9]{{0,{DECIMALS - 1}}}')
        elif i == first and open_lo:  # (0, …]: a non-zero digit somewhere after the point
            alts.append(f'"{i}." [0-9]{{0,{DECIMALS - 2}}} [1-9]')
        else:
            alts.append(f'"{i}" {_FRACTION}')
    return " | ".join(f"({a})" for a in alts)


def object_grammar(schema: dict[str, Any]) -> str | None:
    """The GBNF for ``schema`` (root rule ``root``), or None when it is not a flat object of
    required booleans, strings and numbers (then the server's own conversion applies)."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return None
    props: dict[str, Any] = schema["properties"]
    if not props or set(schema.get("required") or ()) != set(props):
        return None
    rules = {"space": '" "?', "char": _CHAR}
    members = []
    for i, (name, prop) in enumerate(props.items()):
        types = _types(prop) if isinstance(prop, dict) else None
        if types is None or not name.replace("_", "a").isalnum():
            return None
        alts = []
        for t in types:
            if t == "boolean":
                alts.append('("true" | "false")')
            elif t == "null":
                alts.append('"null"')
            elif t == "string":
                n = int(prop.get("maxLength", STRING_MAX))
                alts.append(f'"\\"" char{{0,{min(n, 2000)}}} "\\""')
            else:
                number = bounded_number(prop)
                if number is None:
                    return None
                alts.append(f"({number})")
        rule = f"v{i}"
        rules[rule] = " | ".join(alts)
        members.append(f'"\\"{name}\\"" space ":" space {rule} space')
    body = ' "," space '.join(members)
    root = f'"{{" space {body} "}}" space'
    return "\n".join([f"root ::= {root}", *(f"{k} ::= {v}" for k, v in rules.items())])
