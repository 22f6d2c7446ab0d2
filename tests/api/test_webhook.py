"""Outgoing: each fired trigger POSTed to N8N_WEBHOOK_URL, signed, with retries."""

from __future__ import annotations

import asyncio
import threading
import time

import orjson
import pytest

from tests.api.conftest import N8N_SECRET, Stack, short_dir
from tests.api.receiver import Receiver
from tripwire.api.metrics import ApiMetrics
from tripwire.api.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tripwire.api.webhooks import TriggerWebhook


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def stack(receiver):
    s = Stack(short_dir(), env={"N8N_WEBHOOK_URL": receiver.url})
    yield s
    s.close()


def wait_until_subscribed(stack, receiver) -> None:
    """Publish stand-in triggers until one reaches the webhook (the API's subscription takes a
    few ms to reach the publisher), then forget them."""
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            stack.hot.publish("trigger.fired.warmup.BTC", {"trigger_id": "warmup"})
            time.sleep(0.02)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        assert receiver.wait_for(1), "the webhook never received the warm-up trigger"
    finally:
        stop.set()
        t.join()


def test_a_fired_trigger_is_posted_to_the_webhook_signed(stack, receiver):
    wait_until_subscribed(stack, receiver)
    fired = stack.trade.post("/triggers/manual", json={"rule": "squeeze_up", "coin": "BTC"}).json()
    req = receiver.wait_for_match(lambda r: fired["trigger_id"].encode() in r["body"])
    body = orjson.loads(req["body"])
    assert body["trigger_id"] == fired["trigger_id"] and body["rule"] == "squeeze_up"
    assert body["features"]["atr_bps"] > 0 and body["actions"][0]["name"] == "place_bracket"
    assert req["path"] == "/webhook/tripwire-trigger"
    assert req["headers"]["X-Tripwire-Delivery"] == fired["trigger_id"]
    verify(
        N8N_SECRET, req["body"], req["headers"][TIMESTAMP_HEADER], req["headers"][SIGNATURE_HEADER]
    )  # raises if the signature does not hold


def deliver(url: str, **kw) -> tuple[str, TriggerWebhook]:
    hook = TriggerWebhook(url, N8N_SECRET, "ipc:///nonexistent", ApiMetrics(), backoff_s=0.01, **kw)
    return asyncio.run(hook.deliver({"trigger_id": "t-9", "rule": "squeeze_up"})), hook


def test_a_failing_webhook_is_retried_until_it_answers():
    rx = Receiver(statuses=(500, 503, 200))
    try:
        outcome, hook = deliver(rx.url)
        assert outcome == "delivered" and len(rx.requests) == 3
        assert hook.outcomes["delivered"] == 1 and sum(hook.outcomes.values()) == 1
        for r in rx.requests:  # each attempt signed afresh, the body unchanged
            verify(N8N_SECRET, r["body"], r["headers"][TIMESTAMP_HEADER], r["headers"][SIGNATURE_HEADER])
            assert orjson.loads(r["body"]) == {"trigger_id": "t-9", "rule": "squeeze_up"}
    finally:
        rx.close()


def test_a_4xx_answer_is_not_retried():
    rx = Receiver(statuses=(401,))
    try:
        outcome, hook = deliver(rx.url)
        assert outcome == "rejected" and len(rx.requests) == 1
        assert hook.metrics.webhook_deliveries.labels("rejected")._value.get() == 1
    finally:
        rx.close()


def test_a_webhook_that_times_out_is_not_asked_again():
    # n8n has the trigger and may still be deciding (a slow LLM): another attempt would
    # analyse it a second time
    rx = Receiver(statuses=(200,), delay_first_s=1.0)
    try:
        outcome, hook = deliver(rx.url, timeout_s=0.2)
        assert outcome == "failed" and len(rx.requests) == 1
        assert hook.metrics.webhook_deliveries.labels("failed")._value.get() == 1
    finally:
        rx.close()


def test_a_webhook_waits_for_n8n_as_long_as_the_analysis_deadline_by_default():
    hook = TriggerWebhook("http://127.0.0.1:9/webhook/x", None, "ipc:///nonexistent", ApiMetrics())
    assert hook.timeout_s == 30.0


@pytest.mark.parametrize(
    "status,body,outcome",
    [
        (200, Receiver.APPLIED, "delivered"),
        (424, b'{"go": true, "tripwire": {"status": 409, "answer": {"code": "stale_decision"}}}', "not_applied"),
        (200, b'{"go": true, "tripwire": {"status": 401, "answer": {"detail": "bad key"}}}', "not_applied"),
        (424, b"", "not_applied"),
        (200, b"{}", "unconfirmed"),  # a 2xx alone does not say the decision was applied
        (200, b"", "unconfirmed"),
        (200, b'{"duplicate": true, "trigger_id": "t-9"}', "duplicate"),
        (422, b'{"error": "the answer is out of range"}', "rejected"),
    ],
)
def test_a_delivery_counts_as_delivered_only_when_the_answer_says_the_decision_was_applied(status, body, outcome):
    rx = Receiver(statuses=(status,), body=body)
    try:
        got, hook = deliver(rx.url)
        assert got == outcome and len(rx.requests) == 1  # none of these is retried
        assert hook.outcomes[outcome] == 1 and sum(hook.outcomes.values()) == 1
        assert hook.metrics.webhook_deliveries.labels(outcome)._value.get() == 1
    finally:
        rx.close()


def test_status_shows_what_became_of_the_pushed_triggers(stack, receiver):
    wait_until_subscribed(stack, receiver)
    status = stack.read.get("/status").json()["n8n_webhook"]
    assert status["url"].endswith("/…") and "webhook/tripwire-trigger" not in status["url"]
    assert status["outcomes"]["delivered"] >= 1 and set(status["outcomes"]) >= {"failed", "not_applied"}


def test_an_unreachable_webhook_fails_after_its_retries(caplog):
    rx = Receiver()
    url = rx.url
    rx.close()  # nothing listens there any more
    outcome, hook = deliver(url.replace("/webhook/", "/webhook/secret-path-"), retries=2)
    assert outcome == "failed" and hook.outcomes["failed"] == 1
    logged = caplog.text
    assert "t-9" in logged and "3 attempt(s)" in logged and "secret-path" not in logged
