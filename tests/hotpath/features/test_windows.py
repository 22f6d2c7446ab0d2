"""The ring buffers and as-of lookups behind every windowed feature."""

import pytest

from tripwire.hotpath.features.windows import AsOf, BucketRing, CompletedBucketStats


def test_bucket_ring_sums_the_last_n_buckets_and_evicts_older_ones():
    r = BucketRing(n_buckets=3, bucket_ms=1000, width=2)
    r.roll(0)
    r.add(0, 1.0)
    r.add(1, 10.0)
    r.roll(1500)
    r.add(0, 2.0)
    r.roll(2000)
    r.add(0, 4.0)
    assert r.sums == [7.0, 10.0]  # buckets 0, 1, 2
    r.roll(3000)  # bucket 0 leaves
    assert r.sums == [6.0, 0.0]
    r.roll(4999)  # bucket 1 leaves
    assert r.sums == [4.0, 0.0]


def test_bucket_ring_jump_longer_than_the_window_empties_it():
    r = BucketRing(3, 1000, 1)
    r.roll(0)
    r.add(0, 5.0)
    r.roll(10_000)
    assert r.sums == [0.0]
    assert all(b == [0.0] for b in r.buckets)


def test_bucket_ring_older_time_stays_in_current_bucket():
    r = BucketRing(3, 1000, 1)
    r.roll(5000)
    r.roll(1000)  # older: ignored
    assert r.index == 5


def test_bucket_ring_resum_removes_float_residue():
    r = BucketRing(2, 1000, 1)
    r.roll(0)
    r.add(0, 1e9)
    r.add(0, 1e-3)
    r.roll(1000)
    r.add(0, 0.1)
    r.roll(2000)  # bucket 0 leaves: 1e9 + 1e-3 − (1e9 + 1e-3) may leave residue
    r.resum()
    assert r.sums == [0.1]


def test_completed_bucket_stats_excludes_the_bucket_in_progress():
    s = CompletedBucketStats(n_buckets=4, bucket_ms=5000, width=1)
    s.roll(0)
    for t, count in ((0, 1), (5000, 3), (10_000, 1), (15_000, 3)):
        s.roll(t)
        s.cur[0] += count
    s.roll(20_000)  # completes the 15 s bucket
    s.cur[0] += 100  # in progress: not part of the baseline
    assert s.mean_std(0) == (2.0, 1.0)  # [1, 3, 1, 3]


def test_completed_bucket_stats_counts_quiet_buckets_as_zero():
    s = CompletedBucketStats(4, 5000, 1)
    s.roll(0)
    s.cur[0] += 4
    s.roll(15_000)  # buckets 0 (4), 5 s (0), 10 s (0) completed
    mean, std = s.mean_std(0)
    assert mean == 1.0  # [0(initial), 4, 0, 0] / 4
    assert std == pytest.approx(3**0.5)


def test_as_of_returns_the_newest_sample_at_or_before_the_cutoff():
    a = AsOf()
    a.push(0, 1.0)
    a.push(2000, 2.0)
    a.push(4000, 3.0)
    assert a.at_or_before(-1) is None
    assert a.at_or_before(1999) == 1.0
    assert a.at_or_before(2000) == 2.0
    assert a.at_or_before(5000) == 3.0
    assert len(a) == 1  # older samples no longer needed are dropped


def test_as_of_with_resolution_keeps_one_sample_per_slot():
    a = AsOf(resolution_ms=1000)
    a.push(0, 1.0)
    a.push(100, 2.0)  # never overwrites the only sample
    a.push(200, 3.0)  # same slot as 100: overwrites it
    a.push(300, 4.0)
    assert list(a.times) == [0, 300]
    assert a.at_or_before(0) == 1.0
    assert a.at_or_before(300) == 4.0
