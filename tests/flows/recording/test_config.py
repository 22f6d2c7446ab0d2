"""The recorder: section of the settings file."""

from __future__ import annotations

import pytest

from tripwire.config.settings import ConfigError, load_settings
from tripwire.flows.recording import RecorderConfig, recorder_config


def test_defaults_are_the_seed_rules():
    cfg = RecorderConfig()
    assert (cfg.book_mid_change_pct, cfg.book_max_interval_s, cfg.trade_min_notional_usd) == (1.0, 600.0, 1000.0)
    assert cfg.candle_intervals == ("5m", "15m", "1h", "4h", "1d")


def test_settings_file_values_are_used(tmp_path):
    f = tmp_path / "settings.yaml"
    f.write_text("recorder:\n  trade_min_notional_usd: 5000\n  candle_intervals: [1h]\n")
    cfg = recorder_config(load_settings(f), f)
    assert cfg.trade_min_notional_usd == 5000 and cfg.candle_intervals == ("1h",)


def test_a_bad_recorder_setting_names_the_file_the_key_and_the_reason(tmp_path):
    f = tmp_path / "settings.yaml"
    f.write_text("recorder:\n  batch_size: 0\n  candle_intervals: [7m]\n  trade_min: 5\n")
    with pytest.raises(ConfigError) as e:
        recorder_config(load_settings(f), f)
    msg = str(e.value)
    assert f"{f}: recorder.batch_size: Input should be greater than or equal to 1" in msg
    assert f"{f}: recorder.candle_intervals: Value error, unknown interval(s) '7m'" in msg
    assert f"{f}: recorder.trade_min: unknown setting" in msg


def test_a_buffer_smaller_than_a_batch_is_refused():
    with pytest.raises(ConfigError, match="max_buffer_docs .* at least batch_size"):
        recorder_config(type("S", (), {"recorder": {"batch_size": 100, "max_buffer_docs": 10}}), "settings.yaml")
