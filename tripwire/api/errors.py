"""Errors the routes raise and how they become HTTP answers.

Every error answer has the same shape, ``{"detail": "<what happened and what to do>", "code":
"<machine-readable>"}``; FastAPI's own 422 keeps its list of field errors in ``detail``.
Messages built from other systems' exceptions (store, Prefect, a webhook) go through
:class:`Redactor` first, so a password in a URI or a key echoed by a server never reaches a
response or a log.
"""

from __future__ import annotations

import re
from typing import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

RETRY_AFTER_S = "5"


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


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": RETRY_AFTER_S} if exc.status == 503 else None
        if exc.status == 401:
            headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'}
        return JSONResponse({"detail": exc.message, "code": exc.code}, exc.status,
                            headers=headers)
