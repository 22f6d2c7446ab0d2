"""Book windows and triple-barrier labels (numpy only: runs without the alpha extra)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import RECORDING
from tests.flows.alpha.synthetic import snapshots
from tripwire.flows.alpha.baselines import hand_features
from tripwire.flows.alpha.books import (
    BookWindow,
    SizeScale,
    expected_move_bps,
    from_messages,
    labelled,
    read_snapshots,
    snapshot_row,
    triple_barrier,
    windows,
)


def test_triple_barrier_labels_the_first_barrier_touched_and_the_sign_at_the_time_limit():
    bps = lambda *moves: 100.0 * (1 + np.array([0.0, *moves]) / 1e4)
    # up 2 bps first → 1; down 2 first → 0; neither within 3 steps → sign of the last return
    assert triple_barrier(bps(0.5, 2.0, -3.0), 3, 1.5)[0] == 1.0
    assert triple_barrier(bps(-0.5, -2.0, 3.0), 3, 1.5)[0] == 0.0
    assert triple_barrier(bps(0.5, 1.0, 0.2), 3, 1.5)[0] == 1.0
    assert triple_barrier(bps(0.5, -1.0, -0.2), 3, 1.5)[0] == 0.0
    assert np.isnan(triple_barrier(bps(0.5, -1.0, -0.2), 3, 1.5, "drop")[0])
    assert np.isnan(triple_barrier(bps(0.5, 0.0, 0.0), 3, 1.5)[0])  # no move at all: no label
    # the last `horizon` indices have no full future
    assert np.isnan(triple_barrier(bps(0.5, 2.0, -3.0), 3, 1.5)[1:]).all()


def test_a_window_holds_prices_as_bps_from_the_last_mid_and_standardised_log_sizes():
    s = snapshots(50, 0.3)
    scale = SizeScale(0.5, 2.0)
    x = windows(s, np.array([9]), 4, scale)
    assert x.shape == (1, 4, 12)  # 4 snapshots, 3 levels × (bid bps, ask bps, bid z, ask z)
    mid = s.mid[9]
    assert x[0, -1, 0] == pytest.approx((s.bid_px[9, 0] - mid) / mid * 1e4, rel=1e-5)
    assert x[0, 0, 3] == pytest.approx((s.ask_px[6, 0] - mid) / mid * 1e4, rel=1e-5)
    assert x[0, 2, 6] == pytest.approx((np.log1p(s.bid_sz[8, 0]) - 0.5) / 2.0, rel=1e-5)


def test_the_servers_rolling_window_equals_the_training_window():
    s = snapshots(30, 0.3)
    w = BookWindow(5, 3)
    for i in range(12):
        bids = list(zip(s.bid_px[i], s.bid_sz[i]))
        asks = list(zip(s.ask_px[i], s.ask_sz[i]))
        assert w.push(int(s.t_ms[i]), bids, asks)
    scale = SizeScale.fit(s)
    np.testing.assert_allclose(w.window(scale), windows(s, np.array([11]), 5, scale), rtol=1e-6)


def test_a_thin_or_crossed_book_is_no_snapshot():
    assert snapshot_row([(10.0, 1.0)], [], 3) is None
    assert snapshot_row([(10.0, 1.0)], [(9.0, 1.0)], 3) is None
    row = snapshot_row([(10.0, 1.0)], [(11.0, 2.0), (12.0, 1.0)], 3)
    assert row == ([10.0, 10.0, 10.0], [1.0, 0.0, 0.0], [11.0, 12.0, 12.0], [2.0, 1.0, 0.0])


def test_labelled_windows_start_after_a_full_window_and_end_before_the_horizon():
    s = snapshots(200, 0.3)
    lw = labelled(s, 8, 5, 1.5)
    assert lw.idx.min() >= 7 and lw.idx.max() < 195
    assert set(np.unique(lw.y)) <= {0.0, 1.0}


def test_the_predicted_move_is_signed_by_the_probability():
    assert expected_move_bps(0.5, 1.5) == 0.0
    assert expected_move_bps(1.0, 1.5) == 1.5
    assert expected_move_bps(0.25, 2.0) == -1.0


def test_the_hand_features_see_the_imbalance():
    s = snapshots(40, 0.3)
    f = hand_features(s, np.arange(10, 40), 8)
    b5, a5 = s.bid_sz[10:40, :5].sum(axis=1), s.ask_sz[10:40, :5].sum(axis=1)
    np.testing.assert_allclose(f[:, 0], 0.0)  # the top level is balanced
    np.testing.assert_allclose(f[:, 1], (b5 - a5) / (b5 + a5))


def test_books_are_kept_at_the_served_cadence():
    msgs = [
        {
            "channel": "l2Book",
            "data": {"coin": "BTC", "time": t, "levels": [[{"px": "9", "sz": "1"}], [{"px": "10", "sz": "1"}]]},
        }
        for t in (0, 600, 1000, 1500, 2100, 2200, 3100)
    ]
    assert from_messages(msgs, "BTC", 1, every_ms=1000).t_ms.tolist() == [0, 1000, 2100, 3100]
    assert len(from_messages(msgs, "BTC", 1)) == 7


def test_the_bundled_hour_reads_as_btc_snapshots():
    s = read_snapshots([RECORDING], "BTC", 10)
    assert len(s) > 5000
    assert (np.diff(s.t_ms) >= 0).all()
    assert (s.ask_px[:, 0] > s.bid_px[:, 0]).all()
