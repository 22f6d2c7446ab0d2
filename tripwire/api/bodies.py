"""Strict JSON request bodies: every JSON body is checked as it arrives, before a route reads it.

FastAPI parses bodies with Python's ``json``, which takes ``NaN``, ``Infinity``, numbers past a
double's range (as ``inf``), strings with lone surrogates, UTF-16 and arbitrarily deep nesting.
None of that is JSON (RFC 8259), and each of them reached an answer that could not be encoded:
the route's 422 echoed the value, the encoder raised, the client got a 500 and its keep-alive
connection was reset. So a body whose content type is JSON is parsed here first with orjson,
which follows the RFC, and refused in the API's usual error shape when it fails:

* not UTF-8: 400 ``body_not_utf8``, naming the first bad byte;
* a number that is not finite: 422 naming the field (``loc: ["body", "reason"]``, type
  ``finite_number``), so a client knows what to fix;
* not JSON, or nested deeper than :data:`MAX_DEPTH`: 422 ``json_invalid`` (FastAPI's own type)
  with the position.

The check runs inside the request's ``receive``, so it happens exactly where FastAPI reads the
body: only routes that take a body see it, and in FastAPI's order (before the key is checked,
as for any unparseable body). :func:`install_strict_bodies` also declares the 400 and 413 on
every route with a body in the OpenAPI document.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any, NoReturn

import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tripwire.api.errors import ErrorAnswer

# No body the API takes nests more than a few levels (a flow run's parameters holding a trigger
# is 5). 32 leaves room and stays far below where Python's json parser (FastAPI's, after this
# check) and orjson's encoder (254 levels) give up with errors that would be a 400 or a 500.
MAX_DEPTH = 32


class BadBody(HTTPException):
    """A body refused before any route saw it. An HTTPException because it is raised from
    ``receive``: FastAPI passes those through to their handler (errors.py) unchanged."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]], code: str):
        super().__init__(status, detail)
        self.code = code


class _NonFinite(str):
    """A number as written in the body (``NaN``, ``-Infinity``, ``1e999``) that JSON cannot carry."""


def check_json_body(body: bytes) -> None:
    """Return if ``body`` is strict JSON of at most :data:`MAX_DEPTH` levels, else raise
    :class:`BadBody` saying what is wrong and where."""
    if body.startswith(codecs.BOM_UTF8):  # RFC 8259 lets a parser ignore it; json.loads does
        body = body[len(codecs.BOM_UTF8) :]
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        _explain(body, e)
    if _depth(value) > MAX_DEPTH:
        raise _too_deep()


def _too_deep() -> BadBody:
    return BadBody(
        422,
        [
            {
                "type": "json_invalid",
                "loc": ["body"],
                "msg": f"JSON nested more than {MAX_DEPTH} levels deep",
                "input": {},
                "ctx": {"error": f"nested over {MAX_DEPTH} levels"},
            }
        ],
        code="json_invalid",
    )


def _explain(body: bytes, e: orjson.JSONDecodeError) -> NoReturn:
    """Why orjson refused ``body``, as the most specific :class:`BadBody`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as u:
        raise BadBody(
            400,
            f"the request body is not UTF-8: byte 0x{body[u.start]:02x} at "
            f"offset {u.start}; send JSON encoded as UTF-8",
            code="body_not_utf8",
        ) from None
    if e.msg.startswith("depth limit"):  # orjson's own limit (1024 levels)
        raise _too_deep() from None
    found = _first_non_finite(text)
    if found is not None:
        path, literal = found
        why = (
            f"JSON has no {literal}"
            if literal.lstrip("-") in ("NaN", "Infinity")
            else f"{literal} is beyond a double's range (about ±1.8e308)"
        )
        raise BadBody(
            422,
            [
                {
                    "type": "finite_number",
                    "loc": ["body", *path],
                    "msg": f"Input should be a finite number: {why}",
                    "input": str(literal),
                }
            ],
            code="finite_number",
        ) from None
    raise BadBody(
        422,
        [
            {
                "type": "json_invalid",
                "loc": ["body", e.pos],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": e.msg},
            }
        ],
        code="json_invalid",
    ) from None


def _number(literal: str) -> Any:
    value = float(literal)
    if not math.isfinite(value):
        return _NonFinite(literal)
    return int(literal) if literal.lstrip("-").isdigit() else value


def _first_non_finite(text: str) -> tuple[tuple[str | int, ...], _NonFinite] | None:
    """Where the first number JSON cannot carry is (document order), or None if the text has
    none or Python's parser cannot read it either (then orjson's own error says where)."""
    try:
        value = json.loads(text, parse_constant=_NonFinite, parse_float=_number, parse_int=_number)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, _NonFinite):
            return path, v
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        stack.extend(reversed([((*path, k), child) for k, child in items]))
    return None


def _depth(value: Any) -> int:
    """How deep the arrays and objects of ``value`` nest (a scalar is 0); stops counting once
    past :data:`MAX_DEPTH`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, level = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _is_json(scope: Scope) -> bool:
    # the same rule FastAPI uses to decide it parses a body as JSON
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            main, _, sub = media.partition(b"/")
            return main == b"application" and (sub == b"json" or sub.endswith(b"+json"))
    return False


class StrictJsonBodies:
    """ASGI middleware: the body of a JSON request passes :func:`check_json_body` before the
    app gets its last chunk; a refusal is raised from ``receive`` as :class:`BadBody`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checking_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    body = b"".join(chunks)
                    chunks.clear()
                    if body:
                        check_json_body(body)
            return message

        await self.app(scope, checking_receive, send)


_BODY_ANSWERS = {
    "400": "the body is not UTF-8 (`body_not_utf8`) or cannot be read (`bad_request`)",
    "413": "the body is larger than api.max_body_bytes (`body_too_large`)",
}


def _content(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _declare_body_answers(app: FastAPI) -> None:
    """Add the 400 and 413 every route with a body may answer to the OpenAPI document, and the
    answer's schema to a 422 a route described itself (FastAPI then leaves it out)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()  # FastAPI builds it once and caches it; the changes below stick
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorAnswer", ErrorAnswer.model_json_schema())
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                if not (isinstance(operation, dict) and "requestBody" in operation):
                    continue
                responses = operation.setdefault("responses", {})
                for status, description in _BODY_ANSWERS.items():
                    responses.setdefault(status, {"description": description, "content": _content("ErrorAnswer")})
                if "422" in responses and "HTTPValidationError" in schemas:
                    # such a route also refuses with its own 422 (unknown_coin, prefect_refused)
                    responses["422"].setdefault(
                        "content",
                        {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/HTTPValidationError"},
                                        {"$ref": "#/components/schemas/ErrorAnswer"},
                                    ]
                                }
                            }
                        },
                    )
        return doc

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def install_strict_bodies(app: FastAPI) -> None:
    """Check every JSON body (call before adding the size limit, so that runs first) and
    declare the answers in the OpenAPI document."""
    app.add_middleware(StrictJsonBodies)
    _declare_body_answers(app)
