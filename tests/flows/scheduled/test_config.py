"""Each flow's settings: defaults without a section; errors name the file, the key and why."""

from __future__ import annotations

import pytest

from tripwire.config.settings import ConfigError, load_settings
from tripwire.flows.scheduled.config import RefreshLeaderboardConfig, check_all, load_flow_config


def _settings(tmp_path, text: str):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return load_settings(path), path


def test_an_absent_section_means_the_documented_defaults(tmp_path):
    settings, path = _settings(tmp_path, "coins: [BTC]\n")
    cfg = load_flow_config(settings, "refresh_leaderboard", source=path)
    assert cfg == RefreshLeaderboardConfig()
    assert cfg.top_n == 500 and cfg.weights.all_time_roi == 0.30
    assert set(check_all(settings, path)) == {
        "snapshot_market",
        "refresh_leaderboard",
        "poll_trader_positions",
        "generate_signals",
        "retrain_model",
        "serve",
    }


def test_a_bad_value_names_the_file_the_key_and_the_reason(tmp_path):
    settings, path = _settings(tmp_path, "flows:\n  refresh_leaderboard:\n    top_n: 0\n")
    with pytest.raises(ConfigError) as e:
        load_flow_config(settings, "refresh_leaderboard", source=path)
    msg = str(e.value)
    assert str(path) in msg
    assert "flows.refresh_leaderboard.top_n" in msg
    assert "greater than or equal to 1" in msg


def test_an_unknown_key_and_weights_not_adding_up_are_refused(tmp_path):
    settings, path = _settings(
        tmp_path,
        (
            "flows:\n"
            "  generate_signals: {bias_treshold: 0.7}\n"
            "  refresh_leaderboard:\n"
            "    weights: {all_time_roi: 0.5}\n"
        ),
    )
    with pytest.raises(ConfigError) as e:
        check_all(settings, path)
    msg = str(e.value)
    assert "flows.generate_signals.bias_treshold: unknown setting" in msg
    assert "flows.refresh_leaderboard.weights" in msg and "add up to 1" in msg
