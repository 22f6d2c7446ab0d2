"""The n8n workflows: structure, node versions n8n 1.123 has, credentials by name, every
tripwire URL present in the API's OpenAPI document, and what their Code nodes compute."""

from __future__ import annotations

import base64
import json
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.flows.analysis.samples import SQUEEZE_UP_STRONG, event
from tests.workflows.jsnode import NODE, run_code
from tripwire.api.app import create_app
from tripwire.api.signing import sign
from tripwire.config.settings import load_settings
from tripwire.flows.analysis import AnalysisConfig, LocalModel
from tripwire.flows.analysis.llm import parse_verdict
from tripwire.flows.analysis.prompt import SYSTEM_PROMPT, build_user_prompt

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
NAMES = ("trigger-analysis", "daily-report", "breaker-alert", "operator-command")

# Node types and the versions n8n 1.123 ships (the issue's list, plus the notification node)
VERSIONS = {
    "n8n-nodes-base.webhook": 2,
    "n8n-nodes-base.httpRequest": 4.2,
    "n8n-nodes-base.if": 2.2,
    "n8n-nodes-base.code": 2,
    "n8n-nodes-base.respondToWebhook": 1.1,
    "n8n-nodes-base.scheduleTrigger": 1.2,
    "n8n-nodes-base.telegram": 1.2,
    "n8n-nodes-base.manualTrigger": 1,
    "n8n-nodes-base.stopAndError": 1,
}
TRIGGERS = {"n8n-nodes-base.webhook", "n8n-nodes-base.scheduleTrigger", "n8n-nodes-base.manualTrigger"}
API_BASE = "={{ $env.TRIPWIRE_API_URL || 'http://127.0.0.1:8000' }}"
# a literal token, OpenAI-style key or API key value (an expression such as $env.X is fine)
SECRET_LOOKING = re.compile(
    r"Bearer [A-Za-z0-9._~+/-]{16,}|sk-[A-Za-z0-9]{16,}|"
    r"(?i:x-api-key)[\"']?\s*[:=]\s*[\"'][A-Za-z0-9]"
)

# What each workflow must do, as chains of node types that must be connected in this order
CHAINS = {
    "trigger-analysis": ["webhook", "code", "httpRequest", "code", "httpRequest", "respondToWebhook"],
    "daily-report": ["scheduleTrigger", "httpRequest", "code", "telegram"],
    "breaker-alert": ["scheduleTrigger", "httpRequest", "code", "if", "telegram"],
    "operator-command": ["webhook", "code", "if", "httpRequest", "respondToWebhook"],
}


def load(name: str) -> dict[str, Any]:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def by_name(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in wf["nodes"]}


def edges(wf: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for src, kinds in wf["connections"].items():
        for outputs in kinds["main"]:
            for c in outputs:
                out.setdefault(src, []).append(c["node"])
    return out


def code_of(wf: dict[str, Any], node: str) -> str:
    return by_name(wf)[node]["parameters"]["jsCode"]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    settings = load_settings("config/settings.yaml")
    app = create_app(settings, environ={}, analysis=AnalysisConfig(model_file=None), model=LocalModel.heuristic())
    return app.openapi()


@pytest.mark.parametrize("name", NAMES)
def test_workflow_file_has_what_n8n_import_needs(name):
    wf = load(name)
    assert wf["name"].startswith("tripwire: ") and wf["settings"]["executionOrder"] == "v1"
    assert isinstance(wf["nodes"], list) and isinstance(wf["connections"], dict)
    names = [n["name"] for n in wf["nodes"]]
    assert len(names) == len(set(names)), "node names must be unique (connections use them)"
    assert len({n["id"] for n in wf["nodes"]}) == len(names)
    for n in wf["nodes"]:
        assert set(n) >= {"id", "name", "type", "typeVersion", "position", "parameters"}


@pytest.mark.parametrize("name", NAMES)
def test_workflow_uses_only_node_versions_n8n_1_123_has(name):
    for n in load(name)["nodes"]:
        assert VERSIONS.get(n["type"]) == n["typeVersion"], f"{n['name']}: {n['type']} v{n['typeVersion']}"


@pytest.mark.parametrize("name", NAMES)
def test_connections_name_existing_nodes_and_reach_every_node(name):
    wf = load(name)
    nodes = by_name(wf)
    graph = edges(wf)
    for src, targets in graph.items():
        assert src in nodes and all(t in nodes for t in targets), (src, targets)
    starts = [n for n, v in nodes.items() if v["type"] in TRIGGERS]
    seen, todo = set(starts), deque(starts)
    while todo:
        for nxt in graph.get(todo.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(nodes), f"unreachable: {set(nodes) - seen}"


@pytest.mark.parametrize("name", NAMES)
def test_workflow_does_what_the_issue_asks_in_that_order(name):
    wf = load(name)
    nodes = by_name(wf)
    graph = edges(wf)
    kind = {n: v["type"].removeprefix("n8n-nodes-base.") for n, v in nodes.items()}

    def follows(frm: str, chain: list[str]) -> bool:
        if not chain:
            return True
        return any(
            follows(nxt, chain[1:]) if kind[nxt] == chain[0] else follows(nxt, chain) for nxt in graph.get(frm, [])
        )

    [start] = [n for n in nodes if kind[n] == CHAINS[name][0]]
    assert follows(start, CHAINS[name][1:])


@pytest.mark.parametrize("name", ["trigger-analysis", "operator-command"])
def test_every_webhook_path_ends_in_a_response(name):
    wf = load(name)
    graph = edges(wf)
    nodes = by_name(wf)
    leaves = [n for n in nodes if n not in graph]
    into = {t: src for src, targets in graph.items() for t in targets}
    for leaf in leaves:  # a response, or a failure raised after one (the caller is answered first)
        if nodes[leaf]["type"].endswith("stopAndError"):
            leaf = into[leaf]
        assert nodes[leaf]["type"].endswith("respondToWebhook"), leaf
    hook = next(n for n in wf["nodes"] if n["type"].endswith("webhook"))
    assert hook["parameters"]["responseMode"] == "responseNode" and hook["webhookId"]


@pytest.mark.parametrize("name", NAMES)
def test_credentials_are_referenced_by_name_never_inlined(name):
    wf = load(name)
    for n in wf["nodes"]:
        for ref in n.get("credentials", {}).values():
            assert set(ref) == {"id", "name"} and ref["name"].startswith("tripwire ")
        if n["type"].endswith("httpRequest"):
            p = n["parameters"]
            assert p["authentication"] == "genericCredentialType" and n["credentials"]
            assert "sendHeaders" not in p, "headers would inline a key: use the credential"
        assert not SECRET_LOOKING.search(json.dumps(n["parameters"])), n["name"]


@pytest.mark.parametrize("name", ["daily-report", "breaker-alert"])
def test_notification_nodes_are_disabled_until_configured(name):
    [n] = [n for n in load(name)["nodes"] if n["type"].endswith("telegram")]
    assert n["disabled"] is True and "Disabled until configured" in n["notes"]


def tripwire_calls(wf: dict[str, Any]) -> list[tuple[str, str]]:
    calls = []
    for n in wf["nodes"]:
        url = n["parameters"].get("url", "")
        if n["type"].endswith("httpRequest") and url.startswith(API_BASE):
            calls.append((n["parameters"]["method"], url[len(API_BASE) :]))
    return calls


def in_spec(spec: dict[str, Any], method: str, path: str) -> bool:
    """A documented path with this method matches ``path`` segment by segment; an n8n
    ``{{ … }}`` segment matches anything, as does a path parameter ``{name}``."""

    def segments(p: str) -> list[str]:
        return p.strip("/").split("/")

    def matches(ours: str, theirs: str) -> bool:
        return ours == theirs or ours.startswith("{{") or theirs.startswith("{")

    want = segments(path)
    return any(
        method.lower() in ops and len(segments(t)) == len(want) and all(map(matches, want, segments(t)))
        for t, ops in spec["paths"].items()
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_tripwire_url_a_workflow_calls_is_in_the_openapi_document(name, spec):
    calls = tripwire_calls(load(name))
    assert calls
    for method, path in calls:
        assert in_spec(spec, method, path), f"{method} {path} is not in the API"


def test_every_command_the_operator_workflow_allows_is_a_route(spec):
    code = code_of(load("operator-command"), "Check command")
    commands = re.findall(r"(\w+): \[", code.split("const COMMANDS = ")[1].split("};")[0])
    assert set(commands) == {"pause", "resume", "cancel_all", "flatten", "reload_triggers"}
    for c in commands:
        assert "post" in spec["paths"][f"/commands/{c}"]


def test_trigger_analysis_sends_tripwires_own_system_prompt():
    code = code_of(load("trigger-analysis"), "Build prompt")
    assert f"const SYSTEM_PROMPT = {json.dumps(SYSTEM_PROMPT)};" in code


# -- what the Code nodes compute (Node.js) ----------------------------------------------------

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
TRIGGER = event("squeeze_up", "long", SQUEEZE_UP_STRONG, "squeeze_up.BTC.1.1")


@needs_node
def test_the_prompt_carries_the_same_lines_as_the_python_prompt():
    code = code_of(load("trigger-analysis"), "Build prompt")
    [out], _ = run_code(code, [{"trigger": TRIGGER}], env={"TRIPWIRE_LLM_MODEL": "m"})
    req = out["json"]["request"]
    assert req["model"] == "m" and req["messages"][0]["content"] == SYSTEM_PROMPT
    js_lines = req["messages"][1]["content"].split("\n")
    py_lines = build_user_prompt(TRIGGER).split("\n")
    assert js_lines[:2] == py_lines[:2]  # header and bracket
    assert sorted(js_lines[2].split()) == sorted(py_lines[2].split())  # same features, values


@needs_node
def test_the_prompt_carries_the_candles_as_the_python_prompt_does():
    candles = [
        {"coin": "BTC", "interval": "1m", "t": 60_000 * i, "T": 60_000 * i + 59_999, "n": 3}
        | {"o": 67012.5 + i, "h": 67020.25 + i, "l": 67001.0 + i, "c": 67015.75 + i, "v": 1.23456 * i}
        for i in range(3)
    ]
    trigger = {**TRIGGER, "candles": candles}
    code = code_of(load("trigger-analysis"), "Build prompt")
    [out], _ = run_code(code, [{"trigger": trigger}], env={})
    js_lines = out["json"]["request"]["messages"][1]["content"].split("\n")
    py_lines = build_user_prompt(trigger).split("\n")
    assert "candles_1m o h l c v" in py_lines
    assert js_lines[:-1] == py_lines[:-1]  # header, bracket, candles line for line
    assert sorted(js_lines[-1].split()) == sorted(py_lines[-1].split())


def completion(content: str, finish: str = "stop") -> dict[str, Any]:
    return {"choices": [{"message": {"content": content}, "finish_reason": finish}]}


@needs_node
@pytest.mark.parametrize(
    "answer",
    [
        {
            "go": True,
            "sA": 0.4,
            "confA": 0.7,
            "prob_cont": 0.66,
            "tp_atr": 1.8,
            "sl_atr": 1.1,
            "size_scale": 0.5,
            "reason": "flow with the trade",
        },
        {
            "go": False,
            "sA": -0.3,
            "confA": 0.6,
            "prob_cont": 0.3,
            "tp_atr": None,
            "sl_atr": None,
            "size_scale": None,
            "reason": "fading",
        },
    ],
)
def test_a_valid_llm_answer_becomes_the_same_decision_as_in_python(answer):
    code = code_of(load("trigger-analysis"), "Parse answer")
    nodes = {"Build prompt": [{"trigger": TRIGGER}]}
    [out], _ = run_code(code, [completion("```json\n" + json.dumps(answer) + "\n```")], nodes=nodes)
    assert out["json"]["valid"] is True
    d = out["json"]["decision"]
    want = parse_verdict(json.dumps(answer))
    assert d["trigger_id"] == TRIGGER["trigger_id"] and d["source"] == "n8n"
    for k in ("go", "sA", "confA", "prob_cont", "tp_atr", "sl_atr", "size_scale", "reason"):
        assert d[k] == getattr(want, k), k


@needs_node
@pytest.mark.parametrize(
    "content,why",
    [
        ('{"go": true, "sA": 1.4, "confA": 0.5, "prob_cont": 0.5}', "sA=1.4"),
        ('{"go": true, "sA": 0.4, "confA": 0.5, "prob_cont": 0.5, "sl_atr": 0.5}', "sl_atr=0.5"),
        ('{"go": true, "sA": 0.4, "confA": 0.5, "prob_cont": 0.5, "size_scale": 2}', "size_scale=2"),
        ('{"go": "yes", "sA": 0.4, "confA": 0.5, "prob_cont": 0.5}', "go must be"),
        ("I think you should go long", "not JSON"),
    ],
)
def test_an_invalid_llm_answer_is_refused_not_clamped(content, why):
    code = code_of(load("trigger-analysis"), "Parse answer")
    [out], _ = run_code(code, [completion(content)], nodes={"Build prompt": [{"trigger": TRIGGER}]})
    assert out["json"]["valid"] is False and why in out["json"]["error"]


@needs_node
def test_a_cut_off_or_failed_llm_call_is_refused():
    code = code_of(load("trigger-analysis"), "Parse answer")
    nodes = {"Build prompt": [{"trigger": TRIGGER}]}
    [out], _ = run_code(code, [completion('{"go": tr', "length")], nodes=nodes)
    assert "cut off" in out["json"]["error"]
    [out], _ = run_code(code, [{"error": {"message": "401 Unauthorized"}}], nodes=nodes)
    assert out["json"]["valid"] is False and "no answer" in out["json"]["error"]


def webhook_item(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "json": {"headers": {k.lower(): v for k, v in headers.items()}, "body": orjson.loads(body)},
        "binary": {"data": {"data": base64.b64encode(body).decode(), "mimeType": "application/json"}},
    }


@needs_node
def test_the_workflow_accepts_a_trigger_tripwire_signed_and_refuses_others():
    code = code_of(load("trigger-analysis"), "Verify caller")
    env = {"TRIPWIRE_N8N_SECRET": "shared-secret-0123456789"}
    body = orjson.dumps(TRIGGER)
    [ok], _ = run_code(code, [webhook_item(body, sign(env["TRIPWIRE_N8N_SECRET"], body))], env=env)
    assert ok["json"]["authorized"] is True and ok["json"]["trigger"]["rule"] == "squeeze_up"
    tampered = body.replace(b"squeeze_up", b"squeeze_dn")
    [bad], _ = run_code(code, [webhook_item(tampered, sign(env["TRIPWIRE_N8N_SECRET"], body))], env=env)
    assert (bad["json"]["authorized"], bad["json"]["why"]) == (False, "bad signature")
    stale = sign(env["TRIPWIRE_N8N_SECRET"], body, now_s=time.time() - 3600)
    [old], _ = run_code(code, [webhook_item(body, stale)], env=env)
    assert old["json"]["authorized"] is False and "stale" in old["json"]["why"]
    [anon], _ = run_code(code, [webhook_item(body, {})], env=env)
    assert anon["json"]["authorized"] is False


@needs_node
def test_the_analysis_flows_bearer_token_is_accepted_too():
    code = code_of(load("trigger-analysis"), "Verify caller")
    env = {"TRIPWIRE_N8N_TOKEN": "flow-token-0123456789"}
    body = orjson.dumps(TRIGGER)
    bearer = {"Authorization": "Bearer flow-token-0123456789"}
    [ok], _ = run_code(code, [webhook_item(body, bearer)], env=env)
    assert ok["json"]["authorized"] is True
    [bad], _ = run_code(code, [webhook_item(body, {"Authorization": "Bearer nope"})], env=env)
    assert bad["json"]["authorized"] is False


@needs_node
@pytest.mark.parametrize(
    "body,valid,args",
    [
        ({"command": "pause", "reason": "lunch"}, True, {"reason": "lunch"}),
        ({"command": "flatten", "coin": "BTC"}, True, {"coin": "BTC"}),
        ({"command": "resume"}, True, {}),
        ({"command": "rm -rf"}, False, None),
        ({"command": "pause", "coin": "BTC"}, False, None),
    ],
)
def test_operator_commands_are_checked_before_they_reach_tripwire(body, valid, args):
    code = code_of(load("operator-command"), "Check command")
    [out], _ = run_code(code, [{"body": body}])
    assert out["json"]["valid"] is valid
    if valid:
        assert out["json"]["args"] == args


@needs_node
def test_breaker_alert_speaks_only_when_something_changed():
    code = code_of(load("breaker-alert"), "Detect change")
    active = {"trading_state": "ACTIVE", "breakers": {}}
    [out], static = run_code(code, [active])
    assert out["json"]["changed"] is False
    halted = {"trading_state": "HALTED", "breakers": {"latency": {"action": "halt", "detail": "p99 900 ms"}}}
    [out], static = run_code(code, [halted], static=static)
    assert out["json"]["changed"] is True
    text = out["json"]["text"]
    assert "ACTIVE → HALTED" in text and "breaker latency tripped" in text
    [out], static = run_code(code, [halted], static=static)
    assert out["json"]["changed"] is False
    [out], static = run_code(code, [{"detail": "the hot path is not running", "code": "x"}], static=static)
    assert out["json"]["changed"] is True and "does not answer" in out["json"]["text"]
    [out], _ = run_code(code, [active], static=static)
    assert "tripwire answers again" in out["json"]["text"]


@needs_node
def test_breaker_alert_speaks_when_the_api_itself_is_unreachable():
    # the HTTP node continues on a transport error with an {error} item (onError)
    code = code_of(load("breaker-alert"), "Detect change")
    down = {"error": {"message": "The service refused the connection - perhaps it is offline"}}
    [out], _ = run_code(code, [down])
    assert out["json"]["changed"] is True and "refused the connection" in out["json"]["text"]


@pytest.mark.parametrize("name", NAMES)
def test_every_http_call_continues_with_an_error_item_when_the_far_end_is_down(name):
    for n in load(name)["nodes"]:
        if n["type"].endswith("httpRequest"):
            assert n["onError"] == "continueRegularOutput", n["name"]


@needs_node
def test_daily_report_summarises_status_signals_triggers_and_decisions():
    code = code_of(load("daily-report"), "Format report")
    nodes = {
        "GET /status": [
            {
                "mode": "demo",
                "trading_state": "ACTIVE",
                "breakers": {},
                "positions": {"BTC": {"szi": 0.01}},
                "open_orders": [{}, {}],
                "last_tick_age_s": 0.4,
            }
        ],
        "GET /signals/latest": [{"signals": [{"coin": "BTC", "signal": "LONG", "confidence": 0.61}]}],
        "GET /triggers": [
            {
                "triggers": [{"trigger_id": t, "rule": "squeeze_up"} for t in "abcd"],
                "count": 4,
            }
        ],
        "GET /triggers/{id}": [
            {"trigger": {"trigger_id": "a"}, "decision": {"status": "applied", "decision": {"go": False}}},
            {"trigger": {"trigger_id": "b"}, "decision": None},
            # the dispatcher's own decision, refused (n8n's came first, or the trigger closed)
            {"trigger": {"trigger_id": "c"}, "decision": {"status": "refused", "decision": {"go": True}}},
            {
                "trigger": {"trigger_id": "d"},
                "decision": {"status": "applied", "source": "n8n", "decision": {"go": True}},
            },
        ],
    }
    [out], _ = run_code(code, [{}], nodes=nodes)
    text = out["json"]["text"]
    for part in (
        "trading ACTIVE",
        "positions: BTC 0.01",
        "2 open order(s)",
        "BTC LONG (0.61)",
        "4 trigger(s) in 24 h: squeeze_up ×4",
        "1 cancelled",
        "1 kept",
        "2 undecided",
    ):
        assert part in text, part


@needs_node
def test_daily_report_still_reports_when_tripwire_is_down_and_quiet():
    code = code_of(load("daily-report"), "Format report")
    nodes = {
        "GET /status": [{"detail": "the hot path is not running", "code": "x"}],
        "GET /signals/latest": [{"detail": "store down"}],
        "GET /triggers": [{"triggers": [], "count": 0}],
    }
    [out], _ = run_code(code, [{}], nodes=nodes)
    assert "status unavailable: the hot path is not running" in out["json"]["text"]
    assert "0 trigger(s)" in out["json"]["text"]


def test_the_url_check_catches_a_wrong_method_or_path(spec):
    assert in_spec(spec, "POST", "/decisions") and in_spec(spec, "GET", "/triggers/{{ $json.x }}")
    assert not in_spec(spec, "GET", "/decisions")
    assert not in_spec(spec, "POST", "/command/{{ $json.command }}")


def test_every_credential_a_workflow_uses_is_in_the_template_with_its_type():
    template = {c["id"]: c for c in json.loads((WORKFLOWS / "credentials" / "credentials.example.json").read_text())}
    for name in NAMES:
        for n in load(name)["nodes"]:
            for kind, ref in n.get("credentials", {}).items():
                entry = template[ref["id"]]
                assert (entry["name"], entry["type"]) == (ref["name"], kind), n["name"]
    for entry in template.values():  # placeholders only, never a real value
        assert all("<" in v for k, v in entry["data"].items() if k != "name"), entry["name"]


# -- n8n 1.123 as a user meets it (issue 14) ---------------------------------------------------


def successors(wf: dict[str, Any], node: str) -> list[list[str]]:
    """The nodes on each output of ``node`` (an IF: [true branch, false branch])."""
    return [[c["node"] for c in out] for out in wf["connections"].get(node, {}).get("main", [])]


@pytest.mark.parametrize("name", ["daily-report", "breaker-alert"])
def test_scheduled_workflows_can_be_run_by_hand_with_n8n_execute(name):
    # `n8n execute` needs a manual trigger ("Missing node to start execution")
    wf = load(name)
    nodes = by_name(wf)
    [manual] = [n for n, v in nodes.items() if v["type"] == "n8n-nodes-base.manualTrigger"]
    [schedule] = [n for n, v in nodes.items() if v["type"] == "n8n-nodes-base.scheduleTrigger"]
    assert successors(wf, manual) == successors(wf, schedule) == [["GET /status"]]


def test_a_decision_tripwire_did_not_apply_fails_the_execution_and_the_webhook_answer():
    wf = load("trigger-analysis")
    nodes = by_name(wf)
    post = nodes["POST /decisions"]
    # the answer is read whatever its status (full response, never error) and an IF decides
    assert post["parameters"]["options"]["response"]["response"] == {"fullResponse": True, "neverError": True}
    [[check]] = successors(wf, "POST /decisions")
    assert nodes[check]["type"] == "n8n-nodes-base.if"
    [[ok], [refused]] = successors(wf, check)
    assert nodes[ok]["type"].endswith("respondToWebhook") and nodes[ok]["parameters"]["options"]["responseCode"] == 200
    assert nodes[refused]["type"].endswith("respondToWebhook")
    assert nodes[refused]["parameters"]["options"]["responseCode"] == 424
    [[fail]] = successors(wf, refused)
    assert nodes[fail]["type"] == "n8n-nodes-base.stopAndError" and "HTTP" in nodes[fail]["parameters"]["errorMessage"]
    # an unusable LLM answer is answered 422 and fails the execution too
    [[unusable]] = successors(wf, "Respond with error")
    assert nodes[unusable]["type"] == "n8n-nodes-base.stopAndError"


def if_expression(wf: dict[str, Any], node: str) -> str:
    [cond] = by_name(wf)[node]["parameters"]["conditions"]["conditions"]
    return cond["leftValue"].removeprefix("={{").removesuffix("}}").strip()


@needs_node
@pytest.mark.parametrize(
    "answer,applied",
    [
        ({"statusCode": 200, "body": {"kind": "keep"}}, True),
        ({"statusCode": 401, "body": {"detail": "bad key"}}, False),
        ({"statusCode": 404, "body": {"detail": "Not Found"}}, False),
        ({"statusCode": 409, "body": {"code": "stale_decision"}}, False),
        ({"error": {"message": "The service refused the connection"}}, False),  # tripwire down
    ],
)
def test_only_a_2xx_from_post_decisions_counts_as_applied(answer, applied):
    expr = if_expression(load("trigger-analysis"), "Applied?")
    [out], _ = run_code(f"const $json = $input.first().json; return [{{ json: {{ ok: ({expr}) }} }}];", [answer])
    assert out["json"]["ok"] is applied


@needs_node
def test_a_redelivered_trigger_is_dropped_by_its_delivery_id():
    code = code_of(load("trigger-analysis"), "Drop duplicates")
    first = {"authorized": True, "apply": True, "delivery": "squeeze_up.BTC.1.1", "trigger": TRIGGER}
    [out], static = run_code(code, [first])
    assert out["json"]["duplicate"] is False and out["json"]["trigger"] == TRIGGER
    [out], static = run_code(code, [first], static=static)
    assert out["json"]["duplicate"] is True
    [out], static = run_code(code, [{**first, "delivery": "squeeze_up.BTC.1.2"}], static=static)
    assert out["json"]["duplicate"] is False
    assert set(static["deliveries"]) == {"squeeze_up.BTC.1.1", "squeeze_up.BTC.1.2"}


@needs_node
def test_seen_delivery_ids_are_forgotten_after_a_day_and_the_flows_calls_are_never_dropped():
    code = code_of(load("trigger-analysis"), "Drop duplicates")
    old = {"deliveries": {"t-old": int((time.time() - 2 * 86400) * 1000)}}
    [out], static = run_code(code, [{"delivery": "t-old", "trigger": TRIGGER}], static=old)
    assert out["json"]["duplicate"] is False  # forgotten, so seen afresh
    asked = {"delivery": "", "apply": False, "trigger": TRIGGER}  # the analysis flow's call
    [a], static = run_code(code, [asked], static=static)
    [b], _ = run_code(code, [asked], static=static)
    assert a["json"]["duplicate"] is b["json"]["duplicate"] is False


@needs_node
def test_a_pushed_trigger_is_applied_by_n8n_and_the_analysis_flows_call_only_answered():
    wf = load("trigger-analysis")
    code = code_of(wf, "Verify caller")
    env = {"TRIPWIRE_N8N_SECRET": "shared-secret-0123456789", "TRIPWIRE_N8N_TOKEN": "flow-token-0123456789"}
    body = orjson.dumps(TRIGGER)
    pushed = {**sign(env["TRIPWIRE_N8N_SECRET"], body), "X-Tripwire-Delivery": TRIGGER["trigger_id"]}
    [p], _ = run_code(code, [webhook_item(body, pushed)], env=env)
    assert p["json"]["apply"] is True and p["json"]["delivery"] == TRIGGER["trigger_id"]
    [a], _ = run_code(code, [webhook_item(body, {"Authorization": "Bearer flow-token-0123456789"})], env=env)
    assert a["json"]["apply"] is False and a["json"]["authorized"] is True
    # and the graph: only the "apply" branch reaches POST /decisions
    [[apply], [answer]] = successors(wf, "Apply here?")
    assert apply == "POST /decisions" and by_name(wf)[answer]["type"].endswith("respondToWebhook")
    assert "apply" in if_expression(wf, "Apply here?")
    assert [n for n, outs in wf["connections"].items() for o in outs["main"] for c in o if c["node"] == apply] == [
        "Apply here?"
    ]


@needs_node
def test_breaker_alert_keeps_the_last_known_state_through_an_outage():
    code = code_of(load("breaker-alert"), "Detect change")
    halted = {"trading_state": "HALTED", "breakers": {"latency": {"action": "halt", "detail": "p99"}}}
    [_], static = run_code(code, [halted])
    [out], static = run_code(code, [{"error": {"message": "connection refused"}}], static=static)
    assert "does not answer" in out["json"]["text"] and "null" not in out["json"]["text"]
    assert out["json"]["status"]["state"] == "HALTED"
    [out], static = run_code(code, [halted], static=static)  # back, nothing else changed
    assert out["json"]["text"] == "tripwire: tripwire answers again"
    [_], static = run_code(code, [{"detail": "the hot path is not running"}], static=static)
    [out], _ = run_code(code, [{"trading_state": "ACTIVE", "breakers": {}}], static=static)
    text = out["json"]["text"]
    assert "trading state HALTED → ACTIVE" in text and "breaker latency cleared" in text and "null" not in text
