"""The agree-mode policy as one table: every remote answer × every local view → the decision.

``TABLE`` drives the parametrised test, and docs/ANALYSIS.md carries the same table (checked
below), so the code, the test and the document cannot drift apart.
"""

import re
from pathlib import Path

import pytest

from tripwire.contracts.decisions import Decision
from tripwire.flows.analysis.policy import FALLBACK_REASONS, PolicyConfig, apply_policy

DOC = Path(__file__).resolve().parents[3] / "docs" / "ANALYSIS.md"
AGREE = PolicyConfig(mode="agree", agree_threshold=0.3, on_disagree="cancel")


def _d(source: str, go: bool, sA: float, confA: float, **kw) -> Decision:
    return Decision(trigger_id="t-1", go=go, sA=sA, confA=confA, prob_cont=(1 + sA) / 2, source=source, **kw)


REMOTE = {
    "go": _d("llm", True, 0.5, 0.8),  # keep as placed
    "adjust": _d("llm", True, 0.6, 0.8, tp_atr=2.0, sl_atr=1.2, size_scale=0.5),
    "cancel": _d("llm", False, -0.4, 0.8),
    **{reason: None for reason in FALLBACK_REASONS},
}
LOCAL = {
    "strong go": _d("local", True, 0.5, 0.6, tp_atr=1.6, sl_atr=1.0),  # votes go: confA ≥ 0.3
    "weak go": _d("local", True, 0.1, 0.1, tp_atr=1.6, sl_atr=1.0),  # go, but confA < 0.3
    "against": _d("local", False, -0.5, 0.7),
}

# (remote answer, local view) → (decision kind, decision source, fallback reason or "—")
TABLE: list[tuple[str, str, str, str, str]] = [
    ("go", "strong go", "keep", "llm", "—"),
    ("go", "weak go", "cancel", "policy", "—"),
    ("go", "against", "cancel", "policy", "—"),
    ("adjust", "strong go", "adjust", "llm", "—"),
    ("adjust", "weak go", "cancel", "policy", "—"),
    ("adjust", "against", "cancel", "policy", "—"),
    ("cancel", "strong go", "cancel", "policy", "—"),
    ("cancel", "weak go", "cancel", "llm", "—"),
    ("cancel", "against", "cancel", "llm", "—"),
]
for _reason in ("bad_json", "http_error", "timeout", "flow_error", "disabled"):
    TABLE += [
        (_reason, "strong go", "adjust", "local", _reason),  # the local model's own bracket
        (_reason, "weak go", "cancel", "local", _reason),
        (_reason, "against", "cancel", "local", _reason),
    ]


def test_the_table_covers_every_remote_answer_against_every_local_view():
    assert sorted((r, v) for r, v, *_ in TABLE) == sorted((r, v) for r in REMOTE for v in LOCAL)


@pytest.mark.parametrize(("remote", "local", "kind", "source", "fallback"), TABLE)
def test_agree_mode_follows_the_policy_table(remote, local, kind, source, fallback):
    failure = None if REMOTE[remote] is not None else remote
    out = apply_policy(AGREE, LOCAL[local], REMOTE[remote], failure)
    assert (out.decision.kind, out.decision.source, out.fallback_reason or "—") == (kind, source, fallback)
    if fallback != "—":
        assert out.decision.reason.startswith(f"fallback ({fallback})")


@pytest.mark.parametrize("local", list(LOCAL))
def test_a_failed_llm_decides_exactly_like_a_disabled_one(local):
    disabled = apply_policy(AGREE, LOCAL[local], None, "disabled").decision
    for reason in ("bad_json", "http_error", "timeout", "flow_error"):
        failed = apply_policy(AGREE, LOCAL[local], None, reason).decision
        assert failed.model_dump(exclude={"reason"}) == disabled.model_dump(exclude={"reason"})


@pytest.mark.parametrize("local", list(LOCAL))
def test_an_llm_go_is_never_more_cautious_than_an_llm_that_failed(local):
    failed = apply_policy(AGREE, LOCAL[local], None, "timeout").decision
    answered = apply_policy(AGREE, LOCAL[local], REMOTE["go"]).decision
    assert answered.go or not failed.go


def _doc_table() -> list[tuple[str, ...]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- policy-table -->")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = tuple(c.strip().strip("`") for c in line.strip().strip("|").split("|"))
        if cells[0] in ("LLM answer", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(cells)
    return rows


def test_the_document_states_the_same_table():
    doc = _doc_table()
    # the document folds the five failures into one row per local view ("bad_json, http_error, …")
    expanded = []
    for remote, local, kind, source, fallback in doc:
        for r in re.split(r",\s*", remote):
            expanded.append((r, local, kind, source, r if fallback == "the failure" else fallback))
    assert sorted(expanded) == sorted(TABLE)
