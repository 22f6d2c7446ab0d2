"""1-minute bars and the features computed when a bar closes."""

import math

import pytest

from tripwire.config.features import FeatureConfig
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.records import AssetCtx, Bbo, Trade, Trades

T0 = 1_704_110_400_000  # a minute boundary
M = 60_000


def trade_at(f, t, px, sz=1.0):
    return f.on_trades(Trades("BTC", [Trade("BTC", True, px, sz, t, 0, None)], t))


def book_at(f, t):
    book = OrderBook("BTC")
    book.apply_bbo(Bbo("BTC", t, 99.0, 1.0, 101.0, 1.0))
    return f.on_book(book, t)


def bars(f, *ohlcs):
    """One bar per minute from T0: trades at o, h, l, c (1 coin each) inside the minute."""
    for k, pxs in enumerate(ohlcs):
        for j, px in enumerate(pxs):
            trade_at(f, T0 + k * M + j * 1000, px)
    return book_at(f, T0 + len(ohlcs) * M)  # closes the last one


def test_bar_closes_when_any_update_is_in_a_later_minute():
    f = CoinFeatures("BTC", FeatureConfig())
    assert trade_at(f, T0 + 1000, 100.0, 2.0) is False
    trade_at(f, T0 + 30_000, 102.0)
    trade_at(f, T0 + 40_000, 99.0)
    trade_at(f, T0 + 59_999, 101.0)
    assert book_at(f, T0 + 59_999) is False
    assert f.last_bar is None
    assert book_at(f, T0 + M) is True
    b = f.last_bar
    assert (b.open_ms, b.o, b.h, b.l, b.c) == (T0, 100.0, 102.0, 99.0, 101.0)
    assert b.volume == 5.0
    assert b.notional == pytest.approx(200.0 + 102.0 + 99.0 + 101.0)


def test_asset_context_and_trade_close_bars_too():
    f = CoinFeatures("BTC", FeatureConfig())
    trade_at(f, T0, 100.0)
    ctx = AssetCtx("BTC", 0, 0.0, 1.0, 100.0, 100.0, None, None, 100.0, 0.0)
    assert f.on_asset_ctx(ctx, T0 + M + 5) is True
    assert trade_at(f, T0 + M + 10, 101.0) is False
    assert trade_at(f, T0 + 2 * M, 102.0) is True
    assert f.last_bar.open_ms == T0 + M and f.last_bar.c == 101.0


def test_no_bars_before_the_first_trade():
    f = CoinFeatures("BTC", FeatureConfig())
    for k in range(4):
        assert book_at(f, T0 + k * M) is False
    assert f.last_bar is None


def test_quiet_minutes_close_as_flat_zero_volume_bars():
    f = CoinFeatures("BTC", FeatureConfig())
    trade_at(f, T0 + 5000, 100.0)
    trade_at(f, T0 + 6000, 101.0)
    assert trade_at(f, T0 + 3 * M + 1, 104.0) is True  # minutes 1 and 2 had no trades
    b = f.last_bar
    assert (b.open_ms, b.o, b.h, b.l, b.c, b.volume, b.trades) == (T0 + 2 * M, 101.0, 101.0, 101.0, 101.0, 0.0, 0)
    assert f.values["ret_1m_bps"] == 0.0


def test_ret_1m_bps_is_close_to_close_and_the_first_bar_open_to_close():
    f = CoinFeatures("BTC", FeatureConfig())
    bars(f, (100.0, 101.0))
    assert f.values["ret_1m_bps"] == pytest.approx(100.0)  # 101/100 − 1
    trade_at(f, T0 + M + 1, 99.99)
    book_at(f, T0 + 2 * M)
    assert f.values["ret_1m_bps"] == pytest.approx((99.99 / 101.0 - 1) * 1e4)


ATR_BARS = (
    (100.0, 102.0, 99.0, 101.0),  # TR 3 (first bar: high − low)
    (100.0, 103.0, 100.0, 102.0),  # TR max(3, |103−101|, |100−101|) = 3
    (105.0, 106.0, 105.0, 105.5),  # TR max(1, |106−102|, |105−102|) = 4 (gap)
    (106.0, 106.0, 104.0, 104.0),
)  # TR max(2, |106−105.5|, |104−105.5|) = 2


def test_atr_is_wilder_seeded_with_the_mean_of_the_first_trs():
    f = CoinFeatures("BTC", FeatureConfig(atr_bars=3))
    bars(f, *ATR_BARS[:2])
    assert "atr_1m" not in f.values and "atr_bps" not in f.values
    g = CoinFeatures("BTC", FeatureConfig(atr_bars=3))
    bars(g, *ATR_BARS[:3])
    assert g.values["atr_1m"] == pytest.approx(10 / 3)
    assert g.values["atr_bps"] == pytest.approx(10 / 3 / 105.5 * 1e4)
    h = CoinFeatures("BTC", FeatureConfig(atr_bars=3))
    bars(h, *ATR_BARS)
    assert h.values["atr_1m"] == pytest.approx((10 / 3 * 2 + 2) / 3)


def test_atr_default_needs_14_bars():
    f = CoinFeatures("BTC", FeatureConfig())
    bars(f, *[(100.0, 101.0)] * 13)
    assert "atr_1m" not in f.values
    trade_at(f, T0 + 13 * M, 100.0)
    book_at(f, T0 + 14 * M)
    assert f.values["atr_1m"] > 0


def test_range_high_low_over_the_last_n_bars():
    f = CoinFeatures("BTC", FeatureConfig(range_bars=3))
    bars(f, *ATR_BARS[:2])
    assert "range_high_30m" not in f.values
    g = CoinFeatures("BTC", FeatureConfig(range_bars=3))
    bars(g, *ATR_BARS[:3])
    assert (g.values["range_high_30m"], g.values["range_low_30m"]) == (106.0, 99.0)
    h = CoinFeatures("BTC", FeatureConfig(range_bars=3))
    bars(h, *ATR_BARS)  # the first bar (low 99) has left
    assert (h.values["range_high_30m"], h.values["range_low_30m"]) == (106.0, 100.0)


def test_bollinger_position_of_the_last_close():
    f = CoinFeatures("BTC", FeatureConfig(bb_bars=4))
    bars(f, (100.0,), (102.0,), (104.0,))
    assert "bb_position_1m" not in f.values
    trade_at(f, T0 + 3 * M, 106.0)
    book_at(f, T0 + 4 * M)
    # closes 100, 102, 104, 106: mean 103, population variance (9+1+1+9)/4 = 5.
    assert f.values["bb_position_1m"] == pytest.approx((106 - 103) / (2 * math.sqrt(5)))


def test_bollinger_position_is_absent_on_a_flat_market():
    f = CoinFeatures("BTC", FeatureConfig(bb_bars=4))
    bars(f, *[(100.1,)] * 5)
    assert "bb_position_1m" not in f.values


def test_realized_vol_is_the_std_of_log_returns_in_bps():
    f = CoinFeatures("BTC", FeatureConfig(rv_bars=2))
    bars(f, (100.0,), (110.0,))
    assert "realized_vol_bps_1m" not in f.values  # one return only
    trade_at(f, T0 + 2 * M, 99.0)
    book_at(f, T0 + 3 * M)
    # returns ln 1.1 and ln 0.9; population std of two values = half their distance.
    expected = (math.log(1.1) - math.log(0.9)) / 2 * 1e4
    assert f.values["realized_vol_bps_1m"] == pytest.approx(expected)


def _bin_center(px, bin_bps):
    """The documented bin: i = floor(ln px / s), centre e^((i + ½)·s), s = ln(1 + bps/1e4)."""
    s = math.log(1 + bin_bps / 1e4)
    return math.exp((math.floor(math.log(px) / s) + 0.5) * s)


def _vp(f, k, *fills):
    for j, (px, sz) in enumerate(fills):
        trade_at(f, T0 + k * M + j * 1000, px, sz)
    book_at(f, T0 + (k + 1) * M)


def test_volume_profile_poc_nodes_and_eviction():
    cfg = FeatureConfig(vpvr_bars=3, vpvr_min_bars=2, vpvr_bin_bps=100, vpvr_node_share=0.5, vpvr_near_bps=100)
    f = CoinFeatures("BTC", cfg)
    c100, c103, c106 = (_bin_center(p, 100) for p in (100.0, 103.0, 106.0))
    _vp(f, 0, (100.0, 5.0), (103.0, 1.0))
    assert "vpvr_poc_px" not in f.values and "near_vpvr_node" not in f.values  # 1 bar < 2
    _vp(f, 1, (100.0, 3.0), (106.0, 4.0))
    # bins: 100 → 8, 103 → 1, 106 → 4. POC 100; nodes ≥ 0.5 × 8: the 100 and 106 bins.
    assert f.values["vpvr_poc_px"] == pytest.approx(c100)
    assert f.values["vpvr_node_distance_bps"] == pytest.approx(abs(106.0 - c106) / 106.0 * 1e4)
    trade_at(f, T0 + 2 * M, 103.0, 10.0)
    # last 103: nearest node is the 106 bin or the 100 bin, whichever centre is closer.
    d = min(abs(103.0 - c100), abs(c106 - 103.0)) / 103.0 * 1e4
    assert f.values["vpvr_node_distance_bps"] == pytest.approx(d)
    assert f.values["near_vpvr_node"] is False  # ≥ 2 % away, limit 1 %
    book_at(f, T0 + 3 * M)
    # bins: 100 → 8, 103 → 11, 106 → 4. POC 103; nodes ≥ 5.5: 100 and 103.
    assert f.values["vpvr_poc_px"] == pytest.approx(c103)
    assert f.values["vpvr_node_distance_bps"] == pytest.approx(abs(103.0 - c103) / 103.0 * 1e4)
    assert f.values["near_vpvr_node"] is True
    _vp(f, 3, (106.0, 1.0))
    # The first bar leaves: 100 → 3, 103 → 10, 106 → 5. POC 103; nodes ≥ 5: 103 and 106.
    assert f.values["vpvr_poc_px"] == pytest.approx(c103)
    assert f.values["vpvr_node_distance_bps"] == pytest.approx(abs(106.0 - c106) / 106.0 * 1e4)
    trade_at(f, T0 + 4 * M + 1, 100.0, 0.1)
    d = min(abs(100.0 - c103), abs(c106 - 100.0)) / 100.0 * 1e4  # the 100 bin is no node now
    assert f.values["vpvr_node_distance_bps"] == pytest.approx(d)


def test_long_gap_fills_at_most_the_longest_bar_window():
    f = CoinFeatures("BTC", FeatureConfig())
    trade_at(f, T0, 100.0)
    trade_at(f, T0 + 1000 * M, 101.0)  # 999 quiet minutes later
    assert f.last_bar.open_ms == T0 + 999 * M  # the last quiet minute, flat
    assert f.last_bar.c == 100.0
    assert f._bars.bars_closed == 1 + FeatureConfig().max_bar_history
