"""Nonces for signed exchange actions: strictly increasing milliseconds, per signer.

Hyperliquid keeps the 100 highest nonces of each signer and refuses a nonce that is not above
the smallest of them or was already used, and one outside (block time − 2 days, + 1 day). A
wall-clock millisecond alone collides when two actions are signed within one millisecond, so
each nonce is ``max(now_ms, last + 1)``: a burst of n actions runs at most n ms ahead of the
clock, far inside the one-day window, and a clock that steps back never produces a repeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["NonceManager"]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class NonceManager:
    """Hands out nonces; one instance per process, shared by everything that signs.

    Thread-safe (a lock around two integer operations) so a signer used from a helper thread
    cannot race the event loop.
    """

    __slots__ = ("_clock_ms", "_last", "_lock")

    def __init__(self, clock_ms: Callable[[], int] = _wall_ms) -> None:
        self._clock_ms = clock_ms
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, signer: str) -> int:
        """The next nonce for ``signer`` (its address): above every nonce handed out before."""
        now = self._clock_ms()
        with self._lock:
            nonce = max(now, self._last.get(signer, 0) + 1)
            self._last[signer] = nonce
        return nonce

    def observe(self, signer: str, nonce: int) -> None:
        """Record a nonce used elsewhere (e.g. by a previous run) so it is never reused."""
        with self._lock:
            if nonce > self._last.get(signer, 0):
                self._last[signer] = nonce

    def last(self, signer: str) -> int | None:
        return self._last.get(signer)
