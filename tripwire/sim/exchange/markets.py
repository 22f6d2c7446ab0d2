"""The simulated exchange's perpetual universe: what ``meta`` returns and asset ids resolve to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Market:
    """One perpetual. ``asset`` is its index in ``meta.universe`` (BTC = 0 by default)."""

    asset: int
    name: str
    sz_decimals: int
    max_leverage: int

    def meta_entry(self) -> dict:
        return {"name": self.name, "szDecimals": self.sz_decimals, "maxLeverage": self.max_leverage}


DEFAULT_UNIVERSE: tuple[tuple[str, int, int], ...] = (("BTC", 5, 50), ("ETH", 4, 50), ("SOL", 2, 20))


class Universe:
    """Markets by asset id and by coin name, in ``meta`` order."""

    def __init__(self, specs: tuple[tuple[str, int, int], ...] | list = DEFAULT_UNIVERSE) -> None:
        self.markets = [Market(i, name, int(szd), int(lev)) for i, (name, szd, lev) in enumerate(specs)]
        self.by_name = {m.name: m for m in self.markets}

    def by_asset(self, asset: object) -> Market | None:
        if type(asset) is int and 0 <= asset < len(self.markets):
            return self.markets[asset]
        return None

    def meta(self) -> dict:
        return {"universe": [m.meta_entry() for m in self.markets]}

    @staticmethod
    def parse_spec(text: str) -> tuple[str, int, int]:
        """``"BTC:5:50"`` → ``("BTC", 5, 50)``; raises ValueError with a usable message."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"market {text!r}: expected NAME:SZ_DECIMALS:MAX_LEVERAGE, e.g. BTC:5:50")
        name, szd, lev = parts
        return name, int(szd), int(lev)
