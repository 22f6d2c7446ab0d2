"""Trade-window features against hand-computed values: CVD, VWAP, bursts, liquidations."""

import pytest

from tripwire.config.features import HLP_LIQUIDATOR, FeatureConfig
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.records import Bbo, Trade, Trades

T0 = 1_704_110_400_000  # 2024-01-01 12:00:00 UTC, a minute boundary
A, B = "0x" + "a" * 40, "0x" + "b" * 40


def fill(t, px, sz, buy=True, users=(A, B)):
    return Trade("BTC", buy, px, sz, t, 0, users)


def trades(*fills):
    return Trades("BTC", list(fills), fills[-1].time_ms)


def book_at(f, t, bid=99.0, ask=101.0):
    book = OrderBook("BTC")
    book.apply_bbo(Bbo("BTC", t, bid, 1.0, ask, 1.0))
    return f.on_book(book, t)


def test_cvd_accumulates_signed_aggressor_notional():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0, buy=True)))
    assert f.values["cvd_usd"] == 100.0
    f.on_trades(trades(fill(T0 + 1000, 100.0, 2.0, buy=False), fill(T0 + 1000, 50.0, 1.0)))
    assert f.values["cvd_usd"] == 100.0 - 200.0 + 50.0
    assert f.values["last_px"] == 50.0


def test_cvd_slope_1m_is_absent_until_60s_then_the_window_change_per_minute():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0, buy=True)))  # +100
    f.on_trades(trades(fill(T0 + 1000, 100.0, 2.0, buy=False)))  # −200
    f.on_trades(trades(fill(T0 + 59_000, 100.0, 0.1, buy=True)))  # +10
    assert "cvd_slope_1m" not in f.values
    f.on_trades(trades(fill(T0 + 60_000, 100.0, 0.5, buy=True)))  # +50
    # Window = 1 s buckets [T0+1 s, T0+60 s]: the +100 at T0 has left it.
    assert f.values["cvd_slope_1m"] == pytest.approx(-200.0 + 10.0 + 50.0)
    assert "cvd_slope_5m" not in f.values
    book_at(f, T0 + 61_500)  # time alone evicts the −200 bucket
    assert f.values["cvd_slope_1m"] == pytest.approx(60.0)


def test_cvd_slope_5m_is_usd_per_minute_over_300s():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 10.0, buy=True)))  # +1000, leaves at 300 s
    f.on_trades(trades(fill(T0 + 100_000, 100.0, 6.0, buy=True)))  # +600
    f.on_trades(trades(fill(T0 + 299_000, 100.0, 1.0, buy=False)))  # −100
    assert "cvd_slope_5m" not in f.values
    f.on_trades(trades(fill(T0 + 300_000, 100.0, 4.0, buy=True)))  # +400
    assert f.values["cvd_slope_5m"] == pytest.approx((600.0 - 100.0 + 400.0) / 5)


def test_empty_window_reads_exactly_zero_after_the_drift_guard():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 12345.678, 1e4, buy=True), fill(T0, 0.001, 0.3, buy=False)))
    f.on_trades(trades(fill(T0 + 500, 99999.9, 7.7, buy=True)))
    book_at(f, T0 + 130_000)  # two minutes later, nothing in the 60 s window
    assert f.values["cvd_slope_1m"] == 0.0


def test_the_drift_guard_rebuilds_every_windows_sums_within_a_minute():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 2.0)))
    rings = f._guarded
    for r in rings:
        r.sums[0] += 1e-3  # residue, as hours of float adds and subtracts could leave
    for k in range(1, 61):  # one roll per second: a structure every 10th, in turn
        book_at(f, T0 + k * 1000)
    for r in rings[:5]:  # BucketRings: sums == their buckets', to the last bit (no residue)
        assert r.sums == [sum(b[j] for b in r.buckets) for j in range(r.width)]
    base = rings[5]
    assert base.sums == [sum(slot[j] for slot in base.ring) for j in range(base.width)]


def test_the_vwap_anchor_follows_a_price_move_and_the_vwap_stays_exact():
    f = CoinFeatures("BTC", FeatureConfig())
    fills = [(T0 + k * 1000, 100.0 + (k % 3) * 0.1, 1.0 + k % 2) for k in range(61)]
    fills += [(T0 + 61_000 + k * 1000, 101.0 + (k % 3) * 0.1, 2.0 + k % 4) for k in range(65)]  # +1 %
    for t, px, sz in fills:
        f.on_trades(trades(fill(t, px, sz)))
    assert f._anchor >= 101.0  # moved on the VWAP ring's turn (once a minute) once the price left it
    window = [(px, sz) for t, px, sz in fills if t > fills[-1][0] - 60_000]
    want = sum(px * sz for px, sz in window) / sum(sz for _, sz in window)
    assert f.values["vwap_1m"] == pytest.approx(want, rel=1e-12)


def test_vwap_and_zscore_are_volume_weighted_over_60s():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 90.0, 1.0)))  # warm-up start, evicted later
    f.on_trades(trades(*[fill(T0 + 59_000, 100.0, 0.5) for _ in range(8)], fill(T0 + 59_000, 105.0, 0.5)))
    assert "vwap_1m" not in f.values and "vwap_zscore_1m" not in f.values
    f.on_trades(trades(fill(T0 + 60_000, 105.0, 0.5)))
    # Volume 4 at 100 and 1 at 105: VWAP 101; variance (4·1² + 1·4²)/5 = 4, std 2.
    assert f.values["vwap_1m"] == pytest.approx(101.0)
    assert f.values["vwap_zscore_1m"] == pytest.approx((105.0 - 101.0) / 2.0)


def test_vwap_zscore_needs_ten_trades_and_dispersion():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 90.0, 1.0)))
    f.on_trades(trades(*[fill(T0 + 60_000, 100.0 + i, 1.0) for i in range(9)]))
    assert f.values["vwap_1m"] == pytest.approx(104.0)
    assert "vwap_zscore_1m" not in f.values  # 9 trades
    g = CoinFeatures("BTC", FeatureConfig())
    g.on_trades(trades(fill(T0, 90.0, 1.0)))
    g.on_trades(trades(*[fill(T0 + 60_000, 100.0, 1.0) for _ in range(12)]))
    assert g.values["vwap_1m"] == pytest.approx(100.0)
    assert "vwap_zscore_1m" not in g.values  # std 0


def test_vwap_is_absent_when_no_trade_is_left_in_the_window():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0)))
    f.on_trades(trades(fill(T0 + 60_000, 100.0, 1.0)))
    assert "vwap_1m" in f.values
    book_at(f, T0 + 125_000)
    assert "vwap_1m" not in f.values


def test_trade_burst_against_the_baseline_of_5s_buckets():
    # A 20 s baseline = 4 completed 5 s buckets, so the arithmetic fits on a line.
    f = CoinFeatures("BTC", FeatureConfig(burst_s=5, burst_baseline_s=20))
    f.on_trades(trades(fill(T0, 100.0, 1.0)))  # bucket 0: 1
    assert "trade_count_5s" not in f.values
    f.on_trades(trades(*[fill(T0 + 5000, 100.0, 1.0) for _ in range(3)]))  # bucket 1: 3
    assert f.values["trade_count_5s"] == 3.0
    assert f.values["trade_notional_5s_usd"] == 300.0
    f.on_trades(trades(fill(T0 + 10_000, 100.0, 1.0)))  # bucket 2: 1
    f.on_trades(trades(*[fill(T0 + 15_000, 100.0, 1.0) for _ in range(3)]))  # bucket 3: 3
    assert "trade_burst_zscore" not in f.values  # 15 s < 20 s baseline
    f.on_trades(trades(*[fill(T0 + 20_000, 100.0, 2.0) for _ in range(4)]))
    # Last 5 s = 1 s buckets 16..20: the 4 new trades. Baseline counts [1, 3, 1, 3]: mean 2, std 1.
    assert f.values["trade_count_5s"] == 4.0
    assert f.values["trade_burst_zscore"] == pytest.approx((4 - 2) / 1)
    # Notionals [100, 300, 100, 300]: mean 200, std 100; now 4 × 200 = 800.
    assert f.values["trade_notional_5s_usd"] == 800.0
    assert f.values["notional_burst_zscore"] == pytest.approx((800 - 200) / 100)


def test_trade_count_5s_falls_to_zero_when_time_passes_without_trades():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0)))
    f.on_trades(trades(fill(T0 + 6000, 100.0, 1.0), fill(T0 + 6000, 100.0, 1.0)))
    assert f.values["trade_count_5s"] == 2.0
    book_at(f, T0 + 11_000)
    assert f.values["trade_count_5s"] == 0.0


def test_liquidations_are_trades_against_the_hlp_liquidator():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0)))  # leaves the window
    liq_upper = HLP_LIQUIDATOR.upper().replace("0X", "0x")
    f.on_trades(
        trades(
            fill(T0 + 30_000, 100.0, 1.0, users=(A, B)),  # ordinary
            fill(T0 + 30_000, 100.0, 2.0, buy=False, users=(liq_upper, B)),  # liquidator buys: long liq
            fill(T0 + 30_000, 100.0, 1.0, buy=True, users=(A, HLP_LIQUIDATOR)),  # liquidator sells
            fill(T0 + 30_000, 100.0, 5.0, users=None),
        )
    )  # no users: not a liq
    assert "liq_long_notional_60s_usd" not in f.values  # 30 s < 60 s
    book_at(f, T0 + 60_000)
    assert f.values["liq_long_notional_60s_usd"] == 200.0
    assert f.values["liq_short_notional_60s_usd"] == 100.0
    assert f.values["liq_long_share_60s"] == pytest.approx(200 / 900)
    assert f.values["liq_short_share_60s"] == pytest.approx(100 / 900)
    book_at(f, T0 + 91_000)  # all evicted
    assert f.values["liq_long_notional_60s_usd"] == 0.0
    assert f.values["liq_long_share_60s"] == 0.0


def test_trade_older_than_the_newest_update_is_folded_into_the_current_bucket():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_trades(trades(fill(T0, 100.0, 1.0)))
    book_at(f, T0 + 10_000)
    assert f.values["trade_count_5s"] == 0.0
    closed = f.on_trades(trades(fill(T0 + 5000, 100.0, 1.0)))  # stamped 5 s in the past
    assert closed is False
    assert f.now_ms == T0 + 10_000  # time did not go back
    assert f.values["trade_count_5s"] == 1.0
    book_at(f, T0 + 14_000)  # window [10 s, 14 s]: counted at 10 s, so still inside
    assert f.values["trade_count_5s"] == 1.0
    book_at(f, T0 + 15_000)
    assert f.values["trade_count_5s"] == 0.0
