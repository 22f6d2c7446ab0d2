import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.fixtures import RECORDING
from tripwire.config.settings import load_settings
from tripwire.hotpath.metrics import HotPathCollector, Snapshot
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.service import HotPath
from tripwire.hotpath.triggers.dsl import compile_rules
from tripwire.sim.exchange.replay import rebased
from tripwire.sim.replay.recordings import exchange_time_ms
from tripwire.sim.replay.runner import replay_stream

SETTINGS = load_settings("config/settings.yaml")


def book_frame(t, bid=100.0, ask=100.1, bsz="5", asz="5"):
    return orjson.dumps(
        {
            "channel": "l2Book",
            "data": {
                "coin": "BTC",
                "time": t,
                "levels": [
                    [{"px": str(bid), "sz": bsz, "n": 1}, {"px": str(bid - 0.5), "sz": "10", "n": 2}],
                    [{"px": str(ask), "sz": asz, "n": 1}, {"px": str(ask + 0.5), "sz": "10", "n": 2}],
                ],
            },
        }
    )


def rules(**rule):
    spec = {
        "max_active_triggers": 3,
        "rules": {
            "mid_seen": {
                "side": "long",
                "cooldown_s": 10,
                "when_all": [{"mid_gt": 0}],
                "actions": [{"place_bracket": {}}],
                **rule,
            }
        },
    }
    return compile_rules(spec, "test.yaml")


def state(p):
    st = p.coins["BTC"]
    b = st.book
    return (
        list(b.bid_px),
        list(b.bid_sz),
        list(b.ask_px),
        list(b.ask_sz),
        b.n_bids,
        b.n_asks,
        b.time_ms,
        dict(st.features.values),
    )


def test_book_update_fires_a_rule_with_the_ticks_timestamps():
    p = MarketPipeline(SETTINGS, rules())
    fired = p.on_frame(book_frame(1_000), recv_ns=42)
    assert [ev.rule for ev in fired] == ["mid_seen"]
    ev = fired[0]
    assert ev.coin == "BTC" and ev.side == "long"
    assert ev.exch_ts_ns == 1_000 * 1_000_000 and ev.recv_ts_ns == 42
    assert ev.features["mid"] == pytest.approx(100.05)
    assert ev.actions[0][0] == "place_bracket"


def test_cooldown_holds_within_the_window_and_releases_after():
    p = MarketPipeline(SETTINGS, rules())
    assert p.on_frame(book_frame(1_000), 0)
    assert not p.on_frame(book_frame(5_000), 0)
    assert p.on_frame(book_frame(11_000), 0)


@pytest.mark.parametrize(
    "bad",
    [
        b"{not json",
        b'{"channel":"l2Book","data":{"coin":"BTC","time":2000,"levels":[[],[]]}}',
        b'{"channel":"l2Book","data":{"coin":"BTC","time":2000,"levels":[[{"px":"x","sz":"1","n":1}],[{"px":"1","sz":"1","n":1}]]}}',
        b'{"channel":"bbo","data":{"coin":"BTC","time":2000,"bbo":[null,{"px":"1","sz":"1","n":1}]}}',
        b'{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"nan","sz":"1","time":2000,"tid":1}]}',
        b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"?"}}}',
    ],
)
def test_malformed_frame_changes_no_state_and_is_counted(bad):
    p = MarketPipeline(SETTINGS, rules())
    p.on_frame(book_frame(1_000), 0)
    before = state(p)
    assert p.on_frame(bad, 0) == []
    assert state(p) == before
    assert p.decoder.faults.total == 1


def test_crossed_book_is_never_traded_on():
    p = MarketPipeline(SETTINGS, rules())
    assert p.on_frame(book_frame(1_000, bid=100.2, ask=100.1), 0) == []
    assert p.untradable == {"crossed": 1}


def test_stale_book_is_never_traded_on():
    p = MarketPipeline(SETTINGS, rules(cooldown_s=0))
    p.on_frame(book_frame(1_000), 0)
    trade = orjson.dumps(
        {
            "channel": "trades",
            "data": [
                {
                    "coin": "BTC",
                    "side": "B",
                    "px": "100.1",
                    "sz": "1",
                    "time": 1_000 + SETTINGS.book.stale_after_ms + 1,
                    "tid": 1,
                }
            ],
        }
    )
    p.on_frame(trade, 0)
    assert p.untradable.get("stale") == 1


def test_out_of_order_snapshot_is_ignored():
    p = MarketPipeline(SETTINGS, rules())
    p.on_frame(book_frame(2_000, bid=100.0), 0)
    p.on_frame(book_frame(1_000, bid=90.0, ask=90.1), 0)
    assert p.coins["BTC"].book.best_bid == 100.0
    assert p.untradable == {"out_of_order_book": 1}


def test_messages_are_counted_by_channel():
    p = MarketPipeline(SETTINGS, rules())
    p.on_frame(book_frame(1_000), 0)
    p.on_frame(b'{"channel":"pong"}', 0)
    assert p.messages == {"l2Book": 1, "pong": 1}


# -- time faults: a wrong exchange time never freezes a book ---------------------------------

HOUR_MS = 3_600_000
# Rules that fire often on the recorded hour, never held back by the cap, so runs compare on
# many triggers.
BUSY = compile_rules(
    {
        "max_active_triggers": 1_000,
        "active_ttl_s": 5,
        "rules": {
            "buying": {
                "side": "long",
                "cooldown_s": 30,
                "when_all": [{"cvd_slope_1m_gt": 0}],
                "actions": [{"place_bracket": {}}],
            },
            "bid_heavy": {
                "side": "long",
                "cooldown_s": 30,
                "when_all": [{"book_imbalance_gt": 0.3}],
                "actions": [{"place_bracket": {}}],
            },
            "on_bar": {
                "side": "long",
                "on": "bar_close_1m",
                "cooldown_s": 0,
                "when_all": [{"mid_gt": 0}],
                "actions": [{"place_bracket": {}}],
            },
        },
    },
    "test_pipeline",
)


@pytest.fixture(scope="module")
def hour():
    """The recorded hour with synthetic trades, as (message, exchange ms) in order."""
    return [(m, exchange_time_ms(m)) for m in replay_stream([RECORDING], synthetic=True, seed=7)]


def received(messages, start_ns=0):
    """Each message with a receive time as live: the exchange time a steady 40 ms later, on a
    clock of its own. A message with a bad stamp is received when the feed says, not when it
    says; messages without a time keep the last one."""
    out, recv = [], start_ns
    for msg, t in messages:
        if t and not msg.get("bad"):
            recv = start_ns + (t - messages[0][1] + 40) * 1_000_000
        out.append(({k: v for k, v in msg.items() if k != "bad"}, recv))
    return out


def run(p, stream):
    fired = []
    for msg, recv_ns in stream:
        fired += p.on_message(msg, recv_ns)
    return fired


def keys(fired):
    return [(ev.rule, ev.exch_ts_ns) for ev in fired]


def test_one_book_an_hour_ahead_is_dropped_and_every_later_book_is_still_applied(hour):
    # It used to become the book's time, and the 4,978 books after it were refused as older:
    # no trigger fired for the rest of the hour and nothing said why.
    books = [i for i, (m, _) in enumerate(hour) if m["channel"] == "l2Book"]
    at = books[100]
    msg, t = hour[at]
    ahead = {**rebased(msg, HOUR_MS), "bad": True}
    clean, dirty = MarketPipeline(SETTINGS, BUSY), MarketPipeline(SETTINGS, BUSY)
    clean_fired = run(clean, received(hour))
    dirty_fired = run(dirty, received([*hour[:at], (ahead, t + HOUR_MS), *hour[at:]]))
    assert dirty.coins["BTC"].book.time_ms == clean.coins["BTC"].book.time_ms == hour[books[-1]][1]
    assert len(clean_fired) > 50 and keys(dirty_fired) == keys(clean_fired)
    assert dirty.time_faults == {"time_jump": 1}
    assert dirty.untradable == clean.untradable | {"time_jump": 1}


def test_a_replay_that_loops_back_starts_the_book_again_and_fires_again(hour):
    # The simulator's --loop re-bases each pass to the wall clock: at speed 60 the second pass
    # starts 59 minutes before the first one ended. The book used to refuse it all as older.
    first = received(hour)
    second = received([(rebased(m, 60_000), t and t + 60_000) for m, t in hour], start_ns=first[-1][1] + 1_000_000)
    p = MarketPipeline(SETTINGS, BUSY)
    fired_first = run(p, first)
    out_of_order_first = p.untradable.get("out_of_order_book", 0)
    fired_second = run(p, second)
    last_book_ms = max(t for m, t in hour if m["channel"] == "l2Book")
    assert p.coins["BTC"].book.time_ms == last_book_ms + 60_000  # the second pass's last book
    # Features start cold on the new timeline and cooldowns from the old one are forgotten:
    # the second pass fires as the first did.
    assert len(fired_first) > 45
    assert [(rule, ts - 60_000 * 1_000_000) for rule, ts in keys(fired_second)] == keys(fired_first)
    assert p.problems() == {"BTC": ""}
    assert p.untradable.get("out_of_order_book", 0) == out_of_order_first
    assert p.time_faults == {"time_jump": 1, "new_timeline": 1}


def test_a_book_that_stops_updating_is_stale_by_the_receive_clock_even_if_its_time_looks_fresh():
    p = MarketPipeline(SETTINGS, rules(cooldown_s=0))
    p.on_frame(book_frame(1_000), recv_ns=0)
    trade = orjson.dumps(
        {"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": "100.1", "sz": "1", "time": 1_000, "tid": 1}]}
    )
    stale_ns = (SETTINGS.book.stale_after_ms + 1) * 1_000_000
    assert p.on_frame(trade, recv_ns=stale_ns) == []
    assert p.untradable == {"stale": 1} and p.problems() == {"BTC": "stale"}
    assert p.book_age_ms(stale_ns) == SETTINGS.book.stale_after_ms + 1
    assert p.on_frame(book_frame(1_000), recv_ns=stale_ns)  # a fresh book: tradable again


def test_time_faults_and_untradable_counts_are_in_the_hot_paths_status(hour):
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")))
    stream = received(hour[:200])
    for msg, recv_ns in stream:
        hp.on_frame(orjson.dumps(msg), recv_ns)
    book = next(m for m, _ in hour[200:] if m["channel"] == "l2Book")
    hp.on_frame(orjson.dumps(rebased(book, HOUR_MS)), stream[-1][1])
    st = hp.status()
    assert st["books"]["time_faults"] == {"time_jump": 1}
    assert st["books"]["untradable"]["time_jump"] == 1
    assert st["coins"]["BTC"]["book_problem"] == "time_jump"
    assert st["coins"]["BTC"]["ws_lag_ms"] == 0.0


def test_time_faults_untradable_and_lag_are_exported_zeros_included():
    collector = HotPathCollector()
    collector.snapshot = Snapshot(
        time_faults=(("time_jump", 2),), untradable=(("stale", 3),), coin_ws_lag_s=(("BTC", 2.8),)
    )
    reg = CollectorRegistry()
    reg.register(collector)
    text = generate_latest(reg).decode()
    assert 'tripwire_hotpath_time_faults_total{kind="time_jump"} 2.0' in text
    assert 'tripwire_hotpath_time_faults_total{kind="out_of_order"} 0.0' in text
    assert 'tripwire_hotpath_untradable_total{reason="stale"} 3.0' in text
    assert 'tripwire_hotpath_untradable_total{reason="time_jump"} 0.0' in text
    assert 'tripwire_hotpath_coin_ws_lag_seconds{coin="BTC"} 2.8' in text


def test_the_lag_breaker_is_judged_on_the_book_that_shows_the_lag(hour):
    # A hot path behind its socket reads its queued frames before any timer runs: the book
    # that arrives 2.8 s late trips the breaker itself, and one on time lifts it.
    hp = HotPath(SETTINGS, RiskManager(load_risk_config("config/risk.yaml")))
    trips = []
    hp.on_trips = trips.extend
    books = [m for m, _ in hour if m["channel"] == "l2Book"][:40]
    t0 = books[0]["data"]["time"]
    for i, book in enumerate(books):
        late_ms = 2_800 if 20 <= i < 30 else 0
        hp.on_frame(orjson.dumps(book), (book["data"]["time"] - t0 + 40 + late_ms) * 1_000_000)
        if i == 20:
            assert [t.breaker for t in trips] == ["ws_lag"] and hp.risk.lagging is not None
            assert hp.status()["risk"]["breakers"]["ws_lag"]["action"] == "open_nothing"
    assert len(trips) == 1 and hp.risk.lagging is None
