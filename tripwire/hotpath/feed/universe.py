"""Which coins the hot path subscribes to: the configured list, or ``all`` from ``meta``.

Pure: the caller fetched ``/info {"type": "meta"}``. ``coins: [all]`` means every perpetual in
the universe that is not delisted, in the exchange's order; a listed coin the exchange does not
know stops the start with the coins it does know. Per-coin state is created only for the coins
resolved here (the decoder drops every other coin's market data), so memory is bounded by the
subscription, not by what the exchange happens to send.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from tripwire.config.settings import ALL_COINS


class UnknownCoins(ValueError):
    """Configured coins the exchange does not list; the message names them and what it lists."""


def listed_coins(meta: dict[str, Any]) -> tuple[str, ...]:
    """The perpetuals ``meta`` lists, in its order, delisted ones left out."""
    try:
        universe = meta["universe"]
        return tuple(u["name"] for u in universe if not u.get("isDelisted"))
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"meta answer has no usable universe ({e!r})") from None


def resolve_coins(wanted: Sequence[str], meta: dict[str, Any]) -> tuple[str, ...]:
    """``wanted`` checked against ``meta``, or every listed coin for ``[all]``."""
    listed = listed_coins(meta)
    if tuple(wanted) == (ALL_COINS,):
        if not listed:
            raise UnknownCoins("coins: [all]: the exchange's meta lists no perpetual")
        return listed
    known = set(listed)
    missing = [c for c in wanted if c not in known]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, listed, n=1) or [x for x in listed if x.upper() == c.upper()]
            hints.append(f"{c!r} (did you mean {close[0]!r}?)" if close else repr(c))
        shown = ", ".join(listed[:20]) + ("…" if len(listed) > 20 else "")
        raise UnknownCoins(f"coins: {', '.join(hints)} not listed by the exchange; it lists {shown} ({len(listed)})")
    return tuple(wanted)
