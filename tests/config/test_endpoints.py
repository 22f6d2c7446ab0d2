"""The endpoints by mode: one table for the hot path's trading and the flows' /info reads."""

import pytest

from tripwire.config.endpoints import MAINNET_URL, TESTNET_URL, by_mode, endpoints, info_url
from tripwire.config.settings import ConfigError, Settings

SIM = "http://127.0.0.1:8787"


def settings(mode: str, api_url: str | None = None, allow_live: bool = True) -> Settings:
    return Settings(mode=mode, exchange={"api_url": api_url, "sim_url": SIM, "allow_live": allow_live})


@pytest.mark.parametrize(
    "mode,market,orders,mainnet",
    [
        ("demo", SIM, SIM, False),
        ("sim", MAINNET_URL, SIM, False),
        ("testnet", TESTNET_URL, TESTNET_URL, False),
        ("live", MAINNET_URL, MAINNET_URL, True),
    ],
)
def test_each_mode_takes_market_data_and_orders_from_its_places(mode, market, orders, mainnet):
    e = endpoints(settings(mode))
    assert (e.market_url, e.order_url, e.is_mainnet) == (market, orders, mainnet)
    assert info_url(settings(mode)) == orders


@pytest.mark.parametrize("mode", ["demo", "testnet", "live"])
def test_api_url_moves_orders_and_the_market_data_that_shares_their_place(mode):
    e = endpoints(settings(mode, "http://10.0.0.9:1"))
    assert e.market_url == e.order_url == "http://10.0.0.9:1" and e.same_socket


def test_in_sim_mode_api_url_moves_only_the_orders():
    e = endpoints(settings("sim", "http://10.0.0.9:1"))
    assert (e.market_url, e.order_url) == (MAINNET_URL, "http://10.0.0.9:1")
    assert not e.same_socket


def test_live_trading_needs_allow_live_but_reading_does_not():
    s = settings("live", allow_live=False)
    with pytest.raises(ConfigError, match="exchange.allow_live"):
        endpoints(s)
    assert info_url(s) == by_mode(s).order_url == MAINNET_URL
