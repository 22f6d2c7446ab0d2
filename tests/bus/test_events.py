import orjson
import pytest
import zmq

from tests.bus.conftest import FakeClock, drain, handshake
from tripwire.bus import Gap, Publisher, Restart, SeqTracker, Subscriber, default_addresses
from tripwire.bus.client import SubscriberCore
from tripwire.contracts.events import Event, Topics, topic_root


def test_subscriber_gets_only_the_topics_it_asked_for_with_the_full_envelope(bind_address):
    clock = FakeClock()
    with (
        Publisher(bind_address, name="hp-test", clock_ns=clock) as pub,
        Subscriber(pub.endpoint, topics=["trigger.fired."]) as sub,
    ):
        handshake(pub, sub, clock)
        pub.publish(Topics.md_trade("BTC"), {"px": 1.0})
        pub.publish(Topics.trigger_fired("squeeze_up", "BTC"), {"trigger_id": "t1"}, exch_ts_ns=111, recv_ts_ns=222)
        pub.publish(Topics.position("BTC"), {"szi": 0.1})
        got = drain(sub)
    assert [e.topic for e in got] == ["trigger.fired.squeeze_up.BTC"]
    ev = got[0]
    assert (ev.schema, ev.publisher, ev.instance) == (1, "hp-test", pub.instance)
    assert (ev.exch_ts_ns, ev.recv_ts_ns, ev.pub_ts_ns) == (111, 222, clock.now)
    assert ev.data == {"trigger_id": "t1"}
    assert sub.gaps == 0 and sub.malformed_total == 0


def test_topic_builders_spell_each_topic_one_way():
    assert Topics.trigger_fired("squeeze_up", "BTC") == "trigger.fired.squeeze_up.BTC"
    assert Topics.order("filled", "ETH") == "order.filled.ETH"
    assert Topics.risk_breaker("latency") == "risk.breaker.latency"
    assert Topics.md_book("BTC") == "md.book.BTC" and Topics.md_ctx("BTC") == "md.ctx.BTC"
    assert Topics.decision("t-9") == "decision.t-9" and Topics.position("SOL") == "position.SOL"
    assert topic_root("md.book.BTC") == "md.book" and topic_root("heartbeat") == "heartbeat"


def flood(pub: Publisher, n: int) -> list[bool]:
    blob = "x" * 2000
    return [pub.publish(Topics.md_book("BTC"), {"i": i, "blob": blob}) for i in range(n)]


def test_a_subscriber_that_stops_reading_makes_the_publisher_drop_and_count_never_block(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    with Publisher(address, sndhwm=1, clock_ns=clock) as pub, Subscriber(address, rcvhwm=1) as sub:
        handshake(pub, sub, clock)
        sent = flood(pub, 5000)  # ~10 MB at a reader that reads nothing: returns regardless
        assert sent.count(False) > 0
        assert pub.dropped_total == {"md.book": sent.count(False)}
        assert pub.seq == pub.sent + pub.dropped  # every event numbered, dropped or not


def test_dropped_events_show_up_as_a_gap_at_the_subscriber(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    gaps: list[Gap] = []
    with Publisher(address, sndhwm=1, clock_ns=clock) as pub, Subscriber(address, rcvhwm=1, on_gap=gaps.append) as sub:
        handshake(pub, sub, clock)
        flood(pub, 5000)
        drain(sub)
        handshake(pub, sub, clock)  # one more event after the burst reveals a trailing gap
        drain(sub)
    assert pub.dropped > 0
    assert sub.missed == pub.dropped
    assert sub.gaps == len(gaps) > 0
    assert sub.publishers["hotpath"].last_gap == gaps[-1]
    assert all(g.topic is None and g.last_missing >= g.first_missing for g in gaps)


def test_a_filtering_subscriber_tracks_gaps_per_topic_and_ignores_topics_it_skips(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    with Publisher(address, clock_ns=clock) as pub, Subscriber(address, topics=["md.book."]) as sub:
        handshake(pub, sub, clock)
        for i in range(20):  # interleaved topics it does not want: no false gaps
            pub.publish(Topics.md_trade("BTC"), {"i": i})
            pub.publish(Topics.md_book("BTC"), {"i": i})
        got = drain(sub)
    assert len(got) == 20 and sub.gaps == 0


def test_per_topic_gap_is_reported_with_its_topic():
    tracker = SeqTracker("topic")
    ev = lambda seq, topic_seq: Event(1, seq, topic_seq, "md.book.BTC", 0, 0, 0, "hp", "i1", {})
    assert tracker.observe(ev(10, 3)) is None  # first sight: joined late, not a gap
    assert tracker.observe(ev(15, 4)) is None
    assert tracker.observe(ev(30, 7)) == Gap("hp", "md.book.BTC", 5, 6)


def test_a_restarted_publisher_is_reported_as_a_restart_not_a_gap(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    restarts: list[Restart] = []
    gaps: list[Gap] = []
    with Subscriber(address, on_restart=restarts.append, on_gap=gaps.append) as sub:
        with Publisher(address, clock_ns=clock) as first:
            handshake(first, sub, clock)
            for i in range(50):
                first.publish("md.trade.BTC", {"i": i})
            drain(sub)
        with Publisher(address, clock_ns=clock) as second:  # same name, new instance, seq from 0
            handshake(second, sub, clock)
            drain(sub)
    assert sub.restarts == 1 and gaps == []
    assert restarts[0].old_instance == first.instance
    assert restarts[0].new_instance == second.instance


def test_sequence_going_back_on_the_same_instance_counts_as_a_restart():
    tracker = SeqTracker("publisher")
    ev = lambda seq: Event(1, seq, 0, "heartbeat", 0, 0, 0, "hp", "same", {})
    tracker.observe(ev(500))
    assert isinstance(tracker.observe(ev(0)), Restart)
    assert tracker.publishers["hp"].gaps == 0


def test_heartbeat_carries_drops_since_the_last_heartbeat_and_totals(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    with (
        Publisher(address, sndhwm=1, clock_ns=clock, heartbeat_interval_s=1.0) as pub,
        Subscriber(address, topics=["heartbeat", "md.book."], rcvhwm=1) as sub,
    ):
        handshake(pub, sub, clock)
        flood(pub, 5000)
        dropped = pub.dropped
        drain(sub)
        assert pub.maybe_heartbeat(clock.now) is False  # not due yet
        beats = []
        while len(beats) < 2:  # the first tries may still meet a full pipe: counts are kept
            pub.maybe_heartbeat(clock.advance_s(1.0))
            beats += [e for e in drain(sub, timeout_ms=20) if e.topic == "heartbeat"]
    first, second = beats[0].data, beats[1].data
    assert dropped > 0
    assert first["dropped_since_last"]["md.book"] == dropped
    assert first["dropped_total"]["md.book"] == dropped
    assert "md.book" not in second["dropped_since_last"]
    assert second["dropped_total"]["md.book"] == dropped
    assert second["published"] > first["published"] and second["subscriptions"] >= 1
    assert sub.publishers["hotpath"].last_heartbeat == second


def test_a_stalled_subscriber_only_causes_drops_on_topics_it_subscribed_to(run_dir):
    clock = FakeClock()
    address = default_addresses(run_dir).events
    with Publisher(address, sndhwm=1, clock_ns=clock) as pub, Subscriber(address, topics=["trigger."], rcvhwm=1) as sub:
        handshake(pub, sub, clock)
        sent = flood(pub, 5000)
    assert all(sent) and pub.dropped == 0


def test_throttle_lets_one_event_per_interval_through_per_topic():
    clock = FakeClock()
    with Publisher("inproc://throttle", clock_ns=clock) as pub:
        book = Topics.md_book("BTC")
        assert pub.throttle(book, 100) is True
        assert pub.throttle(book, 100, clock.now + 99_000_000) is False
        assert pub.throttle(Topics.md_book("ETH"), 100) is True  # per topic
        assert pub.throttle(book, 100, clock.now + 100_000_000) is True


def test_an_event_that_is_not_json_is_counted_and_not_raised():
    with Publisher("inproc://bad-data") as pub:
        assert pub.publish("md.features.BTC", {"x": object()}) is False
        assert pub.publish("md.features.BTC", {"x": 1.0}) is True
    assert pub.encode_errors == {"md.features": 1} and pub.dropped_total == {"md.features": 1}


@pytest.mark.parametrize(
    "frames, reason",
    [
        ([b"md.trade.BTC"], "parts"),
        ([b"md.trade.BTC", b"{}", b"extra"], "parts"),
        ([b"md.trade.BTC", b"{not json"], "json"),
        ([b"md.trade.BTC", b"[1, 2]"], "fields"),
        ([b"md.trade.BTC", b'{"schema": 1, "seq": 0}'], "fields"),
        (
            [
                b"md.trade.BTC",
                b'{"schema": 99, "seq": 0, "topic_seq": 0, "topic": "md.trade.BTC", '
                b'"exch_ts_ns": 0, "recv_ts_ns": 0, "pub_ts_ns": 0, "publisher": "p", '
                b'"instance": "i", "data": {}}',
            ],
            "fields",
        ),
        (
            [
                b"md.trade.ETH",
                b'{"schema": 1, "seq": 0, "topic_seq": 0, "topic": "md.trade.BTC", '
                b'"exch_ts_ns": 0, "recv_ts_ns": 0, "pub_ts_ns": 0, "publisher": "p", '
                b'"instance": "i", "data": {}}',
            ],
            "topic",
        ),
    ],
)
def test_malformed_frames_are_counted_by_reason_and_never_raised(frames, reason):
    core = SubscriberCore()
    assert core.accept(frames) is None
    assert core.malformed == {reason: 1} and core.received == 0


def test_malformed_frames_on_the_wire_do_not_stop_the_subscriber(run_dir):
    address = default_addresses(run_dir).events
    rogue = zmq.Context.instance().socket(zmq.PUB)
    rogue.bind(address)
    try:
        with Subscriber(address, topics=["md."]) as sub:
            good = Event(1, 0, 0, "md.trade.BTC", 0, 0, 0, "rogue", "r1", {"ok": True})
            ev = None
            for _ in range(500):  # until the subscription is in place
                rogue.send_multipart([b"md.trade.BTC", b"{bad"])
                rogue.send_multipart([b"md.trade.BTC", orjson.dumps(good.to_dict())])
                if (ev := sub.recv(timeout_ms=10)) is not None:
                    break
    finally:
        rogue.close(linger=0)
    assert ev is not None and ev.data == {"ok": True}
    assert sub.malformed.get("json", 0) >= 1


def test_default_addresses_are_ipc_sockets_in_the_run_directory(run_dir):
    a = default_addresses(run_dir / "run")
    assert a.events == f"ipc://{run_dir / 'run' / 'events.sock'}"
    assert a.commands == f"ipc://{run_dir / 'run' / 'commands.sock'}"


def test_a_run_directory_too_long_for_a_unix_socket_is_refused_with_the_path(tmp_path):
    deep = tmp_path / ("d" * 120)
    with pytest.raises(ValueError, match="limit is 107"):
        default_addresses(deep)


def test_the_async_subscriber_receives_filtered_events(run_dir):
    import asyncio

    from tripwire.bus import AsyncSubscriber

    clock = FakeClock()
    address = default_addresses(run_dir).events

    async def main():
        with Publisher(address, clock_ns=clock) as pub:
            sub = AsyncSubscriber(address, topics=["order."])
            try:
                for _ in range(500):  # until the subscription is in place
                    pub.publish(Topics.md_trade("BTC"), {})
                    pub.publish(Topics.order("filled", "BTC"), {"oid": 7})
                    if (ev := await sub.recv(timeout_ms=10)) is not None:
                        return ev, sub
            finally:
                sub.close()

    ev, sub = asyncio.run(main())
    assert ev.topic == "order.filled.BTC" and ev.data == {"oid": 7}
    assert sub.malformed_total == 0
