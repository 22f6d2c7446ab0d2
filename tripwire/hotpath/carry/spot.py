"""The hedge's spot pair as the exchange lists it, and spot balances: the API's answers, parsed.

Pure. ``spotMeta`` names tokens and pairs (USDC is token 0); a pair's order asset id is
``10000 + index`` and its API/feed name is ``@index`` unless it is canonical (``PURR/USDC``).
``config/carry.yaml`` names the hedge either way (``UBTC/USDC`` or ``@0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPOT_ASSET_OFFSET = 10_000
USDC = "USDC"


@dataclass(frozen=True, slots=True)
class SpotPairInfo:
    label: str  # BASE/QUOTE: what the risk check calls the spot leg
    coin: str  # the API's name: what l2Book and fills carry (@index, or the canonical name)
    asset: int  # 10000 + index: what an order names
    base: str  # the token bought: what spotClearinghouseState lists
    sz_decimals: int


def resolve_pair(spot_meta: Any, wanted: str) -> SpotPairInfo:
    """The pair ``wanted`` (``UBTC/USDC`` or ``@0``) of a ``spotMeta`` answer; ValueError naming
    what the exchange lists otherwise."""
    if not isinstance(spot_meta, dict) or not isinstance(spot_meta.get("universe"), list):
        raise ValueError(f"spotMeta answer malformed: {spot_meta!r:.200}")
    tokens = {t["index"]: t for t in spot_meta.get("tokens", ()) if isinstance(t, dict) and "index" in t}
    listed = []
    for p in spot_meta["universe"]:
        try:
            base_i, quote_i = p["tokens"]
            base, quote = tokens[base_i], tokens[quote_i]
            index = int(p["index"])
        except (KeyError, TypeError, ValueError):
            continue
        label = f"{base['name']}/{quote['name']}"
        coin = p.get("name") or f"@{index}"
        listed.append(label)
        if wanted in (label, coin):
            return SpotPairInfo(label, coin, SPOT_ASSET_OFFSET + index, base["name"], int(base["szDecimals"]))
    raise ValueError(f"no spot pair {wanted!r} (the exchange lists {', '.join(listed[:20]) or 'none'})")


def balances(state: Any) -> dict[str, tuple[float, float]]:
    """``spotClearinghouseState`` → token → (total, hold); ValueError when malformed."""
    if not isinstance(state, dict) or not isinstance(state.get("balances"), list):
        raise ValueError(f"spotClearinghouseState answer malformed: {state!r:.200}")
    out = {}
    for b in state["balances"]:
        try:
            out[str(b["coin"])] = (float(b["total"]), float(b.get("hold", 0) or 0))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"spotClearinghouseState balance malformed: {b!r:.200}") from None
    return out
