"""Reads docs/EVENTS.md back into data, and renders contract types the way the page writes them.

The page's notation: JSON names (``string``, ``int``, ``float``, ``bool``, ``null``, ``any``),
``[T]`` a list, ``[A, B]`` a fixed pair, ``{string: T}`` an object keyed by name, ``"B" | "A"``
one of those strings, and a CamelCase name for a type with its own section.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel
from typing_extensions import is_typeddict

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"

_SCALARS = {str: "string", int: "int", float: "float", bool: "bool", type(None): "null", typing.Any: "any"}


def render(tp: object) -> str:
    """One annotation in the page's notation."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return render(args[0])
    if tp in _SCALARS:
        return _SCALARS[tp]
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(render(a) for a in args)
    if origin is list:
        return f"[{render(args[0])}]"
    if origin is tuple:
        return "[" + ", ".join(render(a) for a in args) + "]"
    if origin is dict:
        return f"{{{render(args[0])}: {render(args[1])}}}"
    if isinstance(tp, type):
        return tp.__name__
    raise TypeError(f"no notation for {tp!r}")


def fields_of(tp: type) -> dict[str, object]:
    """Field name → annotation, in declaration order, of a TypedDict or a pydantic model."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {n: f.annotation for n, f in tp.model_fields.items()}
    return typing.get_type_hints(tp, include_extras=True)


def named_types(tp: object) -> set[type]:
    """The CamelCase types an annotation refers to (each needs its own section)."""
    if isinstance(tp, type) and (is_typeddict(tp) or issubclass(tp, BaseModel)):
        return {tp}
    return {t for a in typing.get_args(tp) for t in named_types(a)}


@dataclass
class Section:
    type_name: str
    topic: str | None  # None for a type used inside payloads
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, type), page order


@dataclass
class Page:
    overview: dict[str, str]  # topic → type name, from the table at the top
    sections: dict[str, Section]  # type name → its section


_HEADING = re.compile(r"^### (?:`(?P<topic>[^`]+)` — )?`(?P<type>\w+)`\s*$")


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.replace("\\|", "|").strip() for c in cells]


def _code(cell: str) -> str:
    m = re.fullmatch(r"`([^`]+)`", cell)
    if not m:
        raise ValueError(f"docs/EVENTS.md: expected `name`, got {cell!r}")
    return m.group(1)


def read_page(path: Path = EVENTS_MD) -> Page:
    overview: dict[str, str] = {}
    sections: dict[str, Section] = {}
    current: Section | None = None
    in_overview = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            m = _HEADING.match(line)
            current = Section(m["type"], m["topic"]) if m else None
            if current is not None:
                if current.type_name in sections:
                    raise ValueError(f"docs/EVENTS.md: two sections for {current.type_name}")
                sections[current.type_name] = current
            in_overview = False
            continue
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if cells[0] == "topic":
            in_overview = True
            continue
        if cells[0] == "field" or set(cells[0]) <= {"-", ":"}:
            continue
        if current is not None:
            current.fields.append((_code(cells[0]), cells[1]))
        elif in_overview:
            overview[_code(cells[0])] = _code(cells[-1])
    return Page(overview, sections)
