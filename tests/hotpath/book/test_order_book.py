import pytest

from tests.fixtures import RECORDING
from tripwire.hotpath.book.order_book import CROSSED, EMPTY, OK, STALE, OrderBook
from tripwire.hotpath.feed.decode import Decoder
from tripwire.hotpath.feed.records import Bbo, BookSnapshot
from tripwire.sim.replay.recordings import read_messages


def snap(bids, asks, t=1000):
    return BookSnapshot(
        "BTC", t, [p for p, _ in bids], [s for _, s in bids], [p for p, _ in asks], [s for _, s in asks]
    )


BIDS = [(100.0, 1.0), (99.9, 2.0), (99.5, 10.0), (98.0, 50.0)]
ASKS = [(100.1, 3.0), (100.2, 1.0), (100.6, 20.0), (102.0, 40.0)]


def test_top_of_book_mid_spread_and_microprice():
    b = OrderBook("BTC")
    b.apply_snapshot(snap(BIDS, ASKS))
    assert (b.best_bid, b.best_ask) == (100.0, 100.1)
    assert b.mid == pytest.approx(100.05)
    assert b.spread_bps == pytest.approx(0.1 / 100.05 * 1e4)
    # (100.0 × 3 + 100.1 × 1) / 4: less size on the bid pulls the microprice down
    assert b.microprice == pytest.approx(100.025)


def test_imbalance_over_top_levels():
    b = OrderBook("BTC")
    b.apply_snapshot(snap(BIDS, ASKS))
    assert b.imbalance(2) == pytest.approx((3.0 - 4.0) / 7.0)
    assert b.imbalance(1) == pytest.approx((1.0 - 3.0) / 4.0)
    assert b.imbalance(100) == pytest.approx((63.0 - 64.0) / 127.0)


def test_depth_within_bps_counts_only_levels_in_range():
    b = OrderBook("BTC")
    b.apply_snapshot(snap(BIDS, ASKS))
    # 60 bps of 100.05 → [99.4497, 100.6503]: bids 100.0, 99.9, 99.5; asks 100.1, 100.2, 100.6
    bid, ask = b.depth_usd(60)
    assert bid == pytest.approx(100.0 * 1 + 99.9 * 2 + 99.5 * 10)
    assert ask == pytest.approx(100.1 * 3 + 100.2 * 1 + 100.6 * 20)


def test_largest_wall_and_its_distance():
    b = OrderBook("BTC")
    b.apply_snapshot(snap(BIDS, ASKS))
    bw, bd, aw, ad = b.largest_wall(60)
    assert bw == pytest.approx(995.0) and bd == pytest.approx((100.05 - 99.5) / 100.05 * 1e4)
    assert aw == pytest.approx(2012.0) and ad == pytest.approx((100.6 - 100.05) / 100.05 * 1e4)


def test_snapshot_replaces_all_levels_in_place_without_new_arrays():
    b = OrderBook("BTC")
    arrays = (b.bid_px, b.bid_sz, b.ask_px, b.ask_sz)
    b.apply_snapshot(snap(BIDS, ASKS))
    b.apply_snapshot(snap(BIDS[:2], ASKS[:1], t=2000))
    assert (b.n_bids, b.n_asks) == (2, 1)
    assert b.depth_usd(1000) == pytest.approx((100.0 + 199.8, 300.3))
    assert (b.bid_px, b.bid_sz, b.ask_px, b.ask_sz) == arrays
    assert all(x is y for x, y in zip((b.bid_px, b.bid_sz, b.ask_px, b.ask_sz), arrays))


def test_more_levels_than_capacity_are_truncated():
    b = OrderBook("BTC", max_levels=2)
    b.apply_snapshot(snap(BIDS, ASKS))
    assert (b.n_bids, b.n_asks) == (2, 2) and len(b.bid_px) == 2


def test_bbo_moves_top_of_book_and_old_bbo_is_ignored():
    b = OrderBook("BTC")
    b.apply_snapshot(snap(BIDS, ASKS, t=1000))
    assert b.apply_bbo(Bbo("BTC", 1500, 100.05, 0.5, 100.1, 3.0))
    assert b.best_bid == 100.05 and b.mid == pytest.approx(100.075)
    assert not b.apply_bbo(Bbo("BTC", 900, 1.0, 1.0, 2.0, 1.0))
    assert b.best_bid == 100.05


def test_crossed_empty_and_stale_books_are_flagged():
    b = OrderBook("BTC")
    assert b.problem(0, 5000) == EMPTY
    b.apply_snapshot(snap(BIDS, ASKS, t=1000))
    assert b.problem(1000, 5000) == OK
    assert b.problem(7000, 5000) == STALE
    b.apply_bbo(Bbo("BTC", 2000, 100.3, 1.0, 100.2, 1.0))
    assert b.problem(2000, 5000) == CROSSED


def test_real_hour_keeps_a_sane_book():
    b = OrderBook("BTC")
    dec = Decoder()
    for msg in read_messages(RECORDING):
        b.apply_snapshot(dec.decode_message(msg))
        assert b.problem(b.time_ms, 5000) == OK
        assert 0 < b.spread_bps < 50
    assert 42000 < b.mid < 43500
