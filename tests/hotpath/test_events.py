"""The hot path's one publisher: facts in, topics and payloads out, throttles and de-duplication."""

from tripwire.hotpath.events import TOPIC_ROOTS, HotPathEvents
from tripwire.hotpath.features.bars import Bar
from tripwire.hotpath.feed.records import BookSnapshot, Trade, Trades
from tripwire.hotpath.risk.manager import Trip


class FakePublisher:
    """Records what is published; throttles by the given clock like the real one."""

    def __init__(self):
        self.sent, self.dropped_total, self._last = [], {"md.trade": 2}, {}

    def publish(self, topic, data, exch_ts_ns=0, recv_ts_ns=0):
        self.sent.append((topic, data, exch_ts_ns, recv_ts_ns))
        return True

    def throttle(self, topic, min_interval_ms, now_ns=None):
        last = self._last.get(topic)
        if last is not None and now_ns - last < min_interval_ms * 1_000_000:
            return False
        self._last[topic] = now_ns
        return True

    def maybe_heartbeat(self, now_ns=None):
        return False

    def topics(self):
        return [t for t, *_ in self.sent]


def trades(t_ms, users=None):
    return Trades("BTC", [Trade("BTC", True, 100.0, 0.5, t_ms, 1, users)], t_ms)


def test_without_a_bus_every_fact_is_dropped_quietly():
    ev = HotPathEvents(None)
    ev.trades(trades(1_000), 0, None)
    ev.trips([Trip("latency", "cancel_all", "HALTED", "slow")], {"state": "HALTED"})
    assert not ev.enabled and ev.drops() == {}


def test_a_closed_bar_is_published_once_as_a_candle_with_the_trades():
    pub = FakePublisher()
    ev = HotPathEvents(pub, liquidators=["0xLIQ"])
    bar = Bar(60_000, 100.0, 101.0, 99.0, 100.5, 3.0, 300.0, 7)
    ev.trades(trades(120_001, users=("0xliq", "0xabc")), 5, bar)
    ev.trades(trades(120_002), 6, bar)
    assert pub.topics() == ["md.trade.BTC", "md.candle.BTC", "md.trade.BTC"]
    assert pub.sent[0][1]["liquidation"] is True and pub.sent[2][1]["liquidation"] is False
    assert pub.sent[1][1] == {
        "coin": "BTC",
        "interval": "1m",
        "t": 60_000,
        "T": 119_999,
        "o": 100.0,
        "h": 101.0,
        "l": 99.0,
        "c": 100.5,
        "v": 3.0,
        "n": 7,
    }


def test_books_are_throttled_to_one_a_second():
    pub = FakePublisher()
    ev = HotPathEvents(pub)
    book = BookSnapshot("BTC", 1_000, [100.0], [1.0], [100.2], [2.0])
    for recv_ns in (0, 500_000_000, 1_000_000_000):
        ev.book(book, recv_ns)
    assert pub.topics() == ["md.book.BTC", "md.book.BTC"]
    assert pub.sent[0][1]["mid"] == 100.1 and pub.sent[0][1]["bids"] == [[100.0, 1.0]]


def test_trips_publish_each_breaker_then_the_state_they_led_to():
    pub = FakePublisher()
    ev = HotPathEvents(pub)
    ev.trips([], {"state": "ACTIVE"})
    ev.trips(
        [Trip("latency", "cancel_all", "HALTED", "slow"), Trip("order_errors", "pause", "REDUCING", "5 errors")],
        {"state": "HALTED"},
    )
    assert pub.topics() == ["risk.breaker.latency", "risk.breaker.order_errors", "risk.state"]


def test_drops_report_every_topic_root_from_zero():
    ev = HotPathEvents(FakePublisher())
    drops = ev.drops()
    assert set(drops) == set(TOPIC_ROOTS) and drops["md.trade"] == 2 and drops["account"] == 0
