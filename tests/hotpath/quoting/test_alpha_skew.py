"""The learned model's prediction (``pred_move_bps``) skews the quotes toward the predicted
move, by a configured share and never beyond the cap (docs/QUOTING.md, ``alpha_skew``)."""

from __future__ import annotations

import math

import pytest

from tripwire.hotpath.quoting.config import CoinQuotingConfig
from tripwire.hotpath.quoting.model import QuoteParams, alpha_skew_bps, desired_quote

P = QuoteParams(
    size=0.001, max_inventory=0.003, spread_floor_bps=1.0, gamma=0.1, kappa=0.5, horizon_s=60, refresh_bps=0.5
)


def test_the_skew_is_the_weighted_prediction_within_the_cap():
    assert alpha_skew_bps(1.0, 0.5, 2.0) == 0.5
    assert alpha_skew_bps(-10.0, 0.5, 2.0) == -2.0
    assert alpha_skew_bps(10.0, 1.0, 2.0) == 2.0


@pytest.mark.parametrize("pred, weight", [(None, 0.5), (1.0, 0.0), (math.nan, 0.5)])
def test_no_prediction_no_weight_or_a_broken_value_is_no_skew(pred, weight):
    assert alpha_skew_bps(pred, weight, 2.0) == 0.0


def test_a_predicted_rise_lifts_both_quotes_by_the_skew():
    mid = 40_000.0
    flat = desired_quote(P, mid, mid - 0.5, mid + 0.5, 0.0, 0.5, sz_decimals=4)
    up = desired_quote(P, mid, mid - 0.5, mid + 0.5, 0.0, 0.5, sz_decimals=4, skew_bps=2.0)
    assert up.reservation_bps == pytest.approx(flat.reservation_bps + 2.0)
    assert up.bid_px > flat.bid_px and up.ask_px > flat.ask_px
    assert up.bid_px - flat.bid_px == pytest.approx(mid * 2.0e-4, abs=1.0)  # 2 bps of 40 000 = 8, to the tick
    assert up.spread_bps == flat.spread_bps  # the skew moves the quotes, not their distance


def test_the_skew_is_off_unless_configured():
    c = CoinQuotingConfig(enabled=True, size=0.001, max_inventory=0.002, gamma=0.1, kappa=0.5)
    assert c.alpha_skew == 0.0
    with pytest.raises(ValueError):
        CoinQuotingConfig(enabled=True, size=0.001, max_inventory=0.002, gamma=0.1, kappa=0.5, alpha_skew=2.0)
