"""κ fitted from trades, and config/quoting.yaml's errors."""

from __future__ import annotations

import math

import pytest

from tests.fixtures import RECORDING
from tripwire.hotpath.quoting.calibrate import fit_intensity
from tripwire.hotpath.quoting.config import QuotingConfigError, load_quoting_config
from tripwire.sim.backtest.calibrate import estimate_kappa


def test_kappa_is_recovered_from_distances_drawn_from_an_exponential():
    # distances whose survival is exactly exp(−0.8 δ): the quantiles of Exp(0.8)
    n = 10_000
    ds = [-math.log(1 - (i + 0.5) / n) / 0.8 for i in range(n)]
    fit = fit_intensity(ds, duration_s=1000.0, grid_bps=[x / 4 for x in range(0, 21)])
    assert fit.kappa == pytest.approx(0.8, rel=0.02)
    assert fit.a_per_s == pytest.approx(10.0, rel=0.05)  # 10 000 trades in 1 000 s reach δ = 0


def test_a_fit_needs_two_points_and_a_falling_rate():
    with pytest.raises(ValueError, match="at least two"):
        fit_intensity([0.1], 10.0, [0.0, 1.0])
    with pytest.raises(ValueError, match="does not fall"):
        fit_intensity([5.0, 5.0], 10.0, [0.0, 1.0])


def test_the_configured_kappa_is_what_the_bundled_hour_fits():
    fit = estimate_kappa([RECORDING], "BTC", synthetic=True, seed=7)
    cfg = load_quoting_config("config/quoting.yaml")
    assert cfg.coins["BTC"].kappa == pytest.approx(fit.kappa, abs=0.01)


def write(tmp_path, text: str):
    p = tmp_path / "quoting.yaml"
    p.write_text(text)
    return p


def test_an_unknown_key_is_refused_naming_the_file_and_key(tmp_path):
    p = write(tmp_path, "coins:\n  BTC: {size: 0.001, max_inventory: 0.002, gamma: 0.1, kappa: 0.5, gama: 1}\n")
    with pytest.raises(QuotingConfigError, match=r"quoting.yaml: coins.BTC.gama: unknown setting"):
        load_quoting_config(p)


def test_max_inventory_below_one_quote_is_refused(tmp_path):
    p = write(tmp_path, "coins:\n  BTC: {size: 0.01, max_inventory: 0.002, gamma: 0.1, kappa: 0.5}\n")
    with pytest.raises(QuotingConfigError, match="below one quote's size"):
        load_quoting_config(p)


def test_a_non_positive_gamma_is_refused(tmp_path):
    p = write(tmp_path, "coins:\n  BTC: {size: 0.001, max_inventory: 0.002, gamma: 0, kappa: 0.5}\n")
    with pytest.raises(QuotingConfigError, match="coins.BTC.gamma"):
        load_quoting_config(p)


def test_an_enabled_coin_the_hot_path_does_not_trade_is_refused(tmp_path):
    p = write(tmp_path, "coins:\n  DOGE: {enabled: true, size: 1, max_inventory: 2, gamma: 0.1, kappa: 0.5}\n")
    with pytest.raises(QuotingConfigError, match="coins.DOGE: enabled, but the hot path trades only BTC"):
        load_quoting_config(p, ("BTC",))
