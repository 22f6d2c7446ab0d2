"""Book, asset-context and external features against hand-computed values."""

import math

import pytest

from tripwire.config.features import FeatureConfig
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.records import AssetCtx, Bbo, BookSnapshot

T0 = 1_704_110_400_000


def snapshot(t):
    #        bids: 100.00×1, 99.95×2, 99.00×10     asks: 100.10×3, 100.20×1, 101.00×10
    return BookSnapshot("BTC", t, [100.0, 99.95, 99.0], [1.0, 2.0, 10.0], [100.1, 100.2, 101.0], [3.0, 1.0, 10.0])


def ctx(oi=1000.0, funding=0.0000125, mark=100.2, oracle=100.0, premium=0.0003):
    return AssetCtx("BTC", 0, funding, oi, mark, oracle, None, premium, 99.0, 1e6)


def test_book_features_from_the_top_of_book_and_levels():
    f = CoinFeatures("BTC", FeatureConfig(imbalance_levels=2))
    book = OrderBook("BTC")
    book.apply_snapshot(snapshot(T0))
    assert f.on_book(book, T0) is False
    v = f.values
    assert v["mid"] == pytest.approx(100.05)
    assert v["spread_bps"] == pytest.approx(0.1 / 100.05 * 1e4)
    assert v["microprice"] == pytest.approx((100.0 * 3 + 100.1 * 1) / 4)  # leans to thin side
    assert v["book_imbalance"] == pytest.approx((3 - 4) / 7)  # top 2 levels
    # Within 10 bps of 100.05 = [99.94995, 100.15005]: bids 100×1 + 99.95×2, asks 100.1×3.
    assert v["bid_depth_usd"] == pytest.approx(100.0 + 199.9)
    assert v["ask_depth_usd"] == pytest.approx(300.3)
    # Within 25 bps = [99.7999, 100.3001]: biggest bid 99.95×2, biggest ask 100.1×3.
    assert v["bid_wall_usd"] == pytest.approx(199.9)
    assert v["bid_wall_distance_bps"] == pytest.approx(0.1 / 100.05 * 1e4)
    assert v["ask_wall_usd"] == pytest.approx(300.3)
    assert v["ask_wall_distance_bps"] == pytest.approx(0.05 / 100.05 * 1e4)


def test_imbalance_uses_five_levels_by_default():
    f = CoinFeatures("BTC", FeatureConfig())
    book = OrderBook("BTC")
    book.apply_snapshot(snapshot(T0))
    f.on_book(book, T0)
    assert f.values["book_imbalance"] == pytest.approx((13 - 14) / 27)


def test_microprice_drift_compares_with_the_microprice_5s_earlier():
    f = CoinFeatures("BTC", FeatureConfig())
    book = OrderBook("BTC")
    book.apply_bbo(Bbo("BTC", T0, 100.0, 1.0, 100.2, 1.0))  # microprice 100.1
    f.on_book(book, T0)
    book.apply_bbo(Bbo("BTC", T0 + 2000, 100.1, 1.0, 100.3, 1.0))  # microprice 100.2
    f.on_book(book, T0 + 2000)
    f.on_book(book, T0 + 4999)
    assert "microprice_drift_bps_5s" not in f.values  # nothing 5 s old yet
    f.on_book(book, T0 + 5000)
    assert f.values["microprice_drift_bps_5s"] == pytest.approx((100.2 / 100.1 - 1) * 1e4)
    f.on_book(book, T0 + 7000)  # 5 s ago: already 100.2
    assert f.values["microprice_drift_bps_5s"] == pytest.approx(0.0)


def test_book_features_are_absent_before_the_first_book():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_asset_ctx(ctx(), T0)
    assert "mid" not in f.values and "basis_mid_oracle_bps" not in f.values


def test_asset_context_features():
    f = CoinFeatures("BTC", FeatureConfig())
    assert f.on_asset_ctx(ctx(), T0) is False
    v = f.values
    assert v["funding_bps"] == pytest.approx(0.125)
    assert v["premium_bps"] == pytest.approx(3.0)
    assert v["open_interest"] == 1000.0
    assert v["mark_px"] == 100.2
    assert v["oracle_px"] == 100.0
    assert v["basis_mark_oracle_bps"] == pytest.approx(20.0)
    assert "oi_change_pct_5m" not in v
    book = OrderBook("BTC")
    book.apply_snapshot(snapshot(T0 + 1000))  # mid 100.05
    f.on_book(book, T0 + 1000)
    assert v["basis_mid_oracle_bps"] == pytest.approx(5.0)
    f.on_asset_ctx(ctx(oracle=100.05, premium=None), T0 + 2000)
    assert v["basis_mid_oracle_bps"] == pytest.approx(0.0)
    assert "premium_bps" not in v


def test_open_interest_change_over_5m_and_15m():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_asset_ctx(ctx(oi=1000.0), T0)
    f.on_asset_ctx(ctx(oi=1010.0), T0 + 100_000)
    f.on_asset_ctx(ctx(oi=1020.0), T0 + 299_999)
    assert "oi_change_pct_5m" not in f.values  # no sample 5 min old
    f.on_asset_ctx(ctx(oi=1050.0), T0 + 300_000)
    assert f.values["oi_change_pct_5m"] == pytest.approx(5.0)  # vs 1000 at T0
    f.on_asset_ctx(ctx(oi=1100.0), T0 + 400_000)
    assert f.values["oi_change_pct_5m"] == pytest.approx((1100 / 1010 - 1) * 100)
    assert "oi_change_pct_15m" not in f.values
    f.on_asset_ctx(ctx(oi=990.0), T0 + 900_000)
    assert f.values["oi_change_pct_5m"] == pytest.approx(-10.0)  # vs 1100 at T0+400 s
    assert f.values["oi_change_pct_15m"] == pytest.approx(-1.0)  # vs 1000 at T0


def test_external_features_are_validated():
    f = CoinFeatures("BTC", FeatureConfig())
    f.set_external("ls_ratio", 1.5)
    f.set_external("smart_money_bias", -0.25)
    assert f.values["ls_ratio"] == 1.5 and f.values["smart_money_bias"] == -0.25
    with pytest.raises(KeyError, match="ls_ration"):
        f.set_external("ls_ration", 1.0)
    with pytest.raises(ValueError, match="not finite"):
        f.set_external("ls_ratio", math.nan)
    with pytest.raises(ValueError, match="outside"):
        f.set_external("smart_money_bias", 2.0)
    assert f.values["ls_ratio"] == 1.5


def test_values_dict_is_the_same_object_forever():
    f = CoinFeatures("BTC", FeatureConfig())
    d = f.values
    book = OrderBook("BTC")
    book.apply_snapshot(snapshot(T0))
    for k in range(5):
        f.on_book(book, T0 + k * 70_000)
        f.on_asset_ctx(ctx(), T0 + k * 70_000 + 1)
    assert f.values is d


def test_an_update_older_than_the_newest_does_not_move_time_back():
    f = CoinFeatures("BTC", FeatureConfig())
    book = OrderBook("BTC")
    book.apply_snapshot(snapshot(T0 + 90_000))
    f.on_book(book, T0 + 90_000)
    assert f.on_asset_ctx(ctx(), T0) is False
    assert f.now_ms == T0 + 90_000


def test_context_without_an_exchange_time_is_not_an_oi_history_sample():
    f = CoinFeatures("BTC", FeatureConfig())
    f.on_asset_ctx(ctx(oi=500.0), 0)  # before any book or trade: no time known
    assert f.values["open_interest"] == 500.0
    f.on_asset_ctx(ctx(oi=1000.0), T0)
    assert "oi_change_pct_5m" not in f.values  # not compared with the untimed sample
