"""The exchange's request-weight budget as a token bucket.

Hyperliquid allows 1,200 weight per minute per IP; an ``/exchange`` action weighs
``1 + floor(batch / 40)`` (HYPERLIQUID.md). A token bucket refilled continuously at
1,200/60 per second and capped at 1,200 lets a burst through at once (a trigger's bracket
must not wait) while keeping the minute's total under the limit. The caller passes the clock,
so the bucket is pure and testable; the gateway feeds it ``time.monotonic()``.
"""

from __future__ import annotations

__all__ = ["RateLimiter", "exchange_weight"]

WEIGHT_PER_MINUTE = 1200


def exchange_weight(batch_len: int) -> int:
    """Weight of one ``/exchange`` action carrying ``batch_len`` orders/cancels/modifies."""
    return 1 + max(batch_len, 0) // 40


class RateLimiter:
    __slots__ = ("capacity", "refill_per_s", "_tokens", "_at")

    def __init__(self, capacity: float = WEIGHT_PER_MINUTE, per_s: float = 60.0) -> None:
        if capacity <= 0 or per_s <= 0:
            raise ValueError("capacity and per_s must be positive")
        self.capacity = float(capacity)
        self.refill_per_s = capacity / per_s
        self._tokens = float(capacity)
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.refill_per_s)
        if self._at is None or now > self._at:
            self._at = now

    def try_acquire(self, weight: float, now: float) -> bool:
        """Take ``weight`` if available at ``now`` (seconds, monotonic); never blocks."""
        if weight > self.capacity:
            raise ValueError(f"weight {weight} exceeds the bucket's capacity {self.capacity:g}")
        self._refill(now)
        if self._tokens + 1e-9 >= weight:
            self._tokens -= weight
            return True
        return False

    def wait_time(self, weight: float, now: float) -> float:
        """Seconds until ``weight`` would be available (0.0 if it is now); takes nothing."""
        self._refill(now)
        missing = weight - self._tokens
        return 0.0 if missing <= 1e-9 else missing / self.refill_per_s

    def available(self, now: float) -> float:
        self._refill(now)
        return self._tokens
