"""Registering your own features; a failing one is counted and never stops the loop."""

import pytest

from tripwire.config.features import FeatureConfig
from tripwire.contracts import features as catalog
from tripwire.contracts.features import BAR_CLOSE, BOOK, BOOL, EXTERNAL, NUMBER, TRADES, FeatureSpec
from tripwire.hotpath.book.order_book import OrderBook
from tripwire.hotpath.features.custom import CustomFeature, register_custom_feature
from tripwire.hotpath.features.engine import CoinFeatures
from tripwire.hotpath.feed.records import Bbo, Trade, Trades

T0 = 1_704_110_400_000


@pytest.fixture(autouse=True)
def scratch_catalog(monkeypatch):
    """Registrations in a test must not leak into the global catalog."""
    monkeypatch.setattr(catalog, "CATALOG", dict(catalog.CATALOG))


def book_at(f, t, bid=100.0, ask=100.2):
    book = OrderBook("BTC")
    book.apply_bbo(Bbo("BTC", t, bid, 1.0, ask, 1.0))
    return f.on_book(book, t)


def test_registered_custom_feature_is_in_the_catalog_and_computed_after_builtins():
    spec = FeatureSpec("spread_x2_bps", NUMBER, (BOOK,), "twice the spread")
    sx2 = register_custom_feature(spec, lambda ctx: ctx.values["spread_bps"] * 2)
    assert catalog.CATALOG["spread_x2_bps"] is spec
    f = CoinFeatures("BTC", FeatureConfig(), custom=[sx2])
    book_at(f, T0)
    assert f.values["spread_x2_bps"] == pytest.approx(f.values["spread_bps"] * 2)
    assert f.custom_errors == {}


def test_custom_feature_returning_none_is_absent():
    wide = register_custom_feature(
        FeatureSpec("wide_book", BOOL, (BOOK,), "spread over 15 bps, once there is a mid"),
        lambda ctx: None if ctx.book is None else ctx.values["spread_bps"] > 15,
    )
    f = CoinFeatures("BTC", FeatureConfig(), custom=[wide])
    book_at(f, T0)
    assert f.values["wide_book"] is True
    none = register_custom_feature(FeatureSpec("never", NUMBER, (BOOK,), "never warm"), lambda ctx: None)
    g = CoinFeatures("BTC", FeatureConfig(), custom=[none])
    book_at(g, T0)
    assert "never" not in g.values


def test_erroring_custom_feature_is_counted_and_the_rest_keep_working():
    bad = register_custom_feature(FeatureSpec("bad", NUMBER, (BOOK,), "divides by zero"), lambda ctx: 1 / 0)
    nan = register_custom_feature(FeatureSpec("nan", NUMBER, (BOOK,), "returns nan"), lambda ctx: float("nan"))
    good = register_custom_feature(FeatureSpec("good", NUMBER, (BOOK,), "mid"), lambda ctx: ctx.values["mid"])
    f = CoinFeatures("BTC", FeatureConfig(), custom=[bad, nan, good])
    for k in range(3):
        book_at(f, T0 + k)
    assert f.custom_errors == {"bad": 3, "nan": 3}
    assert "bad" not in f.values and "nan" not in f.values
    assert f.values["good"] == pytest.approx(100.1)
    assert f.values["mid"] == pytest.approx(100.1)


def test_custom_features_run_only_on_their_update_kinds():
    calls = {"trades": 0, "bar": 0, "ext": 0}

    def count(key):
        def compute(ctx):
            calls[key] += 1
            return calls[key]

        return compute

    on_trades = register_custom_feature(FeatureSpec("n_trade_msgs", NUMBER, (TRADES,), "."), count("trades"))
    on_bar = register_custom_feature(
        FeatureSpec("last_bar_close", NUMBER, (BAR_CLOSE,), "."), lambda ctx: ctx.last_bar.c
    )
    on_ext = register_custom_feature(FeatureSpec("n_ext", NUMBER, (EXTERNAL,), "."), count("ext"))
    f = CoinFeatures("BTC", FeatureConfig(), custom=[on_trades, on_bar, on_ext])
    book_at(f, T0)
    assert calls == {"trades": 0, "bar": 0, "ext": 0}
    f.on_trades(Trades("BTC", [Trade("BTC", True, 100.5, 1.0, T0 + 1, 0, None)], T0 + 1))
    assert f.values["n_trade_msgs"] == 1 and "last_bar_close" not in f.values
    assert book_at(f, T0 + 60_000) is True  # a bar closed on a book update
    assert f.values["last_bar_close"] == 100.5
    f.set_external("ls_ratio", 2.0)
    assert calls["ext"] == 1 and calls["trades"] == 1


def test_custom_feature_cannot_shadow_a_builtin_or_repeat():
    with pytest.raises(ValueError, match="built-in"):
        register_custom_feature(FeatureSpec("mid", NUMBER, (BOOK,), "mine"), lambda ctx: 1.0)
    spec = FeatureSpec("mid", NUMBER, (BOOK,), "mine")
    with pytest.raises(ValueError, match="built-in"):
        CoinFeatures("BTC", FeatureConfig(), custom=[CustomFeature(spec, lambda ctx: 1.0)])
    dup = CustomFeature(FeatureSpec("x", NUMBER, (BOOK,), "."), lambda ctx: 1.0)
    with pytest.raises(ValueError, match="twice"):
        CoinFeatures("BTC", FeatureConfig(), custom=[dup, dup])
    with pytest.raises(ValueError, match="unknown update kind"):
        CustomFeature(FeatureSpec("y", NUMBER, ("tick",), "."), lambda ctx: 1.0)


def test_custom_feature_sees_values_read_only():
    def sneaky(ctx):
        ctx.values["mid"] = 0.0
        return 1.0

    s = register_custom_feature(FeatureSpec("sneaky", NUMBER, (BOOK,), "."), sneaky)
    f = CoinFeatures("BTC", FeatureConfig(), custom=[s])
    book_at(f, T0)
    assert f.values["mid"] == pytest.approx(100.1)
    assert f.custom_errors == {"sneaky": 1}
