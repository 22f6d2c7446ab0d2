"""The carry's pure decision: the fee hurdle, entry/exit net of it, negative funding, the legs."""

from __future__ import annotations

import pytest

from tripwire.hotpath.carry.model import (
    CLOSE,
    HOLD,
    OPEN,
    WAIT,
    CarryParams,
    decide,
    floor_sz,
    hurdle_bps_per_hour,
    perp_buy,
    perp_sell,
    spot_buy,
    spot_sell,
    transfer_to_spot,
)

P = CarryParams(entry_bps_per_hour=2.0, exit_bps_per_hour=0.0, hold_hours=24.0, perp_fee=0.00045, spot_fee=0.0007)


def test_the_hurdle_is_both_legs_round_trip_fees_spread_over_the_holding_time():
    # 2 × (4.5 + 7) bps over 24 h
    assert hurdle_bps_per_hour(P) == pytest.approx(23.0 / 24.0)
    assert hurdle_bps_per_hour(CarryParams(2.0, 0.0, 6.0, 0.00045, 0.0007)) == pytest.approx(23.0 / 6.0)


def test_it_opens_only_when_funding_net_of_the_hurdle_reaches_the_entry_threshold():
    hurdle = 23.0 / 24.0
    just_below = (2.0 + hurdle - 0.01) / 1e4
    at = (2.0 + hurdle + 1e-9) / 1e4
    assert decide(P, just_below, 0.0, holding=False).action == WAIT
    d = decide(P, at, 0.0, holding=False)
    assert d.action == OPEN and d.net_bps == pytest.approx(2.0)


def test_a_held_carry_holds_between_the_thresholds_and_closes_below_exit():
    between = (1.0 + 23.0 / 24.0) / 1e4  # net 1 bps/h: below entry, above exit
    assert decide(P, between, 0.0, holding=False).action == WAIT
    assert decide(P, between, 0.0, holding=True).action == HOLD
    d = decide(P, 0.5 / 1e4, 0.0, holding=True)
    assert d.action == CLOSE and d.reason.startswith("funding_normalised")


def test_negative_funding_is_skipped_because_spot_cannot_be_shorted():
    d = decide(P, -20 / 1e4, 0.0, holding=False)
    assert d.action == WAIT and d.reason.startswith("negative_funding")
    # held legs (a short perp) pay negative funding: the carry closes them
    assert decide(P, -20 / 1e4, 0.0, holding=True).action == CLOSE


def test_a_breaker_closes_held_legs_and_keeps_a_flat_carry_flat():
    extreme = 10 / 1e4
    d = decide(P, extreme, 0.0, holding=True, trading_problem="trading_state: HALTED")
    assert d.action == CLOSE and d.reason == "breaker: trading_state: HALTED"
    assert decide(P, extreme, 0.0, holding=False, trading_problem="stale_data").action == WAIT


def test_a_wide_basis_holds_the_open_back():
    assert decide(P, 10 / 1e4, 30.0, holding=False).reason.startswith("basis")
    assert decide(P, 10 / 1e4, -5.0, holding=False).action == OPEN


def test_legs_are_iocs_through_the_touch_on_the_tick_and_sizes_round_down_to_the_lot():
    buy = spot_buy("UBTC/USDC", 10000, 5, 2000.0, 42_987.0, 10.0)
    assert buy is not None and buy.spot and buy.is_buy and not buy.reduce_only
    assert buy.sz == floor_sz(2000.0 / 42_987.0, 5) == 0.04652
    assert buy.px == 43_030.0  # 42 987 × 1.001 on a 5-significant-figure tick
    sell = perp_sell("BTC", 0, 5, buy.sz, 42_990.0, 10.0)
    assert sell is not None and not sell.is_buy and sell.px == 42_947.0 and sell.sz == buy.sz
    close = perp_buy("BTC", 0, 5, buy.sz, 43_000.0, 10.0)
    assert close is not None and close.reduce_only and close.px == 43_043.0
    assert spot_sell("UBTC/USDC", 10000, 5, 0.000004, 42_000.0, 10.0) is None  # dust below the lot
    assert perp_buy("BTC", 0, 5, 0.0, 43_000.0, 10.0) is None


def test_the_transfer_covers_what_the_exchange_holds_for_the_spot_buy():
    amount = transfer_to_spot(2000.0, 0.0007, 10.0)
    buy = spot_buy("UBTC/USDC", 10000, 5, 2000.0, 42_987.0, 10.0)
    assert buy is not None
    assert buy.sz * buy.px * (1 + 0.0007) <= amount
