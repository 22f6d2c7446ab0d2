"""The analysis flow asking the n8n workflow: the workflow's answer to the flow (it only answers;
the flow applies its own policy's decision) is what ``ask_n8n`` accepts, over real HTTP."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from tests.api.receiver import Receiver
from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, event
from tests.workflows.jsnode import NODE, run_code
from tests.workflows.test_workflows import code_of, load
from tripwire.flows.analysis.errors import N8nBadJson, N8nHttpError
from tripwire.flows.analysis.n8n import N8nConfig, ask_n8n

TRIGGER = event("squeeze_up", "long", SQUEEZE_UP_STRONG, "squeeze_up.BTC.1.1")
TOKEN = "flow-token-0123456789"


def workflow_answer_to_the_flow(verdict: dict) -> bytes:
    """What the workflow's "Answer the flow" node sends: the checked decision of "Parse answer"."""
    wf = load("trigger-analysis")
    completion = {"choices": [{"message": {"content": json.dumps(verdict)}, "finish_reason": "stop"}]}
    [parsed], _ = run_code(code_of(wf, "Parse answer"), [completion], nodes={"Build prompt": [{"trigger": TRIGGER}]})
    node = next(n for n in wf["nodes"] if n["name"] == "Answer the flow")
    assert node["parameters"]["responseBody"] == "={{ JSON.stringify($('Parse answer').first().json.decision) }}"
    return orjson.dumps(parsed["json"]["decision"])


def ask(url: str):
    return asyncio.run(ask_n8n(N8nConfig(webhook_url=url, token=TOKEN, timeout_s=5), TRIGGER))


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_workflows_answer_to_the_flow_is_a_decision_the_flow_accepts():
    verdict = {"go": True, "sA": 0.4, "confA": 0.7, "prob_cont": 0.66, "tp_atr": 1.8, "sl_atr": 1.1, "reason": "ok"}
    rx = Receiver(body=workflow_answer_to_the_flow(verdict))
    try:
        answer = ask(rx.url)
        [req] = rx.requests
    finally:
        rx.close()
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Tripwire-Delivery" not in req["headers"]  # the flow's call is never deduplicated
    d = answer.to_decision(TRIGGER["trigger_id"])
    assert (d.go, d.sA, d.tp_atr, d.sl_atr, d.source) == (True, 0.4, 1.8, 1.1, "n8n")


def test_the_workflows_refusals_reach_the_flow_as_errors_it_falls_back_on():
    rx = Receiver(statuses=(422,), body=b'{"error": "the answer is out of range: sA=1.4"}')
    try:
        with pytest.raises(N8nHttpError, match="422"):
            ask(rx.url)
    finally:
        rx.close()
    rx = Receiver(body=b'{"duplicate": true, "trigger_id": "x"}')  # not a decision
    try:
        with pytest.raises(N8nBadJson, match="breaks the contract"):
            ask(rx.url)
    finally:
        rx.close()
