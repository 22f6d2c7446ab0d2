"""The engine over a real recorded hour of BTC l2Book snapshots."""

import math
from pathlib import Path

import pytest

from tripwire.config.features import FeatureConfig
from tripwire.contracts import features as catalog
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.decode import Decoder
from tripwire.sim.replay.recordings import read_messages

RECORDING = Path(__file__).parents[3] / "data" / "recordings" / "BTC-l2Book-20240101-12.lz4"
BOOK_FEATURES = [s.name for s in catalog.BUILTIN if s.updated_on == (catalog.BOOK,)]


@pytest.fixture(scope="module")
def snapshots():
    if not RECORDING.is_file():
        pytest.skip(f"{RECORDING} not present")
    dec = Decoder()
    out = [dec.decode_message(m) for m in read_messages(RECORDING)]
    return [s for s in out if s is not None]


def _replay(snapshots):
    f = CoinFeatures("BTC", FeatureConfig())
    book = OrderBook("BTC")
    bars_closed = 0
    for snap in snapshots:
        book.apply_snapshot(snap)
        bars_closed += f.on_book(book, snap.time_ms)
    return f, bars_closed


def test_every_book_feature_is_present_and_finite_after_the_hour(snapshots):
    assert len(snapshots) > 1000
    f, bars_closed = _replay(snapshots)
    for name in BOOK_FEATURES:
        assert name in f.values, name
        assert math.isfinite(f.values[name]), name
    assert -1.0 <= f.values["book_imbalance"] <= 1.0
    assert f.values["bid_depth_usd"] > 0 and f.values["ask_depth_usd"] > 0
    assert abs(f.values["microprice_drift_bps_5s"]) < 100
    # A book-only recording has no trades: no bars, no trade features.
    assert bars_closed == 0 and f.last_bar is None
    assert "cvd_usd" not in f.values


def test_replay_is_deterministic(snapshots):
    a, _ = _replay(snapshots[:500])
    b, _ = _replay(snapshots[:500])
    assert a.values == b.values


def test_all_builtin_features_warm_up_on_real_books_with_trades_and_contexts(snapshots):
    """Trades and contexts synthesised at the recorded mids: every built-in ends present."""
    from tripwire.hotpath.feed.records import AssetCtx, Trade, Trades

    f = CoinFeatures("BTC", FeatureConfig())
    book = OrderBook("BTC")
    liq = FeatureConfig().liquidator_addresses[0]
    for i, snap in enumerate(snapshots):
        book.apply_snapshot(snap)
        f.on_book(book, snap.time_ms)
        users = (liq, "0x" + "1" * 40) if i % 97 == 0 else ("0x" + "2" * 40, liq) if i % 89 == 0 else None
        px = book.best_ask if i % 2 else book.best_bid
        f.on_trades(
            Trades("BTC", [Trade("BTC", bool(i % 2), px, 0.01 * (1 + i % 7), snap.time_ms, i, users)], snap.time_ms)
        )
        if i % 10 == 0:
            f.on_asset_ctx(
                AssetCtx("BTC", 0, 1e-5, 1000.0 + i, book.mid + 1.0, book.mid, None, 1e-4, 42000.0, 1e9), snap.time_ms
            )
    f.set_external("ls_ratio", 1.1)
    f.set_external("smart_money_bias", 0.2)
    f.set_external("pred_move_bps", -0.4)
    missing = [s.name for s in catalog.BUILTIN if s.name not in f.values]
    assert missing == []
    assert all(math.isfinite(v) for v in f.values.values())
    assert f.values["liq_long_notional_60s_usd"] >= 0.0
    assert f.last_bar is not None and f.last_bar.volume > 0
