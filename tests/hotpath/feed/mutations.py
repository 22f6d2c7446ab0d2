"""Seeded mutations of real messages, for the fuzz tests of the decoder and the pipeline.

A mutation changes one node of a message: a type swap (a string becomes a boolean, a list, an
object…), a number that is not one, a negative time, a garbage element appended to a list, a
garbage key added to an object, a key removed, a coin nobody subscribed to, or (the loosest) any
JSON value at all.

Each mutation says whether it is *strict*: a strict mutation can only make the message invalid or
leave its decoded record unchanged (it hit a field the decoder does not read). The fuzz tests
assert exactly that for strict ones, and only "never raises, always counted" for the others: a
loose mutation may well produce a different valid message (a null ``midPx`` is valid).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

# Keys whose absence or null is valid on the wire, so a mutation there may yield a different valid
# record; and the subscription echo, which an ack record keeps raw beside its checked fields.
OPTIONAL_KEYS = frozenset({"users", "midPx", "premium", "liquidation", "isSnapshot", "cloid"})
RAW_KEYS = frozenset({"subscription"})
# Objects that are maps (coin → mid): adding or removing an entry is a different valid message.
MAP_KEYS = frozenset({"mids"})
MARKET_CHANNELS = frozenset({"l2Book", "trades", "bbo", "activeAssetCtx", "activeSpotAssetCtx", "candle"})
STRAY_COIN = "ZZSTRAY"

NESTED = [1, {"a": [None, True, "x", {"b": {"c": []}}]}]
NOT_NUMBERS = ["abc", "nan", "-inf", "1e999", "", "1.2.3"]
ANY_JSON = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    1e300,
    2**63 - 1,
    -(2**63),
    "",
    "x",
    "0",
    "-1",
    "nan",
    "BTC",
    "B",
    "A",
    [],
    {},
    [[]],
    [None, None],
    {"px": "1", "sz": "1"},
    NESTED,
]


def swaps_for(value: object) -> list[Any]:
    """Values of another JSON type than ``value`` that no field of its type accepts."""
    t = type(value)
    if t is str:
        out: list[Any] = [True, False, None, [], {}, NESTED]
        try:
            float(value)  # type: ignore[arg-type]  # value is a str: t is str
        except ValueError:
            return out
        return out + NOT_NUMBERS  # a numeric string: a number field
    if t is int:  # every integer the decoder reads is a time or an id: -1 is neither
        return [True, False, None, "1", 1.5, -1, [], {}, NESTED]
    if t is bool:
        return ["true", 1, 0, None, [], {}]
    if t is list:
        return [{}, "x", True, 7, None]
    if t is dict:
        return [[], "x", True, 7, None]
    return [True, [], {}, NESTED]


def nodes(node: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every node under ``node`` (not the root itself)."""
    if type(node) is dict:
        for k, v in node.items():
            yield (*path, k)
            yield from nodes(v, (*path, k))
    elif type(node) is list:
        for i, v in enumerate(node):
            yield (*path, i)
            yield from nodes(v, (*path, i))


def _parent(msg: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        msg = msg[p]
    return msg


def mutate(msg: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str, bool]:
    """One seeded mutation of a copy of ``msg``: (mutated, what was done, strict)."""
    out = copy.deepcopy(msg)
    paths = list(nodes(out))
    path = rng.choice(paths)
    parent = _parent(out, path)
    key = path[-1]
    value = parent[key]
    keys = {p for p in path if type(p) is str}
    strict = not (keys & OPTIONAL_KEYS or keys & RAW_KEYS)
    ops = ["swap", "swap", "swap", "any"]
    if type(value) is list:
        ops.append("append")
    if type(value) is dict:
        ops.append("add_key")
    if type(parent) is dict:
        ops.append("delete")
    if key in ("coin", "s") and type(value) is str and out.get("channel") in MARKET_CHANNELS:
        ops += ["stray_coin", "stray_coin"]
    op = rng.choice(ops)
    if op == "swap":
        parent[key] = rng.choice(swaps_for(value))
    elif op == "any":
        parent[key] = copy.deepcopy(rng.choice(ANY_JSON))
        strict = False
    elif op == "append":
        value.append(copy.deepcopy(rng.choice([True, NESTED, "x", 7, None])))
    elif op == "add_key":
        value["zz_fuzz"] = copy.deepcopy(rng.choice([True, NESTED, "x", 7, None]))
        strict = strict and not keys & MAP_KEYS
    elif op == "delete":
        del parent[key]
        strict = strict and not keys & MAP_KEYS
    else:
        parent[key] = STRAY_COIN
    return out, f"{op} at {'/'.join(map(str, path))}", strict


def as_data(x: object) -> object:
    """A record as plain comparable data (floats by repr, so nan equals nan).

    ``payload`` attributes are left out: they carry the raw wire value (a user event's, a post
    response's) beside what was decoded from it, so they differ whenever any byte does.
    """
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, (list, tuple)):
        return [as_data(v) for v in x]
    if isinstance(x, dict):
        return {k: as_data(v) for k, v in x.items()}
    # a compiled record (make compile) lists its attributes in __mypyc_attrs__, not __slots__
    slots = getattr(type(x), "__slots__", None) or getattr(type(x), "__mypyc_attrs__", None)
    if slots is not None and not isinstance(x, (str, int)):
        return (type(x).__name__, tuple(as_data(getattr(x, s)) for s in slots if s != "payload"))
    return x
