"""Pacing ``/info`` requests inside a share of the IP's request-weight budget.

Hyperliquid allows 1,200 weight per minute per IP, shared by everything on the host: the hot
path's orders and reconciles come first, so a scheduled flow gets a configured share
(``weight_per_minute``). The bucket refills at that rate and holds at most ``burst_weight``:
over any 60 s window a flow spends at most ``burst_weight + weight_per_minute``, so a small
burst keeps the worst case close to the share (a full-minute burst would double it).

The bucket is :class:`tripwire.hyperliquid.ratelimit.RateLimiter` (pure, clock passed in); this
wrapper only sleeps. Clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tripwire.hyperliquid.ratelimit import RateLimiter

# Request weights (HYPERLIQUID.md): the few light /info types weigh 2, most others 20.
INFO_WEIGHTS = {"clearinghouseState": 2, "l2Book": 2, "allMids": 2, "orderStatus": 2}
DEFAULT_INFO_WEIGHT = 20


def info_weight(request_type: str, items: int = 0) -> int:
    """Weight of one ``/info`` request; time-range answers add 1 per 20 items returned."""
    return INFO_WEIGHTS.get(request_type, DEFAULT_INFO_WEIGHT) + items // 20


class WeightBudget:
    """``await budget.spend(2)`` returns when 2 weight may be spent under the share."""

    def __init__(
        self,
        weight_per_minute: float,
        burst_weight: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._bucket = RateLimiter(capacity=burst_weight, per_s=60.0 * burst_weight / weight_per_minute)
        self._clock = clock
        self._sleep = sleep
        self.spent = 0.0
        self.waited_s = 0.0

    async def spend(self, weight: float) -> None:
        while not self._bucket.try_acquire(weight, self._clock()):
            wait = max(self._bucket.wait_time(weight, self._clock()), 0.001)
            self.waited_s += wait
            await self._sleep(wait)
        self.spent += weight
