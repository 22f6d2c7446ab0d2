"""The leaderboard's URL by mode: the simulator's own in demo and sim modes (its traders are the
accounts the same /info knows), the network's stats server otherwise."""

from __future__ import annotations

import pytest

from tripwire.config.endpoints import MAINNET_LEADERBOARD_URL, TESTNET_LEADERBOARD_URL, leaderboard_url
from tripwire.config.settings import Settings


@pytest.mark.parametrize(
    ("mode", "exchange", "want"),
    [
        ("demo", {"api_url": "http://127.0.0.1:9123/"}, "http://127.0.0.1:9123/leaderboard"),
        ("sim", {"sim_url": "http://127.0.0.1:8787"}, "http://127.0.0.1:8787/leaderboard"),
        ("testnet", {}, TESTNET_LEADERBOARD_URL),
        ("live", {"allow_live": True}, MAINNET_LEADERBOARD_URL),
    ],
)
def test_the_leaderboard_comes_from_where_the_modes_orders_go(mode, exchange, want):
    settings = Settings(mode=mode, exchange=exchange)
    assert leaderboard_url(settings) == want
