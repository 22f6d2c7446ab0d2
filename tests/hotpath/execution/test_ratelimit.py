"""The request-weight bucket: 1,200 per minute, bursts allowed, never more."""

from __future__ import annotations

import pytest

from tripwire.hyperliquid.ratelimit import RateLimiter, exchange_weight


def test_exchange_weight_is_one_plus_a_fortieth_of_the_batch():
    assert [exchange_weight(n) for n in (1, 39, 40, 79, 80)] == [1, 1, 2, 2, 3]


def test_a_full_bucket_lets_a_burst_through_then_refuses_without_blocking():
    rl = RateLimiter()
    assert all(rl.try_acquire(1, 0.0) for _ in range(1200))
    assert not rl.try_acquire(1, 0.0)
    assert rl.wait_time(1, 0.0) == pytest.approx(0.05)  # 20 weight per second


def test_the_bucket_refills_at_1200_per_minute_and_caps_at_capacity():
    rl = RateLimiter()
    assert rl.try_acquire(1200, 0.0)
    assert not rl.try_acquire(20, 0.5)
    assert rl.try_acquire(20, 1.0)
    assert rl.available(10_000.0) == 1200


def test_waiting_does_not_consume_and_a_weight_above_capacity_is_an_error():
    rl = RateLimiter(capacity=10, per_s=10)
    assert rl.try_acquire(10, 0.0)
    assert rl.wait_time(5, 0.0) == pytest.approx(5.0)
    assert rl.wait_time(5, 0.0) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="exceeds"):
        rl.try_acquire(11, 0.0)
