"""GET /events: the hot path's events as Server-Sent Events, filtered by topic prefix."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tripwire.api.routers.events import MAX_STREAMS


def read_until(resp, done: Callable[[list[dict[str, Any]]], bool], publish: Callable[[], None]) -> list[dict[str, Any]]:
    """Parse SSE messages until ``done(messages so far)``, publishing meanwhile (a new subscription
    takes a few ms to reach the publisher; whatever is sent before that is not seen)."""
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            publish()
            time.sleep(0.02)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    seen: list[dict[str, Any]] = []
    msg: dict[str, Any] = {}
    try:
        for line in resp.iter_lines():
            if line.startswith(":"):
                msg.setdefault("comment", line[1:].strip())
            elif line.startswith(("event: ", "id: ")):
                key, _, value = line.partition(": ")
                msg[key] = value
            elif line.startswith("data: "):
                msg["data"] = json.loads(line[6:])
            elif line == "" and msg:
                seen.append(msg)
                if done(seen):
                    return seen
                msg = {}
    finally:
        stop.set()
        t.join()
    raise AssertionError(f"stream ended before the wanted event; saw {seen}")


def test_a_stream_carries_only_the_topics_asked_for(stack):
    def publish() -> None:
        stack.hot.publish("md.trade.BTC", {"coin": "BTC", "px": 1.0})
        stack.hot.publish("trigger.fired.squeeze_up.BTC", {"trigger_id": "sse-1"})

    with stack.read.stream("GET", "/events", params={"topic": "trigger."}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        seen = read_until(r, lambda ms: ms[-1].get("event", "").startswith("trigger."), publish)
    assert seen[0]["comment"] == "subscribed to trigger."
    ev = seen[-1]
    envelope = ev["data"]
    assert ev["event"] == "trigger.fired.squeeze_up.BTC"
    assert envelope["data"]["trigger_id"] == "sse-1"
    assert envelope["publisher"] == "hotpath"
    assert ev["id"] == f"{envelope['instance']}:{envelope['seq']}"
    assert not any(m.get("event", "").startswith("md.") for m in seen)


def test_by_default_a_stream_has_everything_but_market_data(stack):
    def publish() -> None:
        stack.hot.publish("md.book.BTC", {"coin": "BTC"})
        stack.hot.publish("risk.state", {"state": "HALTED"})

    with stack.read.stream("GET", "/events") as r:
        seen = read_until(r, lambda ms: ms[-1].get("event") == "risk.state", publish)
    assert seen[-1]["data"]["data"] == {"state": "HALTED"}
    assert not any(m.get("event", "").startswith("md.") for m in seen)


def test_several_prefixes_can_be_combined(stack):
    def publish() -> None:
        stack.hot.publish("md.trade.ETH", {"coin": "ETH"})
        stack.hot.publish("order.filled.BTC", {"leg": "entry"})

    with stack.read.stream("GET", "/events", params=[("topic", "md.trade.ETH"), ("topic", "order.")]) as r:
        seen = read_until(r, lambda ms: {"md.trade.ETH", "order.filled.BTC"} <= {m.get("event") for m in ms}, publish)
    assert {m.get("event") for m in seen} - {None} == {"md.trade.ETH", "order.filled.BTC"}


def test_a_closed_stream_releases_its_subscription(stack):
    state = stack.api.app.state
    with stack.read.stream("GET", "/events", params={"topic": "feed."}) as r:
        lines = r.iter_lines()  # kept: a dropped line iterator closes the response
        next(lines)
        assert state.open_streams >= 1
    deadline = time.monotonic() + 10
    while state.open_streams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert state.open_streams == 0


def test_a_bad_topic_is_a_422(stack):
    r = stack.read.get("/events", params={"topic": "trigger.*\n"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "topic"]


def test_too_many_streams_is_a_503(stack):
    state = stack.api.app.state
    state.open_streams += MAX_STREAMS
    try:
        r = stack.read.get("/events")
        assert r.status_code == 503 and r.json()["code"] == "too_many_streams"
    finally:
        state.open_streams -= MAX_STREAMS
