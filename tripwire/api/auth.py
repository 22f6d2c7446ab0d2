"""API keys and scopes, as FastAPI dependencies.

A key is sent as ``X-API-Key: <key>`` (or ``Authorization: Bearer <key>``, which is what
Prometheus's scrape config sends). Scopes are ordered, each including the ones before it:
``read`` (look), ``trade`` (pause, decide, fire, cancel, flatten), ``admin`` (reload config,
start Prefect deployments). Routes declare the scope they need with ``Depends(require(...))``.

Keys are compared in constant time: the presented key's SHA-256 is compared with every
configured key's digest with :func:`hmac.compare_digest`, without stopping at a match, so
neither the time to refuse nor the time to accept depends on how much of a key was right or on
which key matched. With no key configured every route but ``/health`` is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tripwire.api.config import SCOPES, KeySpec
from tripwire.api.errors import Forbidden, Unauthorized

KEY_HEADER = "X-API-Key"

_key_header = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="an API key from settings (api.keys)")
_bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (from settings, not secret) and its scope."""

    name: str
    scope: str

    def allows(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


class KeyRing:
    def __init__(self, keys: tuple[KeySpec, ...]):
        self._entries = [(hashlib.sha256(k.secret.encode()).digest(), Principal(k.name, k.scope)) for k in keys]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for key_digest, principal in self._entries:
            if hmac.compare_digest(digest, key_digest) and found is None:
                found = principal
        return found


def authenticate(request: Request, api_key: str | None, bearer: str | None) -> Principal:
    ring: KeyRing = request.app.state.keyring
    sent_key, sent_authorization = request.headers.get(KEY_HEADER), request.headers.get("authorization")
    if sent_key is not None and not sent_key.strip():
        raise Unauthorized(f"empty {KEY_HEADER} header: send the key, or leave the header out")
    if sent_authorization is not None and bearer is None:
        raise Unauthorized("the Authorization header must be 'Bearer <key>' (or send the key in X-API-Key)")
    if api_key and bearer and not hmac.compare_digest(api_key.encode(), bearer.encode()):
        # Which one would we believe? Neither: a proxy or a client that adds its own header
        # must not turn a wrong key into a right one.
        raise Unauthorized(f"two different API keys sent ({KEY_HEADER} and Authorization): send one")
    presented = api_key or bearer
    if not len(ring):
        raise Unauthorized(
            "no API keys are configured (api.keys in settings, each key in its "
            "environment variable); every route but /health is closed"
        )
    if not presented:
        raise Unauthorized(f"missing API key: send it in the {KEY_HEADER} header")
    principal = ring.lookup(presented)
    if principal is None:
        raise Unauthorized("invalid API key")
    return principal


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that admits keys with at least ``scope`` and returns the caller."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {SCOPES}")

    def dependency(
        request: Request,
        api_key: str | None = Depends(_key_header),
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Principal:
        principal = authenticate(request, api_key, bearer.credentials if bearer else None)
        if not principal.allows(scope):
            raise Forbidden(
                f"API key {principal.name!r} has scope {principal.scope!r}; "
                f"{request.method} {request.url.path} needs {scope!r}",
                code="insufficient_scope",
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


# JSON whatever the route's own media type (/events streams text/event-stream, but its refusals
# are JSON like every other route's)
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}
AUTH_REFUSALS: dict[int | str, dict[str, object]] = {
    401: {"content": _ERROR_JSON, "description": "no API key, an unknown or malformed one, or two different ones"},
    403: {"content": _ERROR_JSON, "description": "the key's scope is below the one this route needs"},
}


def document_auth_refusals(router: APIRouter) -> None:
    """Every route of ``router`` that takes a key says, in the OpenAPI schema, that it answers 401
    and 403: clients generated from the schema (and n8n's HTTP node users) see those answers.
    (On the router, before it is included: FastAPI 0.150 includes routers lazily.)"""
    for route in router.routes:
        if isinstance(route, APIRoute) and any(
            getattr(d.call, "__name__", "").startswith("require_") for d in route.dependant.dependencies
        ):
            for status, answer in AUTH_REFUSALS.items():
                route.responses.setdefault(status, answer)
