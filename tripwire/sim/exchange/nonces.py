"""Per-signer nonce sets, with the exchange's rules.

Hyperliquid keeps the 100 highest nonces seen for each signer. A new nonce is accepted when it
is not among them, is larger than the smallest of them (once 100 are held), and lies within
(now − 2 days, now + 1 day) in milliseconds. A min-heap of the kept nonces plus a set makes the
check and the update O(log 100).
"""

from __future__ import annotations

import heapq

from tripwire.sim.exchange import errors
from tripwire.sim.exchange.errors import RequestRejected

KEPT_NONCES = 100
PAST_WINDOW_MS = 2 * 24 * 3600 * 1000
FUTURE_WINDOW_MS = 1 * 24 * 3600 * 1000


class NonceBook:
    """The kept nonces of every signer. ``check`` never changes state; ``commit`` does."""

    def __init__(self, kept: int = KEPT_NONCES) -> None:
        self._kept = kept
        self._heaps: dict[str, list[int]] = {}
        self._sets: dict[str, set[int]] = {}

    def check(self, signer: str, nonce: int, now_ms: int) -> None:
        """Raise :class:`RequestRejected` with the exchange's message if ``nonce`` is unusable."""
        if not now_ms - PAST_WINDOW_MS < nonce < now_ms + FUTURE_WINDOW_MS:
            raise RequestRejected(errors.NONCE_OUT_OF_WINDOW.format(nonce=nonce))
        if nonce in self._sets.get(signer, ()):
            raise RequestRejected(errors.DUPLICATE_NONCE.format(nonce=nonce))
        heap = self._heaps.get(signer)
        if heap is not None and len(heap) >= self._kept and nonce <= heap[0]:
            raise RequestRejected(errors.NONCE_TOO_LOW.format(nonce=nonce))

    def commit(self, signer: str, nonce: int) -> None:
        """Record ``nonce`` as used (call only after :meth:`check` passed)."""
        heap = self._heaps.setdefault(signer, [])
        used = self._sets.setdefault(signer, set())
        heapq.heappush(heap, nonce)
        used.add(nonce)
        if len(heap) > self._kept:
            used.discard(heapq.heappop(heap))

    def signers(self) -> list[str]:
        return sorted(self._heaps)

    def kept(self, signer: str) -> list[int]:
        """The signer's kept nonces, ascending (for tests and the accounts file)."""
        return sorted(self._heaps.get(signer, ()))
