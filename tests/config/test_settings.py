import pytest

from tripwire.config.settings import ConfigError, load_settings


def write(tmp_path, text):
    p = tmp_path / "settings.yaml"
    p.write_text(text)
    return p


def test_shipped_settings_load_with_their_defaults():
    s = load_settings("config/settings.yaml")
    assert s.mode == "demo" and s.coins == ("BTC",)
    assert s.book.stale_after_ms == 5000


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    p = write(tmp_path, "book:\n  stale_after_ms: 3000\n")
    monkeypatch.setenv("TRIPWIRE_BOOK__STALE_AFTER_MS", "1234")
    assert load_settings(p).book.stale_after_ms == 1234


def test_bad_value_in_file_names_file_key_and_reason(tmp_path):
    p = write(tmp_path, "book:\n  stale_after_ms: -5\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    msg = str(e.value)
    assert str(p) in msg and "book.stale_after_ms" in msg and "greater than 0" in msg


def test_bad_value_from_environment_names_the_variable(tmp_path, monkeypatch):
    p = write(tmp_path, "mode: demo\n")
    monkeypatch.setenv("TRIPWIRE_MODE", "yolo")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert "environment variable TRIPWIRE_MODE" in str(e.value) and "mode" in str(e.value)


def test_unknown_key_is_refused_by_name(tmp_path):
    p = write(tmp_path, "book:\n  stale_after_msec: 10\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert "book.stale_after_msec: unknown setting" in str(e.value)


def test_nested_feature_window_is_validated(tmp_path):
    p = write(tmp_path, "features:\n  depth_bps: 0\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert "features.depth_bps" in str(e.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = write(tmp_path, "mode: demo\nbook: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p)
    assert f"{p}:" in str(e.value) and "YAML syntax error" in str(e.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_empty_coin_list_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="coins"):
        load_settings(write(tmp_path, "coins: []\n"))
