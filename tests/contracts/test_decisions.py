"""One Decision field set: the LLM's verdict and response schema, the n8n answer and the API's
decision input are all built from ``tripwire.contracts.decisions.Decision`` and agree with it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tripwire.api.routers.decisions import DecisionIn
from tripwire.contracts.decisions import RECORD_FIELDS, VERDICT_FIELDS, Decision, verdict_fields, verdict_model
from tripwire.flows.analysis.llm import DECISION_JSON_SCHEMA, LlmAnswer, LlmVerdict, verdict_json_schema
from tripwire.flows.analysis.n8n import N8nAnswer

VERDICT = {
    "go": True,
    "sA": 0.1,
    "confA": 0.5,
    "prob_cont": 0.5,
    "tp_atr": None,
    "sl_atr": None,
    "size_scale": None,
    "reason": "",
}


def test_the_verdict_is_every_decision_field_but_who_which_and_when():
    assert set(VERDICT_FIELDS) | set(RECORD_FIELDS) == set(Decision.model_fields)
    assert VERDICT_FIELDS == ("go", "sA", "confA", "prob_cont", "tp_atr", "sl_atr", "size_scale", "reason")


def test_llm_n8n_and_api_models_have_the_decisions_fields():
    assert tuple(LlmVerdict.model_fields) == VERDICT_FIELDS
    assert tuple(DECISION_JSON_SCHEMA["properties"]) == VERDICT_FIELDS
    assert DECISION_JSON_SCHEMA["required"] == list(VERDICT_FIELDS)
    assert set(N8nAnswer.model_fields) - {"latency_ms"} == set(VERDICT_FIELDS)
    assert set(DecisionIn.model_fields) == set(Decision.model_fields)


@pytest.mark.parametrize("model", [LlmVerdict, N8nAnswer, DecisionIn])
def test_every_derived_field_has_the_decisions_bounds(model):
    for name in VERDICT_FIELDS:
        assert model.model_fields[name].metadata == Decision.model_fields[name].metadata, name


def _accepts(model: type[BaseModel], change: dict) -> bool:
    extra = {"trigger_id": "t-1"} if issubclass(model, Decision) else {}
    try:
        model.model_validate({**VERDICT, **extra, **change})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "change, valid",
    [
        ({"sA": -1.0}, True),
        ({"sA": 1.0}, True),
        ({"sA": -1.01}, False),
        ({"sA": 1.01}, False),
        ({"confA": 0.0}, True),
        ({"confA": 1.0}, True),
        ({"confA": -0.01}, False),
        ({"confA": 1.01}, False),
        ({"prob_cont": 0.0}, True),
        ({"prob_cont": 1.01}, False),
        ({"prob_cont": -0.01}, False),
        ({"tp_atr": 0.01}, True),
        ({"tp_atr": 20.0}, True),
        ({"tp_atr": 0.0}, False),
        ({"tp_atr": 20.5}, False),
        ({"sl_atr": 0.7}, True),
        ({"sl_atr": 20.0}, True),
        ({"sl_atr": 0.69}, False),
        ({"sl_atr": 21.0}, False),
        ({"size_scale": 0.0}, True),
        ({"size_scale": 1.0}, True),
        ({"size_scale": 1.1}, False),
        ({"size_scale": -0.1}, False),
        ({"reason": "x" * 2000}, True),
        ({"reason": "x" * 2001}, False),
    ],
)
def test_the_llm_n8n_and_the_api_accept_exactly_what_a_decision_accepts(change, valid):
    got = {m.__name__: _accepts(m, change) for m in (Decision, DecisionIn, LlmVerdict, N8nAnswer)}
    assert got == dict.fromkeys(got, valid)


def test_what_each_reader_may_leave_out():
    # The LLM's strict schema: every key. n8n's seed contract: tp_atr and sl_atr must be there,
    # go may be left out (then sA > 0). The API: go may be left out too.
    for name in VERDICT_FIELDS:
        with pytest.raises(ValidationError, match=name):
            LlmVerdict.model_validate({k: v for k, v in VERDICT.items() if k != name})
    assert {n for n, f in N8nAnswer.model_fields.items() if f.is_required()} == {
        "sA",
        "confA",
        "prob_cont",
        "tp_atr",
        "sl_atr",
    }
    assert not DecisionIn.model_fields["go"].is_required()


def test_answers_become_decisions_with_every_verdict_field():
    verdict = {**VERDICT, "go": False, "sA": -0.4, "tp_atr": 1.5, "sl_atr": 0.9, "size_scale": 0.5, "reason": "fading"}
    llm = LlmAnswer(verdict=LlmVerdict.model_validate(verdict), model="m", latency_ms=1.0)
    n8n = N8nAnswer.model_validate(verdict)
    api = DecisionIn.model_validate({**verdict, "trigger_id": "t-1"})
    for decision, source in (
        (llm.to_decision("t-1"), "llm"),
        (n8n.to_decision("t-1"), "n8n"),
        (api.to_decision(), "operator"),
    ):
        assert decision.model_dump(include=set(VERDICT_FIELDS)) == verdict
        assert (decision.trigger_id, decision.source) == ("t-1", source)


def test_a_field_added_to_the_decision_reaches_the_derived_models():
    class Extended(Decision):
        horizon_s: float | None = Field(None, gt=0.0, description="how long the view holds")

    class Strict(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")

    llm = verdict_model("ExtendedVerdict", "test", base=Strict, required=verdict_fields(Extended), decision=Extended)
    assert "horizon_s" in llm.model_fields and llm.model_fields["horizon_s"].is_required()
    schema = verdict_json_schema(llm)
    assert schema["properties"]["horizon_s"] == {"type": ["number", "null"], "description": "how long the view holds"}
    n8n = verdict_model("ExtendedN8n", "test", base=Strict, decision=Extended)
    assert not n8n.model_fields["horizon_s"].is_required()
    with pytest.raises(ValidationError, match="horizon_s"):
        n8n.model_validate({**VERDICT, "horizon_s": 0.0})
