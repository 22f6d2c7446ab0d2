"""FeatureConfig is validated once and cannot change under a running engine."""

import pytest
from pydantic import ValidationError

from tripwire.config.features import HLP_LIQUIDATOR, FeatureConfig


def test_defaults_match_the_catalog_names():
    cfg = FeatureConfig()
    assert (cfg.cvd_short_s, cfg.cvd_long_s, cfg.vwap_s) == (60, 300, 60)
    assert (cfg.burst_s, cfg.burst_baseline_s, cfg.liq_s) == (5, 300, 60)
    assert (cfg.oi_short_s, cfg.oi_long_s) == (300, 900)
    assert (cfg.atr_bars, cfg.bb_bars, cfg.rv_bars, cfg.range_bars) == (14, 20, 30, 30)
    assert cfg.liquidator_addresses == (HLP_LIQUIDATOR,)


@pytest.mark.parametrize(
    "field", ["cvd_short_s", "vwap_s", "burst_s", "atr_bars", "depth_bps", "vpvr_bin_bps", "imbalance_levels"]
)
def test_non_positive_window_is_refused(field):
    with pytest.raises(ValidationError, match=field):
        FeatureConfig(**{field: 0})


def test_config_is_frozen():
    cfg = FeatureConfig()
    with pytest.raises(ValidationError):
        cfg.vwap_s = 120


def test_unknown_field_is_refused():
    with pytest.raises(ValidationError, match="vwap_window"):
        FeatureConfig(vwap_window=60)


def test_liquidator_addresses_are_compared_lowercase():
    cfg = FeatureConfig(liquidator_addresses=("0x2E3D94F0562703B25C83308A05046DDAF9A8DD14",))
    assert cfg.liquidator_addresses == (HLP_LIQUIDATOR,)
    with pytest.raises(ValidationError, match="not a 0x-prefixed"):
        FeatureConfig(liquidator_addresses=("hlp",))


def test_windows_must_be_whole_buckets():
    with pytest.raises(ValidationError, match="burst_baseline_s"):
        FeatureConfig(burst_s=7, burst_baseline_s=300)
    with pytest.raises(ValidationError, match="vwap_s"):
        FeatureConfig(
            bucket_ms=7000, cvd_short_s=63, cvd_long_s=301, vwap_s=60, burst_s=7, burst_baseline_s=301, liq_s=63
        )
