"""The agent key: read from its file or the environment, refused clearly, never echoed."""

from __future__ import annotations

import pytest

from tripwire.config.settings import ConfigError, load_settings
from tripwire.hotpath.runtime.keys import load_key, make_signer

KEY = "0x" + "ab" * 32


def settings_with_key_file(tmp_path, content: bytes, monkeypatch):
    monkeypatch.delenv("TRIPWIRE_PRIVATE_KEY", raising=False)
    key_file = tmp_path / "agent.key"
    key_file.write_bytes(content)
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(f"mode: testnet\nexchange:\n  secret_file: {key_file}\n")
    return load_settings(cfg)


def test_a_key_file_is_read_and_signs(tmp_path, monkeypatch):
    s = settings_with_key_file(tmp_path, (KEY + "\n").encode(), monkeypatch)
    assert load_key(s) == KEY
    signer, generated = make_signer(s, is_mainnet=False)
    assert not generated and signer.address.startswith("0x")


def test_non_ascii_bytes_in_the_key_file_are_a_config_error_that_does_not_echo_them(tmp_path, monkeypatch):
    # before: UnicodeDecodeError, a traceback at start
    s = settings_with_key_file(tmp_path, b"0x\xff\xfe" + b"ab" * 31, monkeypatch)
    with pytest.raises(ConfigError, match="secret_file") as e:
        load_key(s)
    assert "ab" * 8 not in str(e.value)


def test_a_malformed_key_is_refused_without_echoing_it(tmp_path, monkeypatch):
    s = settings_with_key_file(tmp_path, b"0x1234secret", monkeypatch)
    with pytest.raises(ConfigError) as e:
        make_signer(s, is_mainnet=False)
    assert "1234secret" not in str(e.value)


def test_testnet_without_a_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIPWIRE_PRIVATE_KEY", raising=False)
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("mode: testnet\n")
    with pytest.raises(ConfigError, match="needs an agent key"):
        make_signer(load_settings(cfg), is_mainnet=False)
