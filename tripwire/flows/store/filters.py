"""Validation of the filter subset (see base.py), shared by both backends so a filter outside
the contract is refused the same way everywhere, before any backend-specific translation."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from tripwire.flows.store.base import Doc, DuplicateIdError, Filter, Sort, StoreError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COMPARE = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
SCALARS = (str, int, float, bool, type(None))


class Cond(NamedTuple):
    """One condition: ``op`` is eq, ne, gt, gte, lt, lte or in (``value`` a tuple for in)."""

    field: str
    op: str
    value: Any


def check_collection(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreError(
            f"collection name {name!r} is not an identifier (letters, digits and _, not starting with a digit)"
        )
    return name


def _check_field(collection: str, field: Any) -> str:
    if not isinstance(field, str) or not _NAME.match(field):
        if isinstance(field, str) and field.startswith("$"):
            why = f"operator {field!r} at the top level is not supported (only field: value)"
        elif isinstance(field, str) and "." in field:
            why = f"field {field!r}: dotted paths are not supported (top-level fields only)"
        else:
            why = f"field name {field!r} is not an identifier (letters, digits and _)"
        raise StoreError(f"{collection}: filter {why}")
    return field


def _scalar(collection: str, field: str, op: str, v: Any) -> Any:
    if not isinstance(v, SCALARS):
        raise StoreError(
            f"{collection}: filter on {field!r}: {op} needs a scalar value "
            f"(str, number, bool or None), got {type(v).__name__}"
        )
    if field == "_id" and v is not None and not isinstance(v, str):
        raise StoreError(f"{collection}: filter on '_id': ids are strings, got {v!r}")
    return v


def parse_filter(collection: str, flt: Filter | None) -> list[Cond]:
    """The conditions of ``flt`` (ANDed), or StoreError naming what is outside the subset."""
    if flt is None:
        return []
    if not isinstance(flt, dict):
        raise StoreError(f"{collection}: a filter is a dict, got {type(flt).__name__}")
    conds: list[Cond] = []
    for field, spec in flt.items():
        _check_field(collection, field)
        if not isinstance(spec, dict):
            conds.append(Cond(field, "eq", _scalar(collection, field, "equality", spec)))
            continue
        if not spec:
            raise StoreError(f"{collection}: filter on {field!r}: empty operator document")
        for op, v in spec.items():
            if op in _COMPARE:
                if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                    raise StoreError(f"{collection}: filter on {field!r}: {op} needs a number or a string, got {v!r}")
                _scalar(collection, field, op, v)
                conds.append(Cond(field, _COMPARE[op], v))
            elif op == "$ne":
                conds.append(Cond(field, "ne", _scalar(collection, field, op, v)))
            elif op == "$in":
                if not isinstance(v, (list, tuple)):
                    raise StoreError(f"{collection}: filter on {field!r}: $in needs a list, got {type(v).__name__}")
                conds.append(Cond(field, "in", tuple(_scalar(collection, field, op, x) for x in v)))
            else:
                raise StoreError(
                    f"{collection}: filter on {field!r}: operator {op!r} is not "
                    "supported (only $gt $gte $lt $lte $ne $in and equality)"
                )
    return conds


def parse_sort(collection: str, sort: Sort | None) -> list[tuple[str, int]]:
    out = []
    for item in sort or ():
        try:
            field, direction = item
        except (TypeError, ValueError):
            raise StoreError(f"{collection}: sort takes (field, 1 | -1) pairs, got {item!r}") from None
        _check_field(collection, field)
        if direction not in (1, -1) or isinstance(direction, bool):
            raise StoreError(f"{collection}: sort on {field!r}: direction must be 1 or -1, got {direction!r}")
        out.append((field, direction))
    return out


def check_paging(collection: str, limit: int | None, skip: int) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise StoreError(f"{collection}: limit must be None or an int >= 0, got {limit!r}")
    if not isinstance(skip, int) or skip < 0:
        raise StoreError(f"{collection}: skip must be an int >= 0, got {skip!r}")


def upsert_doc(collection: str, key: Filter, doc: Doc) -> tuple[list[Cond], Doc]:
    """The key's equality conditions and the document to store (``doc`` plus the key fields);
    StoreError when the key is not plain equality or contradicts ``doc``."""
    if not isinstance(key, dict) or not key:
        raise StoreError(f"{collection}: upsert needs a non-empty key of field: value pairs")
    conds = parse_filter(collection, key)
    if any(c.op != "eq" for c in conds):
        raise StoreError(f"{collection}: upsert key {key!r} must be equality only")
    if not isinstance(doc, dict):
        raise StoreError(f"{collection}: a document is a dict, got {type(doc).__name__}")
    full = dict(doc)
    for c in conds:
        if c.field in full and full[c.field] != c.value:
            raise StoreError(
                f"{collection}: upsert: the document's {c.field!r} "
                f"({full[c.field]!r}) contradicts the key ({c.value!r})"
            )
        full[c.field] = c.value
    if "_id" in full and not isinstance(full["_id"], str):
        raise StoreError(f"{collection}: _id must be a string, got {full['_id']!r}")
    return conds, full


def new_id() -> str:
    """A string id that sorts by creation time (like MongoDB's ObjectId) and is unique across
    processes (random suffix)."""
    return f"{time.time_ns():016x}{os.urandom(5).hex()}"


def prepare_docs(collection: str, docs: Iterable[Doc]) -> list[Doc]:
    """Copies of ``docs`` with an ``_id`` each; StoreError for a non-dict or non-string id,
    DuplicateIdError for an id repeated within the batch."""
    out: list[Doc] = []
    seen: set[str] = set()
    for d in docs:
        if not isinstance(d, dict):
            raise StoreError(f"{collection}: a document is a dict, got {type(d).__name__}")
        d = dict(d)
        _id = d.get("_id")
        if _id is None:
            d["_id"] = _id = new_id()
        elif not isinstance(_id, str):
            raise StoreError(f"{collection}: _id must be a string, got {_id!r}")
        if _id in seen:
            raise DuplicateIdError(
                f"{collection}: _id {_id!r} appears twice in one insert_many; nothing inserted", (_id,)
            )
        seen.add(_id)
        out.append(d)
    return out


def _same(v: Any, want: Any) -> bool:
    """MongoDB equality for the contract's scalars: None is null or missing, a bool equals only
    a bool, a number only a number (1 == 1.0), a string only a string."""
    if want is None:
        return v is None
    if isinstance(want, bool) or isinstance(v, bool):
        return isinstance(v, bool) and isinstance(want, bool) and v == want
    if isinstance(want, (int, float)):
        return isinstance(v, (int, float)) and v == want
    return isinstance(v, str) and v == want


def _in_order(v: Any, op: str, bound: Any) -> bool:
    # Type bracketing: a number bound compares numbers only, a string bound strings only.
    if isinstance(bound, str):
        if not isinstance(v, str):
            return False
    elif isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if op == "gt":
        return bool(v > bound)
    if op == "gte":
        return bool(v >= bound)
    if op == "lt":
        return bool(v < bound)
    return bool(v <= bound)


def matches(conds: list[Cond], doc: Doc) -> bool:
    """Whether ``doc`` matches the parsed filter, with the contract's (MongoDB's) semantics: the
    reference a store uses when its server's own matching is not faithful (see mongo.py)."""
    for c in conds:
        v = doc.get(c.field)
        if c.op == "eq":
            ok = _same(v, c.value)
        elif c.op == "ne":
            ok = not _same(v, c.value)
        elif c.op == "in":
            ok = any(_same(v, x) for x in c.value)
        else:
            ok = _in_order(v, c.op, c.value)
        if not ok:
            return False
    return True
