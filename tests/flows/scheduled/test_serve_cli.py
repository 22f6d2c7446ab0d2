"""``tripwire flows serve`` at start: it lists what it would serve, and a bad setting stops it
before any server or run, naming the file, the key and the reason."""

from __future__ import annotations

import argparse

import pytest

from tripwire.commands.flows import serve
from tripwire.errors import UserError

MINE = "snapshot_market,refresh_leaderboard,poll_trader_positions,generate_signals,retrain_model"


@pytest.fixture(autouse=True)
def restore_env(monkeypatch):
    # serve --config exports TRIPWIRE_CONFIG for its runs; undo that after each test.
    monkeypatch.setenv("TRIPWIRE_CONFIG", "unset-by-test")


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    serve.add_arguments(p)
    return p.parse_args(argv)


def test_list_prints_each_deployment_with_its_schedule(tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    settings.write_text("coins: [BTC]\n")
    assert serve.run(_args("--config", str(settings), "--only", MINE, "--list")) == 0
    out = capsys.readouterr().out
    assert "snapshot_market          cron '* * * * *' UTC" in out
    assert "generate_signals         cron '2-59/5 * * * *' UTC" in out
    assert "archive_data" not in out


def test_a_bad_flow_setting_stops_serve_at_start(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("flows:\n  poll_trader_positions: {concurrency: 0}\n")
    with pytest.raises(UserError) as e:
        serve.run(_args("--config", str(settings), "--list"))
    assert f"{settings}: flows.poll_trader_positions.concurrency" in str(e.value)


def test_an_unknown_deployment_name_is_refused(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("coins: [BTC]\n")
    with pytest.raises(UserError, match="no deployment named 'snapshot'"):
        serve.run(_args("--config", str(settings), "--only", "snapshot", "--list"))
