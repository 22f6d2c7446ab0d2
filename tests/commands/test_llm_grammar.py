"""The grammar tripwire llm serve builds from the analysis's schema: Decision's bounds hold."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tripwire.commands.llm.grammar import bounded_number, object_grammar, with_decision_bounds
from tripwire.flows.analysis.llm import DECISION_JSON_SCHEMA

SCHEMA = with_decision_bounds(DECISION_JSON_SCHEMA)


def as_regex(expr: str) -> re.Pattern[str]:
    """A GBNF expression of literals, classes, groups, ?, | and {m,n} as the same regex."""
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\s+)|([^"\s]+)', expr):
        if m.group(1) is not None:
            out.append(re.escape(m.group(1)))
        elif m.group(3):
            out.append(m.group(3))
    return re.compile("".join(out))


@pytest.mark.parametrize(
    ("field", "accepted", "refused"),
    [
        ("sA", ["-1", "-0.25", "0", "0.999", "1", "1.0"], ["1.25", "-1.5", "2", "1e3", "0.1234", "+0.5"]),
        ("confA", ["0", "0.5", "1", "1.000"], ["-0.1", "1.01", "1.2"]),
        ("tp_atr", ["0.05", "0.5", "1", "3.789", "20"], ["0", "0.0", "0.00", "20.5", "21", "-1"]),
        ("sl_atr", ["0.7", "0.75", "1", "12.5", "20.0"], ["0.6", "0.69", "20.1", "21", "0"]),
        ("size_scale", ["0", "0.5", "1"], ["1.2", "-0.5"]),
    ],
)
def test_numbers_are_confined_to_the_decisions_bounds(field, accepted, refused):
    pattern = as_regex(bounded_number(SCHEMA["properties"][field]))
    assert [v for v in accepted if not pattern.fullmatch(v)] == []
    assert [v for v in refused if pattern.fullmatch(v)] == []


def test_the_decision_schema_gets_the_contracts_bounds():
    props = SCHEMA["properties"]
    assert (props["sA"]["minimum"], props["sA"]["maximum"]) == (-1.0, 1.0)
    assert (props["tp_atr"]["exclusiveMinimum"], props["sl_atr"]["minimum"]) == (0.0, 0.7)
    assert "minimum" not in DECISION_JSON_SCHEMA["properties"]["sA"]  # the analysis's own is unchanged


def test_the_grammar_has_every_key_in_order_and_a_bounded_reason():
    g = object_grammar(SCHEMA)
    root = g.splitlines()[0]
    keys = re.findall(r'\\"(\w+)\\"', root)
    assert keys == list(DECISION_JSON_SCHEMA["properties"])
    assert "char{0,200}" in g and g.count('"null"') == 3


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "number"}},
        {"type": "object", "properties": {"a": {"type": "number"}}, "required": []},  # optional key
        {"type": "object", "properties": {"a": {"type": "object"}}, "required": ["a"]},  # nested
        {"type": "object", "properties": {"a": {"type": "number", "maximum": 0.5}}, "required": ["a"]},
    ],
)
def test_schemas_it_does_not_cover_are_left_to_the_server(schema):
    assert object_grammar(schema) is None


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama.cpp's grammar parser: the llm extra")
def test_llama_cpp_parses_the_grammar():
    import llama_cpp

    assert llama_cpp.LlamaGrammar.from_string(object_grammar(SCHEMA), verbose=False) is not None
