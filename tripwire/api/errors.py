"""Errors the routes raise and how they become HTTP answers.

Every error answer has the same shape, ``{"detail": "<what happened and what to do>", "code":
"<machine-readable>"}`` (:class:`ErrorAnswer`), Starlette's and FastAPI's own (404, 405, 400)
included; FastAPI's 422 keeps its list of field errors in ``detail``.
Messages built from other systems' exceptions (store, Prefect, a webhook) go through
:class:`Redactor` first, so a password in a URI or a key echoed by a server never reaches a
response or a log.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from starlette.exceptions import HTTPException

RETRY_AFTER_S = "5"
SHOWN_INPUT_CHARS = 200  # an input that JSON cannot carry is shown as text, this long at most

# Starlette's and FastAPI's HTTPExceptions carry no code of their own
CODE_FOR_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    422: "invalid_request",
}


class ErrorAnswer(BaseModel):
    """An error answer (every status but 422, whose ``detail`` is a list of field errors)."""

    detail: str
    code: str


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class Unavailable(ApiError):
    """A dependency (hot path, store, Prefect) is down, slow or not configured."""

    status = 503
    code = "unavailable"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class Redactor:
    """Masks known secret values and the ``user:password@`` part of URLs in free text."""

    def __init__(self, secrets: Iterable[str] = ()):
        # longest first, so a secret that contains another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return _USERINFO.sub(r"\g<scheme>***@", text)


def _shown(value: Any) -> Any:
    """``value`` as JSON can carry it: a non-finite number, bytes or a string with lone
    surrogates as readable text; anything else but a JSON scalar as its (shortened) repr."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes):
        return value[:SHOWN_INPUT_CHARS].decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        text = repr(value)
    except RecursionError:
        return "(too deeply nested to show)"
    return _shown(text[:SHOWN_INPUT_CHARS])


def _printable(error: dict[str, Any]) -> dict[str, Any]:
    out = {**error, "input": _shown(error.get("input"))}
    if isinstance(error.get("ctx"), dict):
        out["ctx"] = {k: _shown(v) for k, v in error["ctx"].items()}
    return out


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": RETRY_AFTER_S} if exc.status == 503 else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'}
        return JSONResponse({"detail": exc.message, "code": exc.code}, exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> Response:
        # FastAPI's own (route not found, unreadable body) and bodies.BadBody, which has a code
        if not is_body_allowed_for_status_code(exc.status_code):
            return Response(status_code=exc.status_code, headers=exc.headers)
        code = getattr(exc, "code", None) or CODE_FOR_STATUS.get(exc.status_code, "http_error")
        return JSONResponse({"detail": exc.detail, "code": code}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's answer, unless a field error echoes an input JSON cannot carry (NaN, bytes
        # of a non-JSON body, a lone surrogate): its encoder would raise and the client get a
        # 500 with its connection reset. Then those inputs are shown as text.
        errors = exc.errors()
        try:
            return JSONResponse({"detail": jsonable_encoder(errors)}, 422)
        except (ValueError, RecursionError):
            return JSONResponse({"detail": jsonable_encoder([_printable(e) for e in errors])}, 422)
