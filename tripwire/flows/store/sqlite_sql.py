"""The filter subset and sorts as SQLite SQL over ``(_id TEXT PRIMARY KEY, ts INTEGER, doc TEXT)``
tables, where ``doc`` is the whole document as JSON. Pure: strings and parameters, no I/O.

Why the ``json_type`` guards: MongoDB compares a number only with numbers and a string only with
strings, and never equates ``true`` with ``1``; SQLite's ``json_extract`` returns ``true`` as
the integer 1 and an object as its JSON text. Each condition therefore checks the stored value's
JSON type against the filter value's kind, so both backends match the same documents.

Why ``json_extract(doc, '$.field')`` is spelt inline rather than bound: an expression index is
used only when the query's expression is textually the index's. Field names are validated
identifiers (tripwire/flows/store/filters.py), so inlining them is safe.
"""

from __future__ import annotations

from typing import Any

import orjson

from tripwire.flows.store.base import INDEXED_FIELDS
from tripwire.flows.store.filters import Cond

_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUM_TYPES = "('integer','real')"


def table(collection: str) -> str:
    return f'"{collection}"'


def path(field: str) -> str:
    return f"json_extract(doc, '$.{field}')"


def _type(field: str) -> str:
    return f"json_type(doc, '$.{field}')"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    return "num" if isinstance(v, (int, float)) else "str"


def schema(collection: str) -> list[str]:
    """CREATE statements for a collection's table and indexes (idempotent)."""
    t = table(collection)
    stmts = [
        f"CREATE TABLE IF NOT EXISTS {t} (_id TEXT PRIMARY KEY NOT NULL, ts INTEGER, doc TEXT NOT NULL)",
        f'CREATE INDEX IF NOT EXISTS "{collection}__ts" ON {t} (ts)',
    ]
    for field in INDEXED_FIELDS.get(collection, ()):
        stmts.append(f'CREATE INDEX IF NOT EXISTS "{collection}__{field}" ON {t} ({path(field)}, ts)')
    return stmts


def _column(c: Cond) -> str | None:
    """The real column that can answer ``c`` exactly, if any: ``_id`` always (ids are strings,
    never null), ``ts`` for numbers (the column holds ``ts`` only when it is a number)."""
    if c.field == "_id":
        return "_id"
    if c.field == "ts":
        values = c.value if c.op == "in" else (c.value,)
        if values and all(_kind(v) == "num" for v in values):
            return "ts"
    return None


def _eq(c: Cond, params: list[Any]) -> str:
    col = _column(c)
    v = c.value
    if col is not None:
        if v is None:  # only _id gets here with None: it is never null
            return "0"
        params.append(v)
        return f"{col} = ?"
    k = _kind(v)
    if k == "null":
        return f"{path(c.field)} IS NULL"
    if k == "bool":
        return f"{_type(c.field)} = '{'true' if v else 'false'}'"
    params.append(v)
    guard = f"IN {_NUM_TYPES}" if k == "num" else "= 'text'"
    return f"({_type(c.field)} {guard} AND {path(c.field)} = ?)"


def _compare(c: Cond, params: list[Any]) -> str:
    op = _OPS[c.op]
    params.append(c.value)
    col = _column(c)
    if col is not None:
        return f"{col} {op} ?"
    guard = f"IN {_NUM_TYPES}" if _kind(c.value) == "num" else "= 'text'"
    return f"({_type(c.field)} {guard} AND {path(c.field)} {op} ?)"


def _in(c: Cond, params: list[Any]) -> str:
    if not c.value:
        return "0"
    col = _column(c)
    if col is not None:
        values = [v for v in c.value if v is not None]
        if not values:
            return "0"
        params.append(orjson.dumps(values).decode())
        return f"{col} IN (SELECT value FROM json_each(?))"
    parts = []
    by_kind: dict[str, list[Any]] = {}
    for v in c.value:
        by_kind.setdefault(_kind(v), []).append(v)
    for kind, values in by_kind.items():
        if kind == "null":
            parts.append(f"{path(c.field)} IS NULL")
        elif kind == "bool":
            names = ",".join(sorted({f"'{'true' if v else 'false'}'" for v in values}))
            parts.append(f"{_type(c.field)} IN ({names})")
        else:
            guard = f"IN {_NUM_TYPES}" if kind == "num" else "= 'text'"
            params.append(orjson.dumps(values).decode())
            parts.append(f"({_type(c.field)} {guard} AND {path(c.field)} IN (SELECT value FROM json_each(?)))")
    return "(" + " OR ".join(parts) + ")"


def where(conds: list[Cond]) -> tuple[str, list[Any]]:
    """``WHERE …`` (or "") and its parameters."""
    if not conds:
        return "", []
    params: list[Any] = []
    parts = []
    for c in conds:
        if c.op == "eq":
            parts.append(_eq(c, params))
        elif c.op == "ne":
            # NOT of the equality, with a missing/other-kind field counting as "not equal"
            # (MongoDB's $ne matches documents without the field).
            parts.append(
                f"NOT COALESCE({_eq(Cond(c.field, 'eq', c.value), params)}, 0)"
                if c.value is not None or c.field == "_id"
                else f"{path(c.field)} IS NOT NULL"
            )
        elif c.op == "in":
            parts.append(_in(c, params))
        else:
            parts.append(_compare(c, params))
    return "WHERE " + " AND ".join(parts), params


def order_by(sort: list[tuple[str, int]]) -> str:
    """``ORDER BY …``; rowid last so ties keep insertion order (deterministic, not contract)."""
    if not sort:
        return ""
    keys = []
    for field, direction in sort:
        expr = field if field in ("_id", "ts") else path(field)
        keys.append(f"{expr} {'ASC' if direction == 1 else 'DESC'}")
    return "ORDER BY " + ", ".join(keys) + ", rowid"
