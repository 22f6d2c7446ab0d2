"""A coin's exchange clock judged against local receive time: jumps, new timelines, lag."""

import pytest

from tripwire.hotpath.book.market_clock import (
    MAX_AHEAD_MS,
    MAX_BEHIND_MS,
    NEW_TIMELINE,
    SANE,
    TIME_JUMP,
    MarketClock,
)

T0 = 1_704_110_400_000  # 2024-01-01 12:00 UTC, the bundled recording's hour
HOUR_MS = 3_600_000
MS = 1_000_000  # ns


def fed(clock, times):
    """(exchange ms, receive ns) pairs through the clock; the verdicts."""
    return [clock.observe(t, r) for t, r in times]


def test_a_live_feed_is_sane_including_a_late_message_and_a_gap_the_receive_clock_saw_too():
    c = MarketClock()
    assert fed(c, [(T0, 0), (T0 + 500, 500 * MS), (T0 + 300, 510 * MS)]) == [SANE] * 3
    # ten minutes without data (a disconnect): the exchange time moved as much as ours did
    assert c.observe(T0 + 600_500, 600_600 * MS) == SANE
    assert c.exch_ms == T0 + 600_500 and not c.jumped


def test_a_replay_running_ahead_of_the_receive_clock_is_sane():
    c = MarketClock()
    # as fast as possible: seconds of exchange time per microsecond received
    assert fed(c, [(T0 + i * 1_800, i * 1_000) for i in range(1_000)]) == [SANE] * 1_000


def test_one_message_an_hour_ahead_is_a_jump_then_forgotten_when_the_feed_goes_on():
    c = MarketClock()
    c.observe(T0, 0)
    assert c.observe(T0 + HOUR_MS, 500 * MS) == TIME_JUMP and c.jumped
    assert c.exch_ms == T0  # not taken as the clock
    assert c.observe(T0 + 1_000, 1_000 * MS) == SANE and not c.jumped


def test_a_clock_that_moved_back_starts_a_new_timeline_on_the_message_after():
    c = MarketClock()
    fed(c, [(T0 + HOUR_MS, 0), (T0 + HOUR_MS + 500, 500 * MS)])
    assert c.observe(T0 + 60_000, 1_000 * MS) == TIME_JUMP  # a looping replay wrapped
    assert c.observe(T0 + 60_500, 1_500 * MS) == NEW_TIMELINE
    assert c.exch_ms == T0 + 60_500 and not c.jumped
    assert c.observe(T0 + 61_000, 2_000 * MS) == SANE


def test_bounds_are_inclusive_and_a_jump_is_replaced_by_a_later_one():
    c = MarketClock()
    c.observe(T0, 0)
    assert c.observe(T0 - MAX_BEHIND_MS, 0) == SANE
    assert c.observe(T0 + MAX_AHEAD_MS + 100, 100 * MS) == SANE  # 100 ms elapsed, 100 ms more
    c = MarketClock()
    c.observe(T0, 0)
    assert c.observe(T0 + 2 * HOUR_MS, 0) == TIME_JUMP
    assert c.observe(T0 - 2 * HOUR_MS, 0) == TIME_JUMP  # neither timeline: the new candidate
    assert c.observe(T0 - 2 * HOUR_MS + 500, 0) == NEW_TIMELINE


def test_lag_is_the_receive_delay_above_its_best_whatever_the_clock_offset():
    c = MarketClock()
    offset_ns = 12_345 * 60_000 * MS  # receive clock and exchange clock share no origin
    lags = [c.measure_lag(T0 + i * 500, offset_ns + (i * 500 + 40) * MS) for i in range(20)]
    assert max(lags) == pytest.approx(0.0, abs=1e-6)
    # the hot path falls behind: each book received 300 ms later than the one before
    lags = [c.measure_lag(T0 + (20 + i) * 500, offset_ns + ((20 + i) * 500 + 40 + 300 * i) * MS) for i in range(1, 11)]
    assert 2_900 < lags[-1] <= 3_000 and lags == sorted(lags)  # less what the baseline rose


def test_a_replay_faster_than_real_time_never_reads_as_lag():
    c = MarketClock()
    assert max(c.measure_lag(T0 + i * 1_000, i * 10 * MS) for i in range(100)) == 0.0


def test_a_baseline_set_by_a_stamp_a_little_ahead_is_forgotten_within_minutes():
    c = MarketClock()
    c.measure_lag(T0 + 2_000, 0)  # 2 s ahead of the delay every later book has
    assert c.measure_lag(T0 + 1_000, 1_000 * MS) == pytest.approx(2_000, rel=0.02)
    assert c.measure_lag(T0 + 300_000, 300_000 * MS) == pytest.approx(0.0, abs=1e-6)


def test_a_new_timeline_starts_the_lag_baseline_again():
    c = MarketClock()
    c.observe(T0 + HOUR_MS, 0)
    c.measure_lag(T0 + HOUR_MS, 0)
    c.observe(T0, 100 * MS)
    assert c.observe(T0 + 500, 600 * MS) == NEW_TIMELINE
    # an hour "late" against the old baseline, nothing against the new one
    assert c.measure_lag(T0 + 500, 600 * MS) == 0.0


def test_a_time_on_the_wall_clock_starts_a_new_timeline_at_once():
    # A simulator's fast replay ran its clock 17 minutes ahead; when it ends, the simulator
    # stamps with the wall clock again. That one message is enough: it is the old timeline
    # that was off.
    wall_offset_ns = T0 * MS - 5_000 * MS  # the receive clock reads 5 000 ms at T0
    c = MarketClock(wall_offset_ns)
    c.observe(T0 + 17 * 60_000, 4_000 * MS)
    assert c.observe(T0 + 1_000, 6_000 * MS) == NEW_TIMELINE and not c.from_candidate
    assert c.exch_ms == T0 + 1_000
    # while a stamp an hour off the wall clock is still only a candidate
    assert c.observe(T0 + HOUR_MS, 6_100 * MS) == TIME_JUMP


def test_a_confirmed_candidate_says_so():
    c = MarketClock()
    c.observe(T0 + HOUR_MS, 0)
    c.observe(T0, 0)
    assert c.observe(T0 + 500, 0) == NEW_TIMELINE and c.from_candidate


def test_a_late_message_on_a_feed_that_follows_the_wall_clock_is_never_a_new_timeline():
    wall_offset_ns = T0 * MS  # the receive clock reads 0 at T0
    c = MarketClock(wall_offset_ns)
    c.observe(T0 + 500, 0)  # the exchange's clock half a second ahead of ours
    late = T0 + 500 - MAX_BEHIND_MS - 100
    assert c.observe(late, 0) == TIME_JUMP and c.exch_ms == T0 + 500
