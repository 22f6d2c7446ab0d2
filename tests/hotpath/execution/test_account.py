"""The hot path's account: fees paid and maker rebates kept apart, their net in every PnL."""

from __future__ import annotations

import pytest

from tripwire.hotpath.execution.account import Account


def test_a_negative_fee_is_a_rebate_counted_apart_from_fees_paid():
    acct = Account()
    acct.on_fill("BTC", True, 40_000.0, 0.01, tid=1, fee=0.18, closed_pnl=0.0)  # taker entry
    acct.on_fill("BTC", False, 40_100.0, 0.01, tid=2, fee=-0.0802, closed_pnl=1.0)  # maker exit, rebate
    snap = acct.snapshot({"BTC": 40_100.0})
    assert snap["fees_paid"] == pytest.approx(0.18)
    assert snap["rebates"] == pytest.approx(0.0802)
    assert snap["fees"] == pytest.approx(0.18 - 0.0802)  # the net, what PnL subtracts
    assert snap["realized_pnl"] == pytest.approx(1.0)


def test_a_fill_seen_twice_credits_its_rebate_once():
    acct = Account()
    assert acct.on_fill("ETH", True, 2_000.0, 1.0, tid=7, fee=-0.4, closed_pnl=0.0)
    assert not acct.on_fill("ETH", True, 2_000.0, 1.0, tid=7, fee=-0.4, closed_pnl=0.0)
    assert (acct.rebates, acct.fees_paid, acct.fees) == (pytest.approx(0.4), 0.0, pytest.approx(-0.4))
