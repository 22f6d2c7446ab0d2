"""One ``decisions`` row per trigger: an applied decision replaces the row, another outcome
never overwrites one (on every backend: the race is settled by the unique ``_id``)."""

from __future__ import annotations

from tripwire.flows.store.decisions import write_decision_row


def row(status: str, source: str) -> dict:
    return {"_id": "t-1", "trigger_id": "t-1", "status": status, "source": source}


def test_an_outcome_that_was_not_applied_never_replaces_an_applied_decision(store):
    assert write_decision_row(store, row("applied", "n8n")) is True
    assert write_decision_row(store, row("refused", "llm")) is False
    assert write_decision_row(store, row("expired", None)) is False
    [kept] = store.find("decisions")
    assert (kept["status"], kept["source"]) == ("applied", "n8n")


def test_an_applied_decision_replaces_an_outcome_written_before_it(store):
    assert write_decision_row(store, row("refused", "llm")) is True
    assert write_decision_row(store, row("applied", "n8n")) is True
    [kept] = store.find("decisions")
    assert (kept["status"], kept["source"]) == ("applied", "n8n")
