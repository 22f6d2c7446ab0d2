"""``matches``: the contract's filter semantics in Python, which the MongoDB store falls back to
when its server matches unlike MongoDB. It must agree with the contract suite's table."""

from __future__ import annotations

import pytest

from tests.flows.store.test_contract import DOCS, FILTERS
from tripwire.flows.store.filters import matches, parse_filter


@pytest.mark.parametrize("flt,expected", FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_matches_selects_what_the_contract_says(flt, expected):
    conds = parse_filter("trades", flt)
    assert sorted(d["_id"] for d in DOCS if matches(conds, d)) == sorted(expected)
