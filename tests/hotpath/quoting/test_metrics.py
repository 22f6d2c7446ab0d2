"""The quoting series of the hot path's metrics exist for every coin it trades, quoting or not."""

from tripwire.hotpath.quoting.quoter import quoting_metrics


def test_without_quoting_every_coin_has_its_series_at_zero_marked_off():
    m = quoting_metrics(None, ["BTC", "ETH"])
    for name in ("quote_inventory_skew", "quote_active", "quote_orders", "quote_fills"):
        assert m[name] == (("BTC", "off", 0), ("ETH", "off", 0))
