"""Every route but /health needs a key; every mutating route a trade (or admin) key."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import ENV, KEYS, make_settings, serve, short_dir
from tripwire.api.auth import KeyRing, Principal
from tripwire.api.config import ApiConfigError, KeySpec, resolve

ANALYZE = {"trigger": "squeeze_up", "symbol": "BTC", "timestamp": 1704110400000, "features": {}}
DECISION = {"trigger_id": "t-1", "go": False, "sA": -0.2, "confA": 0.5, "prob_cont": 0.4}

RUN_ID = uuid.UUID("6c5b252b-1e15-4ad1-8cdc-67ab9bf5eb85")  # fixed: test ids must be the same in every xdist worker

# (method, path, scope it needs, body, the route's template): one row per route
ROUTES = [
    ("GET", "/status", "read", None, None),
    ("GET", "/whoami", "read", None, None),
    ("GET", "/ready", "read", None, None),
    ("GET", "/metrics", "read", None, None),
    ("GET", "/openapi.json", "read", None, "(not in the document)"),
    ("GET", "/triggers", "read", None, None),
    ("GET", "/triggers/t-1", "read", None, "/triggers/{trigger_id}"),
    ("GET", "/signals/latest", "read", None, None),
    ("GET", "/traders/top", "read", None, None),
    ("GET", f"/flows/runs/{RUN_ID}", "read", None, "/flows/runs/{run_id}"),
    ("GET", "/events", "read", None, None),
    ("POST", "/analyze", "read", ANALYZE, None),
    ("POST", "/triggers/manual", "trade", {"rule": "squeeze_up", "coin": "BTC"}, None),
    ("POST", "/decisions", "trade", DECISION, None),
    ("POST", "/commands/pause", "trade", {"reason": "x"}, None),
    ("POST", "/commands/resume", "trade", None, None),
    ("POST", "/commands/cancel_all", "trade", None, None),
    ("POST", "/commands/flatten", "trade", None, None),
    ("POST", "/commands/reload_triggers", "admin", None, None),
    ("POST", "/flows/analyze_trigger/analyze/runs", "admin", {}, "/flows/{deployment}/runs"),
    ("POST", "/sim/reset", "trade", None, None),
    ("POST", "/sim/save", "trade", None, None),
]
LOWER = {"trade": "read", "admin": "trade"}
IDS = [f"{r[0]} {r[1]}" for r in ROUTES]


def test_the_route_table_covers_every_route_in_the_openapi_document(stack):
    spec = stack.read.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    tested = {(m, tpl or p) for m, p, _, _, tpl in ROUTES}
    assert documented - {("GET", "/health")} == tested - {("GET", "(not in the document)")}


@pytest.mark.parametrize("method,path,scope,body,_tpl", ROUTES, ids=IDS)
def test_route_refuses_a_request_without_a_key(stack, method, path, scope, body, _tpl):
    r = stack.anon.request(method, path, json=body)
    assert r.status_code == 401, r.text
    assert "missing API key" in r.json()["detail"] and "X-API-Key" in r.headers["www-authenticate"]


@pytest.mark.parametrize("method,path,scope,body,_tpl", ROUTES, ids=IDS)
def test_route_refuses_a_wrong_key(stack, method, path, scope, body, _tpl):
    wrong = KEYS[scope][:-1] + ("x" if KEYS[scope][-1] != "x" else "y")
    r = stack.anon.request(method, path, json=body, headers={"X-API-Key": wrong})
    assert r.status_code == 401 and r.json()["detail"] == "invalid API key"


MUTATING = [r for r in ROUTES if r[2] in LOWER]


@pytest.mark.parametrize("method,path,scope,body,_tpl", MUTATING, ids=[f"{r[0]} {r[1]}" for r in MUTATING])
def test_mutating_route_refuses_a_key_lacking_its_scope(stack, method, path, scope, body, _tpl):
    before = stack.hot.run(lambda: (stack.hot.hp.risk.state, len(stack.hot.hp.recent)))
    r = stack.anon.request(method, path, json=body, headers={"X-API-Key": KEYS[LOWER[scope]]})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "insufficient_scope" and repr(scope) in r.json()["detail"]
    assert stack.hot.run(lambda: (stack.hot.hp.risk.state, len(stack.hot.hp.recent))) == before


def test_health_needs_no_key(stack):
    assert stack.anon.get("/health").json() == {"status": "ok"}


def test_a_key_may_come_as_a_bearer_token(stack):
    r = stack.anon.get("/status", headers={"Authorization": f"Bearer {KEYS['read']}"})
    assert r.status_code == 200


@pytest.mark.parametrize("method,path,scope,body,_tpl", ROUTES, ids=IDS)
def test_route_refuses_two_different_keys_even_when_one_is_right(stack, method, path, scope, body, _tpl):
    headers = {"X-API-Key": "not-the-key-at-all-0000", "Authorization": f"Bearer {KEYS['admin']}"}
    r = stack.anon.request(method, path, json=body, headers=headers)
    assert r.status_code == 401 and "two different API keys" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    "headers, detail",
    [
        ({"X-API-Key": "", "Authorization": "Bearer {key}"}, "empty X-API-Key"),
        ({"X-API-Key": "{key}", "Authorization": "Basic Zm9vOmJhcg=="}, "must be 'Bearer <key>'"),
        ({"Authorization": "{key}"}, "must be 'Bearer <key>'"),
    ],
)
def test_a_malformed_credential_beside_a_right_key_is_refused(stack, headers, detail):
    sent = {k: v.format(key=KEYS["read"]) for k, v in headers.items()}
    r = stack.anon.get("/status", headers=sent)
    assert r.status_code == 401 and detail in r.json()["detail"], r.text


def test_the_same_key_in_both_headers_is_accepted(stack):
    r = stack.anon.get("/status", headers={"X-API-Key": KEYS["read"], "Authorization": f"Bearer {KEYS['read']}"})
    assert r.status_code == 200


def test_every_route_that_takes_a_key_documents_401_and_403(stack):
    spec = stack.read.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path == "/health":
                assert "401" not in op["responses"]
            else:
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_with_no_keys_configured_every_route_but_health_is_closed():
    run_dir = short_dir()
    api = serve(make_settings(run_dir, keys=()), environ={})
    try:
        with api.client() as c:
            assert c.get("/health").status_code == 200
            r = c.get("/status", headers={"X-API-Key": KEYS["admin"]})
            assert r.status_code == 401 and "no API keys are configured" in r.json()["detail"]
    finally:
        api.stop()


def test_a_key_whose_variable_is_unset_stops_start_up_naming_the_variable():
    env = {k: v for k, v in ENV.items() if k != "TW_TEST_TRADE_KEY"}
    with pytest.raises(
        ApiConfigError,
        match=r"api.keys\[1\] \(trade-key\): environment variable "
        r"TW_TEST_TRADE_KEY is not set",
    ):
        resolve(make_settings(short_dir()), env)


def test_a_short_key_is_refused_at_start_without_showing_it():
    with pytest.raises(ApiConfigError) as e:
        resolve(make_settings(short_dir()), {**ENV, "TW_TEST_READ_KEY": "abc123"})
    assert "at least 16" in str(e.value) and "abc123" not in str(e.value)


def test_key_ring_finds_the_matching_key_and_refuses_near_misses():
    ring = KeyRing((KeySpec("a", "a" * 20, "read"), KeySpec("b", "b" * 20, "admin")))
    assert ring.lookup("b" * 20) == Principal("b", "admin")
    assert ring.lookup("b" * 19 + "c") is None and ring.lookup("") is None
    assert Principal("b", "admin").allows("trade") and not Principal("a", "read").allows("trade")


@pytest.mark.parametrize("scope", ["read", "trade", "admin"])
def test_whoami_names_the_calling_key_and_its_scope_never_the_key(stack, scope):
    r = stack.api.client(scope).get("/whoami")
    assert r.status_code == 200
    may = {"read": ["read"], "trade": ["read", "trade"], "admin": ["read", "trade", "admin"]}[scope]
    assert r.json() == {"name": f"{scope}-key", "scope": scope, "may": may}
    assert KEYS[scope] not in r.text
