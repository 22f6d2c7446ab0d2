"""Where market data comes from and where orders go, by mode (ARCHITECTURE.md, "Modes").

| mode    | market data                   | orders                   | signs for |
|---------|-------------------------------|--------------------------|-----------|
| demo    | the local simulator (replay)  | the local simulator      | testnet   |
| sim     | mainnet                       | the local simulator      | testnet   |
| testnet | testnet                       | testnet                  | testnet   |
| live    | mainnet                       | mainnet                  | mainnet   |

``exchange.api_url`` overrides the order endpoint (and, in demo, the market data too).
"""

from __future__ import annotations

from dataclasses import dataclass

from tripwire.hotpath.feed.connection import ws_url  # noqa: F401  (re-exported for callers)
from tripwire.config.settings import ConfigError, Settings

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"


@dataclass(frozen=True)
class Endpoints:
    market_url: str      # HTTP base whose /ws carries market data
    order_url: str       # HTTP base for /info and /exchange; its /ws carries user channels
    is_mainnet: bool     # the signature's network

    @property
    def same_socket(self) -> bool:
        """Market data and user channels can share one WebSocket."""
        return self.market_url == self.order_url


def endpoints(settings: Settings) -> Endpoints:
    ex, mode = settings.exchange, settings.mode
    if mode == "live" and not ex.allow_live:
        raise ConfigError("mode is live but exchange.allow_live is not true: live trading needs "
                          "both set explicitly (settings file or TRIPWIRE_EXCHANGE__ALLOW_LIVE)")
    if mode == "demo":
        url = ex.api_url or ex.sim_url
        return Endpoints(url, url, False)
    if mode == "sim":
        return Endpoints(MAINNET_URL, ex.api_url or ex.sim_url, False)
    if mode == "testnet":
        url = ex.api_url or TESTNET_URL
        return Endpoints(url, url, False)
    url = ex.api_url or MAINNET_URL
    return Endpoints(url, url, True)
