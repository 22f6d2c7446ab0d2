"""The hedge's pair and spot balances read from the API's answers (the simulator's shapes,
which are the exchange's)."""

from __future__ import annotations

import pytest

from tripwire.hotpath.carry.spot import SpotPairInfo, balances, resolve_pair
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.spot import spot_clearinghouse_state

META = SimEngine().spot.meta()


def test_a_pair_is_found_by_its_label_or_its_api_name():
    want = SpotPairInfo("UBTC/USDC", "@0", 10_000, "UBTC", 5)
    assert resolve_pair(META, "UBTC/USDC") == want
    assert resolve_pair(META, "@0") == want


def test_a_canonical_pair_keeps_its_own_name():
    meta = {
        "tokens": [{"name": "USDC", "index": 0, "szDecimals": 8}, {"name": "PURR", "index": 1, "szDecimals": 0}],
        "universe": [{"tokens": [1, 0], "name": "PURR/USDC", "index": 0, "isCanonical": True}],
    }
    assert resolve_pair(meta, "PURR/USDC") == SpotPairInfo("PURR/USDC", "PURR/USDC", 10_000, "PURR", 0)


def test_an_unlisted_pair_is_refused_naming_what_is_listed():
    with pytest.raises(ValueError, match=r"no spot pair 'UDOGE/USDC' \(the exchange lists UBTC/USDC, UETH/USDC"):
        resolve_pair(META, "UDOGE/USDC")
    with pytest.raises(ValueError, match="spotMeta answer malformed"):
        resolve_pair({"universe": None}, "UBTC/USDC")


def test_balances_are_total_and_hold_by_token():
    from decimal import Decimal

    e = SimEngine()
    e.fund("0x" + "11" * 20, Decimal(100))
    e.accounts["0x" + "11" * 20].spot.credit("USDC", Decimal("12.5"))
    assert balances(spot_clearinghouse_state(e, "0x" + "11" * 20)) == {"USDC": (12.5, 0.0)}
    assert balances({"balances": []}) == {}
    with pytest.raises(ValueError, match="balance malformed"):
        balances({"balances": [{"coin": "USDC"}]})
