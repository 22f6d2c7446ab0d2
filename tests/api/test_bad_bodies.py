"""Bodies that are not strict JSON get a 4xx in the usual error shape on every route, and the
client's keep-alive connection survives it.

Before: ``{"x": NaN}`` (or ``Infinity``, ``1e999``, a lone surrogate, non-UTF-8 bytes sent as
text) made FastAPI's 422 echo a value its encoder could not write; the client got a 500 and the
next request on the same connection was reset.
"""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import KEYS
from tripwire.api.bodies import MAX_DEPTH, BadBody, check_json_body

# -- the check itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 400])
def test_a_number_json_cannot_carry_is_a_422_naming_its_field(literal):
    body = f'{{"parameters": {{"coin": "BTC", "hours": [1, {literal}]}}}}'.encode()
    with pytest.raises(BadBody) as e:
        check_json_body(body)
    assert e.value.status_code == 422 and e.value.code == "finite_number"
    (error,) = e.value.detail
    assert error["loc"] == ["body", "parameters", "hours", 1]
    assert error["type"] == "finite_number" and error["input"] == literal


def test_the_first_non_finite_number_in_document_order_is_named():
    with pytest.raises(BadBody) as e:
        check_json_body(b'{"a": [1, 2], "b": {"c": NaN}, "d": Infinity}')
    assert e.value.detail[0]["loc"] == ["body", "b", "c"]


def test_a_body_that_is_not_utf8_is_a_400_naming_the_byte():
    with pytest.raises(BadBody) as e:
        check_json_body('{"reason": "caf\u00e9"}'.encode("latin-1"))
    assert e.value.status_code == 400 and e.value.code == "body_not_utf8"
    assert "0xe9 at offset 15" in e.value.detail
    with pytest.raises(BadBody) as e:  # UTF-16, which Python's json would have decoded
        check_json_body('{"reason": "x"}'.encode("utf-16"))
    assert e.value.status_code == 400


@pytest.mark.parametrize(
    "body,where",
    [
        (b'{"reason": "\\ud800"}', 12),  # a lone surrogate: no UTF-8 can encode it
        (b'{"reason": "x",}', 14),
        (b'{"reason" "x"}', 10),
    ],
)
def test_text_that_is_not_json_is_a_422_at_its_position(body, where):
    with pytest.raises(BadBody) as e:
        check_json_body(body)
    assert e.value.status_code == 422 and e.value.detail[0]["type"] == "json_invalid"
    assert e.value.detail[0]["loc"] == ["body", where]


def test_nesting_is_bounded():
    check_json_body(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    check_json_body(b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 5000):
        with pytest.raises(BadBody) as e:
            check_json_body(b"[" * depth + b"]" * depth)
        assert e.value.status_code == 422 and "nested more than" in e.value.detail[0]["msg"]


def test_ordinary_json_passes():
    check_json_body(b'\xef\xbb\xbf{"reason": "with a BOM"}')
    check_json_body(b'{"big": 123456789012345678901234567890, "x": 1.5e308, "s": "\\u00e9"}')
    check_json_body('{"reason": "caf\u00e9 \U0001f600"}'.encode())


# -- every route with a body, over real HTTP with keep-alive ----------------------------------

BAD_BODIES = {
    "nan": (b'{"x": NaN}', "application/json", 422),
    "infinity": (b'{"x": -Infinity}', "application/json", 422),
    "too-big-number": (b'{"x": 1e999}', "application/json", 422),
    "lone-surrogate": (b'{"x": "\\udc00"}', "application/json", 422),
    "not-utf8": (b'{"x": "\xff"}', "application/json", 400),
    "deep": (b'{"x": ' * 2000 + b"1" + b"}" * 2000, "application/json", 422),
    "not-utf8-as-text": (b"\xff\xfe", "text/plain", 422),
    "not-utf8-untyped": (b"\xff\xfe", None, 422),
}


def body_routes(stack) -> list[str]:
    doc = stack.read.get("/openapi.json").json()
    routes = [
        re.sub(r"\{[^}]+\}", "x", path) for path, ops in doc["paths"].items() if "requestBody" in ops.get("post", {})
    ]
    assert {"/commands/pause", "/decisions", "/analyze", "/flows/x/runs"} <= set(routes)
    return routes


def post_then_get(url: str, path: str, body: bytes, content_type: str | None) -> tuple[int, bytes, int]:
    """POST ``body``, then GET /health on the same connection; fails if the server closed it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.connect()
    conn.auto_open = 0  # a closed connection raises instead of being silently reopened
    try:
        headers = {"X-API-Key": KEYS["admin"]}
        if content_type:
            headers["Content-Type"] = content_type
        conn.request("POST", path, body=body, headers=headers)
        r = conn.getresponse()
        status, payload = r.status, r.read()
        conn.request("GET", "/health")
        again = conn.getresponse()
        again.read()
        return status, payload, again.status
    finally:
        conn.close()


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_every_body_route_refuses_a_bad_body_and_keeps_the_connection(stack, kind):
    import orjson

    body, content_type, want = BAD_BODIES[kind]
    for path in body_routes(stack):
        status, payload, then = post_then_get(stack.api.url, path, body, content_type)
        assert status == want, (path, status, payload[:300])
        assert then == 200, (path, "the next request on the connection failed")
        answer = orjson.loads(payload)
        if status == 400:
            assert answer["code"] == "body_not_utf8" and isinstance(answer["detail"], str)
        else:
            assert isinstance(answer["detail"], list) and answer["detail"][0]["loc"][0] == "body"
        if kind in ("nan", "infinity", "too-big-number"):
            assert answer["detail"][0]["loc"] == ["body", "x"]
            assert answer["detail"][0]["type"] == "finite_number"


def test_the_openapi_document_declares_the_400_on_every_route_with_a_body(stack):
    doc = stack.read.get("/openapi.json").json()
    with_body = [
        (path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items() if "requestBody" in op
    ]
    assert len(with_body) >= 7
    for path, method, op in with_body:
        answer = op["responses"].get("400")
        assert answer is not None, f"{method.upper()} {path} does not declare its 400"
        assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorAnswer"}
        assert "HTTPValidationError" in str(op["responses"]["422"]["content"])
    error = doc["components"]["schemas"]["ErrorAnswer"]
    assert set(error["required"]) == {"detail", "code"}


def test_fastapis_own_errors_have_the_usual_shape(stack):
    r = stack.read.get("/no-such-route")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found", "code": "not_found"}
    r = stack.read.get("/commands/pause")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_a_good_body_still_works_after_the_check(stack):
    r = stack.trade.post("/commands/pause", json={"reason": "caf\u00e9 check"})
    assert r.status_code == 200, r.text
    assert stack.read.get("/status").json()["paused_by"] == "caf\u00e9 check"
    assert stack.trade.post("/commands/resume").status_code == 200
