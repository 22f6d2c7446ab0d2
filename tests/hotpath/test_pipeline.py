import orjson
import pytest

from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.config.settings import load_settings
from tripwire.hotpath.triggers.dsl import compile_rules

SETTINGS = load_settings("config/settings.yaml")


def book_frame(t, bid=100.0, ask=100.1, bsz="5", asz="5"):
    return orjson.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": t, "levels": [
        [{"px": str(bid), "sz": bsz, "n": 1}, {"px": str(bid - 0.5), "sz": "10", "n": 2}],
        [{"px": str(ask), "sz": asz, "n": 1}, {"px": str(ask + 0.5), "sz": "10", "n": 2}]]}})


def rules(**rule):
    spec = {"max_active_triggers": 3, "rules": {"mid_seen": {
        "side": "long", "cooldown_s": 10, "when_all": [{"mid_gt": 0}],
        "actions": [{"place_bracket": {}}], **rule}}}
    return compile_rules(spec, "test.yaml")


def state(p):
    st = p.coins["BTC"]
    b = st.book
    return (list(b.bid_px), list(b.bid_sz), list(b.ask_px), list(b.ask_sz), b.n_bids, b.n_asks,
            b.time_ms, dict(st.features.values))


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


@pytest.mark.parametrize("bad", [
    b"{not json", b'{"channel":"l2Book","data":{"coin":"BTC","time":2000,"levels":[[],[]]}}',
    b'{"channel":"l2Book","data":{"coin":"BTC","time":2000,"levels":[[{"px":"x","sz":"1","n":1}],[{"px":"1","sz":"1","n":1}]]}}',
    b'{"channel":"bbo","data":{"coin":"BTC","time":2000,"bbo":[null,{"px":"1","sz":"1","n":1}]}}',
    b'{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"nan","sz":"1","time":2000,"tid":1}]}',
    b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"?"}}}',
])
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
    trade = orjson.dumps({"channel": "trades", "data": [{"coin": "BTC", "side": "B", "px": "100.1",
                          "sz": "1", "time": 1_000 + SETTINGS.book.stale_after_ms + 1, "tid": 1}]})
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
