"""Time windows with O(1) amortised updates: the building blocks of the feature engine.

Why buckets rather than a deque of every trade: a busy coin prints hundreds of fills a second,
and a per-trade deque means one allocation per fill and an eviction loop whose length depends on
the burst. A fixed ring of time buckets (1 s by default) costs one add per quantity per fill and,
when time crosses a bucket edge, one subtraction per quantity per bucket crossed; the window is
then "the current bucket and the n−1 before it" — exact to one bucket. Running sums drift when
floats are added and subtracted for hours, so each structure has ``resum()``, which rebuilds the
sums exactly from the buckets; the engine calls it for one structure every 10th 1 s roll, in
turn (a few µs), rather than for all of them at every bar close (≈ 35 µs once a minute).

All times are exchange milliseconds and only move forward; a time older than the current
bucket is folded into the current bucket (callers pass ``max(t, newest)``).
"""

from __future__ import annotations

from collections import deque
from math import sqrt
from operator import itemgetter, mul


class BucketRing:
    """Sums of ``width`` quantities over the trailing ``n_buckets`` buckets of ``bucket_ms``.

    ``sums[j]`` is quantity ``j`` summed over buckets ``[b − n + 1, b]`` where ``b`` is the bucket
    of the last :meth:`roll`. Add to the current bucket with :meth:`add`, or, on the hottest path,
    inline ``cur[j] += x; sums[j] += x`` (``cur`` is the current bucket's list).
    """

    __slots__ = ("bucket_ms", "n", "width", "buckets", "sums", "index", "cur")

    def __init__(self, n_buckets: int, bucket_ms: int, width: int) -> None:
        if n_buckets <= 0 or bucket_ms <= 0 or width <= 0:
            raise ValueError("n_buckets, bucket_ms and width must be positive")
        self.bucket_ms = bucket_ms
        self.n = n_buckets
        self.width = width
        self.buckets = [[0.0] * width for _ in range(n_buckets)]
        self.sums = [0.0] * width
        self.index = -1  # number (t // bucket_ms) of the current bucket; -1: none yet
        self.cur = self.buckets[0]

    def roll(self, t_ms: int) -> None:
        """Make the bucket holding ``t_ms`` current, evicting the buckets that left the window."""
        b = t_ms // self.bucket_ms
        steps = b - self.index
        if steps <= 0:
            return
        n = self.n
        buckets, sums = self.buckets, self.sums
        if self.index < 0 or steps >= n:
            for bucket in buckets:
                for j in range(self.width):
                    bucket[j] = 0.0
            for j in range(self.width):
                sums[j] = 0.0
        else:
            for i in range(self.index + 1, b + 1):
                bucket = buckets[i % n]  # holds bucket i − n, which just left the window
                for j in range(self.width):
                    x = bucket[j]
                    if x:
                        sums[j] -= x
                        bucket[j] = 0.0
        self.index = b
        self.cur = buckets[b % n]

    def add(self, j: int, x: float) -> None:
        self.cur[j] += x
        self.sums[j] += x

    def resum(self) -> None:
        """Rebuild the running sums exactly from the buckets (drift guard)."""
        sums = self.sums
        for j in range(self.width):
            sums[j] = sum(map(itemgetter(j), self.buckets), 0.0)


class CompletedBucketStats:
    """Mean and population std of per-bucket totals over the last ``n`` *completed* buckets.

    Used for burst baselines: the bucket in progress is excluded, so a burst does not inflate
    the baseline it is compared against. Empty buckets (no activity) count as zeros.
    """

    __slots__ = ("bucket_ms", "n", "width", "ring", "head", "sums", "sqsums", "index", "cur")

    def __init__(self, n_buckets: int, bucket_ms: int, width: int) -> None:
        if n_buckets < 2 or bucket_ms <= 0 or width <= 0:
            raise ValueError("need n_buckets ≥ 2, positive bucket_ms and width")
        self.bucket_ms = bucket_ms
        self.n = n_buckets
        self.width = width
        self.ring = [[0.0] * width for _ in range(n_buckets)]
        self.head = 0  # slot the next completed bucket overwrites (the oldest)
        self.sums = [0.0] * width
        self.sqsums = [0.0] * width
        self.index = -1
        self.cur = [0.0] * width  # totals of the bucket in progress

    def roll(self, t_ms: int) -> None:
        """Complete the buckets before the one holding ``t_ms``."""
        b = t_ms // self.bucket_ms
        steps = b - self.index
        if steps <= 0:
            return
        if self.index < 0:
            self.index = b
            return
        cur = self.cur
        self._push(cur)
        for j in range(self.width):
            cur[j] = 0.0
        # The empty buckets in between; more than n of them just means all zeros.
        for _ in range(min(steps - 1, self.n)):
            self._push(cur)
        self.index = b

    def _push(self, totals: list[float]) -> None:
        slot = self.ring[self.head]
        sums, sq = self.sums, self.sqsums
        for j in range(self.width):
            old = slot[j]
            x = totals[j]
            sums[j] += x - old
            sq[j] += x * x - old * old
            slot[j] = x
        self.head = (self.head + 1) % self.n

    def mean_std(self, j: int) -> tuple[float, float]:
        n = self.n
        mean = self.sums[j] / n
        var = self.sqsums[j] / n - mean * mean
        return mean, sqrt(var) if var > 0.0 else 0.0

    def resum(self) -> None:
        for j in range(self.width):
            xs = list(map(itemgetter(j), self.ring))
            self.sums[j] = sum(xs, 0.0)
            self.sqsums[j] = sum(map(mul, xs, xs), 0.0)  # C loops: no Python frame per slot


class AsOf:
    """The value a series had at or just before a cutoff time that only moves forward.

    Keeps the samples newer than the last cutoff plus the one just before it, so a lookup is
    amortised O(1). With ``resolution_ms`` > 0, samples within one resolution slot overwrite
    each other (bounded memory for fast series; the lookup is then exact to one slot).
    """

    __slots__ = ("resolution_ms", "times", "vals")

    def __init__(self, resolution_ms: int = 0) -> None:
        self.resolution_ms = resolution_ms
        self.times: deque[int] = deque()
        self.vals: deque[float] = deque()

    def push(self, t_ms: int, value: float) -> None:
        times = self.times
        if times:
            last = times[-1]
            if t_ms <= last:  # same instant (callers never go back): the newest value stands
                self.vals[-1] = value
                return
            res = self.resolution_ms
            # Overwrite within a slot, but never the only sample: it may be the one a lookup needs.
            if res and t_ms // res == last // res and len(times) > 1:
                times[-1] = t_ms
                self.vals[-1] = value
                return
        times.append(t_ms)
        self.vals.append(value)

    def at_or_before(self, cutoff_ms: int) -> float | None:
        """The newest sample at or before ``cutoff_ms``, or None if every sample is newer."""
        times, vals = self.times, self.vals
        while len(times) > 1 and times[1] <= cutoff_ms:
            times.popleft()
            vals.popleft()
        if times and times[0] <= cutoff_ms:
            return vals[0]
        return None

    def __len__(self) -> int:
        return len(self.times)
