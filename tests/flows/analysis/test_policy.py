import pytest

from tripwire.contracts.events import Decision
from tripwire.flows.analysis.policy import FallbackCounts, PolicyConfig, apply_policy


def decision(source: str, go: bool, sA: float, confA: float = 0.8, **kw) -> Decision:
    return Decision(
        trigger_id="t-1",
        go=go,
        sA=sA,
        confA=confA,
        prob_cont=(1 + sA) / 2,
        source=source,
        reason=f"{source} says so",
        **kw,
    )


LLM_GO = decision("llm", True, 0.6, tp_atr=2.0, sl_atr=1.2, size_scale=0.5)
LLM_NO = decision("llm", False, -0.4)
LOCAL_GO = decision("local", True, 0.5, confA=0.6, tp_atr=1.6, sl_atr=1.0)
LOCAL_WEAK = decision("local", True, 0.1, confA=0.1, tp_atr=1.6, sl_atr=1.0)
LOCAL_NO = decision("local", False, -0.5, confA=0.7)

AGREE = PolicyConfig(mode="agree", agree_threshold=0.3)


def test_agree_mode_takes_the_llm_answer_when_the_local_model_agrees_to_go():
    out = apply_policy(AGREE, LOCAL_GO, LLM_GO)
    assert out.fallback_reason is None
    assert out.decision.source == "llm" and out.decision.kind == "adjust"
    assert (out.decision.tp_atr, out.decision.size_scale) == (2.0, 0.5)
    assert out.decision.reason.startswith("agreed")


def test_agree_mode_cancels_when_both_say_no():
    out = apply_policy(AGREE, LOCAL_NO, LLM_NO)
    assert out.decision.kind == "cancel" and out.decision.source == "llm"


@pytest.mark.parametrize("local", [LOCAL_NO, LOCAL_WEAK], ids=["local_against", "local_unsure"])
def test_agree_mode_cancels_an_llm_go_the_local_model_does_not_back(local):
    out = apply_policy(AGREE, local, LLM_GO)
    assert out.decision.kind == "cancel" and out.decision.source == "policy"
    assert "disagree" in out.decision.reason and "threshold 0.3" in out.decision.reason


def test_agree_mode_cancels_an_llm_no_go_even_when_the_local_model_would_go():
    out = apply_policy(AGREE, LOCAL_GO, LLM_NO)
    assert out.decision.kind == "cancel" and out.decision.source == "policy"


def test_disagreement_can_keep_the_orders_as_placed_instead():
    keep = PolicyConfig(mode="agree", agree_threshold=0.3, on_disagree="keep")
    out = apply_policy(keep, LOCAL_NO, LLM_GO)
    assert out.decision.kind == "keep" and out.decision.source == "policy"


def test_the_threshold_decides_whether_a_weak_local_view_counts():
    lenient = PolicyConfig(mode="agree", agree_threshold=0.05)
    assert apply_policy(lenient, LOCAL_WEAK, LLM_GO).decision.source == "llm"


def test_llm_only_takes_the_llm_answer_whatever_the_local_model_says():
    out = apply_policy(PolicyConfig(mode="llm_only"), LOCAL_NO, LLM_GO)
    assert out.decision == LLM_GO and out.fallback_reason is None


def test_local_only_takes_the_local_decision_and_reports_no_fallback():
    out = apply_policy(PolicyConfig(mode="local_only"), LOCAL_GO, LLM_NO, None)
    assert out.decision == LOCAL_GO and out.fallback_reason is None


@pytest.mark.parametrize("mode", ["agree", "llm_only"])
@pytest.mark.parametrize("reason", ["timeout", "http_error", "bad_json", "flow_error", "disabled"])
def test_without_a_remote_answer_the_local_decision_stands_with_the_reason(mode, reason):
    out = apply_policy(PolicyConfig(mode=mode), LOCAL_GO, None, reason)
    assert out.fallback_reason == reason
    assert out.decision.source == "local" and out.decision.go
    assert out.decision.reason.startswith(f"fallback ({reason})")


def test_fallback_counts_count_each_reason_and_refuse_unknown_ones():
    counts = FallbackCounts()
    for reason in ("timeout", "timeout", "bad_json", "flow_error", "disabled"):
        counts.add(reason)
    assert counts.as_dict() == {"timeout": 2, "http_error": 0, "bad_json": 1, "flow_error": 1, "disabled": 1}
    assert counts.total == 5
    with pytest.raises(ValueError):
        counts.add("gremlins")
