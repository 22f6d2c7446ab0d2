"""Avellaneda–Stoikov quotes on numbers worked by hand."""

from __future__ import annotations

import math

import pytest

from tripwire.hotpath.quoting.model import (
    QuoteParams,
    Volatility,
    desired_quote,
    optimal_spread_bps,
    reservation_offset_bps,
)

# γ 0.1/bps, σ 0.5 bps/√s, T 60 s: γσ²T = 0.1 · 0.25 · 60 = 1.5 bps
P = QuoteParams(
    size=0.001, max_inventory=0.003, spread_floor_bps=1.0, gamma=0.1, kappa=0.5, horizon_s=60, refresh_bps=0.5
)


def test_reservation_price_moves_against_the_inventory_by_q_gamma_sigma2_t():
    assert reservation_offset_bps(0.0, 0.1, 0.5, 60) == 0.0
    assert reservation_offset_bps(2.0, 0.1, 0.5, 60) == pytest.approx(-3.0)  # long 2 quotes: 3 bps lower
    assert reservation_offset_bps(-1.0, 0.1, 0.5, 60) == pytest.approx(1.5)


def test_optimal_spread_is_gamma_sigma2_t_plus_the_arrival_term():
    # 1.5 + (2 / 0.1) · ln(1 + 0.1 / 0.5) = 1.5 + 20 · ln 1.2 = 5.1464 bps
    assert optimal_spread_bps(0.1, 0.5, 60, 0.5) == pytest.approx(1.5 + 20 * math.log(1.2))
    assert optimal_spread_bps(0.1, 0.5, 60, 0.5) == pytest.approx(5.1464, abs=1e-4)


def test_flat_quotes_are_symmetric_around_the_mid_and_rounded_away_from_it():
    # mid 1000.05 (bid 1000.0, ask 1000.1), half spread 2.5732 bps = 0.2573: 999.7927 / 1000.3073,
    # rounded away from the mid to the tick — 0.01 below 1000, 0.1 above (5 significant figures)
    q = desired_quote(P, 1000.05, 1000.0, 1000.1, 0.0, 0.5, sz_decimals=4)
    assert q.reservation_bps == 0.0
    assert (q.bid_px, q.ask_px) == (999.79, 1000.4)
    assert (q.bid_sz, q.ask_sz) == (0.001, 0.001)


def test_long_inventory_skews_both_quotes_down():
    flat = desired_quote(P, 1000.05, 1000.0, 1000.1, 0.0, 0.5, 4)
    long = desired_quote(P, 1000.05, 1000.0, 1000.1, 0.002, 0.5, 4)  # q = 2 → 3 bps lower
    assert long.reservation_bps == pytest.approx(-3.0)
    assert long.bid_px < flat.bid_px and long.ask_px < flat.ask_px
    assert (long.bid_px, long.ask_px) == (999.49, 1000.1)  # 999.4927 / 1000.0073 rounded away
    # a short skews up
    short = desired_quote(P, 1000.05, 1000.0, 1000.1, -0.002, 0.5, 4)
    assert short.bid_px > flat.bid_px and short.ask_px > flat.ask_px


def test_no_side_takes_the_position_past_max_inventory():
    at_max = desired_quote(P, 1000.05, 1000.0, 1000.1, 0.003, 0.5, 4)
    assert at_max.bid_px is None and at_max.bid_sz == 0.0 and at_max.ask_px is not None
    near = desired_quote(P, 1000.05, 1000.0, 1000.1, 0.0025, 0.5, 4)
    assert near.bid_sz == 0.0005  # only what is left below the bound
    short_max = desired_quote(P, 1000.05, 1000.0, 1000.1, -0.003, 0.5, 4)
    assert short_max.ask_px is None and short_max.bid_px is not None


def test_a_skewed_quote_never_crosses_the_book_post_only():
    # short 3 quotes is a +4.5 bps skew: the bid would be above the best ask, it is held one
    # tick under it instead
    p = QuoteParams(0.001, 0.01, 1.0, 0.1, 0.5, 60, 0.5)
    q = desired_quote(p, 1000.05, 1000.0, 1000.1, -0.003, 0.5, 4)
    assert q.bid_px is not None and q.bid_px < 1000.1
    assert q.ask_px is not None and q.ask_px > 1000.0


def test_the_spread_floor_holds_when_the_model_spread_is_tighter():
    p = QuoteParams(0.001, 0.003, spread_floor_bps=20.0, gamma=0.1, kappa=0.5, horizon_s=60, refresh_bps=0.5)
    q = desired_quote(p, 1000.0, 999.9, 1000.1, 0.0, 0.5, 4)
    assert q.spread_bps == 20.0
    assert (q.bid_px, q.ask_px) == (999.0, 1001.0)


def test_volatility_answers_the_prior_until_warm_then_the_ewma_of_squared_returns():
    v = Volatility(prior_bps=0.5, halflife_s=1.0, warm_samples=3)
    v.observe(1000.0, 0)
    v.observe(1000.1, 1000)  # one move seen: still the prior
    assert v.sigma == 0.5
    # ±1 bps a second, three times: each weight is 1 − 0.5^(1 s / 1 s) = 0.5, so σ² goes
    # 0.25 → 0.625 → 0.8125 → 0.90625 bps²/s
    v.observe(1000.0, 2000)
    v.observe(1000.1, 3000)
    assert v.sigma == pytest.approx(math.sqrt(0.90625), rel=2e-3)

    fast = Volatility(prior_bps=0.5, halflife_s=1e-6, warm_samples=1)  # only the last move counts
    fast.observe(1000.0, 0)
    fast.observe(1000.2, 1000)  # 2 bps in 1 s
    assert fast.sigma == pytest.approx(2.0, rel=1e-3)
    fast.observe(1000.2, 1000)  # same time: ignored, no division by zero
    assert fast.sigma == pytest.approx(2.0, rel=1e-3)
