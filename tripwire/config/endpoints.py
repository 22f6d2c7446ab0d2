"""Where market data comes from and where orders go, by mode (ARCHITECTURE.md, "Modes").

| mode    | market data                   | orders (and /info reads) | signs for |
|---------|-------------------------------|--------------------------|-----------|
| demo    | the local simulator (replay)  | the local simulator      | testnet   |
| sim     | mainnet                       | the local simulator      | testnet   |
| testnet | testnet                       | testnet                  | testnet   |
| live    | mainnet                       | mainnet                  | mainnet   |

The local simulator is ``exchange.sim_url``. ``exchange.api_url`` overrides the order
endpoint, and the market data too where the mode takes both from one place (every mode but
sim, whose market data stays on mainnet). The hot path trades on :func:`endpoints`; the flows
read ``/info`` from the same order endpoint (:func:`info_url`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tripwire.config.settings import ConfigError, Settings

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
_SIMULATOR = None  # in the table below: exchange.sim_url
MAINNET_LEADERBOARD_URL = "https://stats-data.hyperliquid.xyz/Mainnet/leaderboard"
# The stats server of testnet, as the exchange's own testnet app and third-party clients use it.
TESTNET_LEADERBOARD_URL = "https://stats-data.hyperliquid-testnet.xyz/Testnet/leaderboard"
SIM_LEADERBOARD_PATH = "/leaderboard"  # the simulator's (tripwire sim) stand-in for the stats server

# mode → (market data, orders, signs for mainnet): the table in the module doc
_BY_MODE: dict[str, tuple[str | None, str | None, bool]] = {
    "demo": (_SIMULATOR, _SIMULATOR, False),
    "sim": (MAINNET_URL, _SIMULATOR, False),
    "testnet": (TESTNET_URL, TESTNET_URL, False),
    "live": (MAINNET_URL, MAINNET_URL, True),
}


@dataclass(frozen=True)
class Endpoints:
    market_url: str  # HTTP base whose /ws carries market data
    order_url: str  # HTTP base for /info and /exchange; its /ws carries user channels
    is_mainnet: bool  # the signature's network

    @property
    def same_socket(self) -> bool:
        """Market data and user channels can share one WebSocket."""
        return self.market_url == self.order_url


def by_mode(settings: Settings) -> Endpoints:
    """The endpoints of ``settings.mode`` after ``exchange.api_url`` (no live-trading check:
    :func:`endpoints` is the one to trade on)."""
    ex = settings.exchange
    market, orders, is_mainnet = _BY_MODE[settings.mode]
    one_place = market == orders
    orders = ex.api_url or orders or ex.sim_url
    market = orders if one_place else (market or ex.sim_url)
    return Endpoints(market, orders, is_mainnet)


def endpoints(settings: Settings) -> Endpoints:
    """The endpoints to trade on; ConfigError for live mode without ``exchange.allow_live``."""
    if settings.mode == "live" and not settings.exchange.allow_live:
        raise ConfigError(
            "mode is live but exchange.allow_live is not true: live trading needs "
            "both set explicitly (settings file or TRIPWIRE_EXCHANGE__ALLOW_LIVE)"
        )
    return by_mode(settings)


def info_url(settings: Settings) -> str:
    """The base URL for ``/info`` reads (account, positions, market meta): the order endpoint.
    Reading trades nothing, so live mode needs no ``allow_live`` here."""
    return by_mode(settings).order_url


def leaderboard_url(settings: Settings) -> str:
    """The leaderboard to rank traders from: in demo and sim modes the simulator's own
    (``GET /leaderboard`` on the order endpoint: its simulated traders, whose state the same
    ``/info`` answers), else the network's stats server."""
    if settings.mode in ("demo", "sim"):
        return by_mode(settings).order_url.rstrip("/") + SIM_LEADERBOARD_PATH
    return TESTNET_LEADERBOARD_URL if settings.mode == "testnet" else MAINNET_LEADERBOARD_URL
