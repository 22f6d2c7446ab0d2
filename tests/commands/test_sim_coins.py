"""tripwire sim --coins: the recording replayed as several coins, missing markets added."""

from __future__ import annotations

import pytest

from tests.fixtures import RECORDING
from tripwire.commands.sim import build, parser
from tripwire.errors import UserError


def test_coins_the_universe_lacks_are_added_sized_like_their_copies():
    server = build(parser().parse_args(["--replay", str(RECORDING), "--coins", "BTC", "ETH", "AAA", "BBB"]))
    markets = {m.name: m.sz_decimals for m in server.engine.universe.markets}
    # BTC ETH SOL as by default; AAA is the 3rd coin (prices ÷ 100: 5 − 2 size decimals), BBB ÷ 1000
    assert markets == {"BTC": 5, "ETH": 4, "SOL": 2, "AAA": 3, "BBB": 2}
    assert server.replay is not None and server.replay.coins == ("BTC", "ETH", "AAA", "BBB")


def test_coins_without_a_replay_is_a_clear_error():
    with pytest.raises(UserError, match="--coins needs --replay"):
        build(parser().parse_args(["--coins", "BTC", "ETH"]))
