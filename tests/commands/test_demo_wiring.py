"""What n8n needs to reach a running demo: a fixed API port on request, the key and the URLs
printed at start (not only in report.json at the end)."""

from __future__ import annotations

import argparse
import socket

import pytest

from tripwire.commands import demo
from tripwire.commands.demo.orchestration import DEMO_KEY_ENV, Demo, port_is_free, wiring
from tripwire.errors import UserError

PORTS = {"api": 8000, "prefect": 4200}


def args(tmp_path, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    demo.add_arguments(p)
    return p.parse_args(["--run-dir", str(tmp_path), *argv])


def test_the_start_lines_carry_the_api_url_the_key_and_what_n8n_needs():
    text = wiring(PORTS, "k" * 32, {})
    assert "http://127.0.0.1:8000" in text and "k" * 32 in text and "read, trade" in text
    assert "TRIPWIRE_API_URL=http://127.0.0.1:8000" in text and "http://127.0.0.1:4200" in text
    assert "not pushed to n8n (set N8N_WEBHOOK_URL" in text


def test_the_start_lines_say_where_triggers_are_pushed_and_whether_signed():
    url = "http://127.0.0.1:5678/webhook/tripwire-trigger"
    assert f"pushed to {url} (UNSIGNED)" in wiring(PORTS, "k" * 32, {"N8N_WEBHOOK_URL": url})
    signed = wiring(PORTS, "k" * 32, {"N8N_WEBHOOK_URL": url, "TRIPWIRE_N8N_SECRET": "s" * 32})
    assert "signed with TRIPWIRE_N8N_SECRET" in signed and "s" * 32 not in signed


def test_api_port_fixes_the_demos_api_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = Demo(args(tmp_path, "--api-port", str(port)))
    assert d.ports["api"] == port
    assert d._environment(tmp_path / "t.yaml")["TRIPWIRE_API__PORT"] == str(port)


def test_a_busy_api_port_is_refused_at_once_naming_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(UserError, match=f"--api-port {port}: 127.0.0.1:{port} is in use"):
            Demo(args(tmp_path, "--api-port", str(port)))


def test_a_fixed_demo_key_from_the_environment_outlives_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv(DEMO_KEY_ENV, "fixed-demo-key-0123456789")
    d = Demo(args(tmp_path))
    assert d.api_key == "fixed-demo-key-0123456789"
    assert d._environment(tmp_path / "t.yaml")[DEMO_KEY_ENV] == d.api_key
    monkeypatch.setenv(DEMO_KEY_ENV, "short")
    with pytest.raises(UserError, match="at least 16"):
        Demo(args(tmp_path))
