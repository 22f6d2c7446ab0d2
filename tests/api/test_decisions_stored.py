"""A decision POSTed by n8n (or an operator) and applied by the hot path is in the store, once:
``GET /triggers/{id}`` shows it, and the dispatcher's own outcome for that trigger, arriving
second and refused, does not replace it."""

from __future__ import annotations

import pytest

from tests.api.conftest import ENV, Stack, make_settings, serve, short_dir
from tests.api.test_commands import fire
from tripwire.api.config import ApiConfigError
from tripwire.flows.analysis import AnalysisConfig
from tripwire.flows.dispatch import TriggerOutcome
from tripwire.flows.outcomes import OutcomeSink

N8N_DECISION = {"go": False, "sA": -0.4, "confA": 0.7, "prob_cont": 0.3, "reason": "n8n says no", "source": "n8n"}


def record_trigger(stack: Stack, tid: str) -> None:
    # the recorder's row for the trigger (no recorder runs in these tests)
    stack.store.insert_many("triggers", [{"_id": tid, "trigger_id": tid, "rule": "reversion_fade_up", "coin": "BTC"}])


def test_a_decision_posted_by_n8n_is_stored_and_shown_with_its_trigger(stack):
    tid = fire(stack, "reversion_fade_up")
    record_trigger(stack, tid)
    assert stack.read.get(f"/triggers/{tid}").json()["decision"] is None
    r = stack.trade.post("/decisions", json={"trigger_id": tid, **N8N_DECISION})
    assert r.status_code == 200 and r.json()["stored"] is True
    d = stack.read.get(f"/triggers/{tid}").json()["decision"]
    assert d["status"] == "applied" and d["source"] == "n8n" and d["kind"] == "cancel"
    assert d["decision"]["go"] is False and d["decision"]["reason"] == "n8n says no"
    assert (d["rule"], d["coin"]) == ("reversion_fade_up", "BTC") and d["applied"]["ok"] is True
    assert stack.store.count("decisions", {"trigger_id": tid}) == 1


def test_a_refused_decision_is_not_stored_and_does_not_replace_the_applied_one(stack):
    tid = fire(stack, "reversion_fade_down")
    assert stack.trade.post("/decisions", json={"trigger_id": tid, **N8N_DECISION}).status_code == 200
    again = stack.trade.post("/decisions", json={"trigger_id": tid, **N8N_DECISION, "go": True, "reason": "late"})
    assert again.status_code == 409
    [row] = stack.store.find("decisions", {"trigger_id": tid})
    assert row["decision"]["reason"] == "n8n says no"


def dispatcher_outcome(tid: str, status: str, source: str = "local") -> TriggerOutcome:
    decision = {**N8N_DECISION, "trigger_id": tid, "go": True, "reason": "local model", "source": source}
    applied = {"sent": True, "ok": status == "applied", "error": None if status == "applied" else "stale_decision"}
    return TriggerOutcome(
        tid,
        "reversion_fade_up",
        "BTC",
        status=status,
        done_ns=1,
        result={"decision": decision, "kind": "keep", "analyst": "local", "applied": applied},
    )


def test_the_dispatchers_refused_outcome_never_overwrites_n8ns_decision_in_either_order(stack):
    # n8n first (API writes), then the dispatcher's refused outcome: n8n's row stays
    tid = fire(stack, "squeeze_up")
    assert stack.trade.post("/decisions", json={"trigger_id": tid, **N8N_DECISION}).status_code == 200
    OutcomeSink(stack.store).record(dispatcher_outcome(tid, "refused"))
    assert stack.store.find_one("decisions", {"_id": tid})["source"] == "n8n"
    # the dispatcher's outcome written first (it lost the race but wrote sooner): replaced
    tid2 = fire(stack, "squeeze_down")
    OutcomeSink(stack.store).record(dispatcher_outcome(tid2, "expired"))
    assert stack.trade.post("/decisions", json={"trigger_id": tid2, **N8N_DECISION}).status_code == 200
    row = stack.store.find_one("decisions", {"_id": tid2})
    assert (row["source"], row["status"]) == ("n8n", "applied")
    assert stack.store.count("decisions", {"trigger_id": tid2}) == 1


def test_the_dispatchers_applied_decision_is_stored_as_before(stack):
    sink = OutcomeSink(stack.store)
    sink.record(dispatcher_outcome("t-local-1", "applied"))
    row = stack.store.find_one("decisions", {"_id": "t-local-1"})
    assert (row["status"], row["source"], row["analyst"]) == ("applied", "local", "local")
    assert sink.store_errors == 0


def test_the_api_refuses_to_push_to_the_webhook_the_analysis_flow_asks():
    url = "http://127.0.0.1:5678/webhook/tripwire-trigger"
    settings = make_settings(short_dir())
    with pytest.raises(ApiConfigError, match="two owners"):
        serve(
            settings,
            environ={**ENV, "N8N_WEBHOOK_URL": url},
            analysis=AnalysisConfig(model_file=None, n8n={"webhook_url": url + "/"}),
        )


def test_a_decision_the_store_cannot_take_still_stands_and_says_so():
    s = Stack(short_dir())
    try:
        tid = fire(s, "squeeze_up")
        s.store.close()  # the database goes away after start
        r = s.trade.post("/decisions", json={"trigger_id": tid, **N8N_DECISION})
        assert r.status_code == 200 and r.json()["stored"] is False and r.json()["kind"] == "cancel"
        metrics = s.api.app.state.metrics
        assert metrics.decisions_unstored._value.get() == 1
    finally:
        s.close()
