"""HMAC-SHA256 body signatures, one scheme both ways (tripwire → n8n and n8n → tripwire).

Headers::

    X-Tripwire-Timestamp: 1704110400                       (unix seconds)
    X-Tripwire-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed bytes so a captured request cannot be replayed later than
``TOLERANCE_S``; the body is signed as sent (raw bytes), never re-serialised, because two JSON
encoders rarely agree byte for byte. The secret is the environment variable named by
``api.n8n_secret_env``.

Incoming: with the secret set, a mutating request that carries a signature must carry a valid
one; with ``api.require_signature`` every mutating request must be signed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Request

from tripwire.api.errors import Unauthorized

SIGNATURE_HEADER = "X-Tripwire-Signature"
TIMESTAMP_HEADER = "X-Tripwire-Timestamp"
TOLERANCE_S = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str, body: bytes, now_s: float | None = None) -> dict[str, str]:
    """The two headers to send with ``body``."""
    ts = int(time.time() if now_s is None else now_s)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, body, ts)}


def verify(secret: str, body: bytes, timestamp: str | None, sig: str | None, now_s: float | None = None) -> None:
    """Raise :class:`Unauthorized` saying what is wrong, or return if the signature holds."""
    if not sig or not timestamp:
        raise Unauthorized(
            f"unsigned request: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} "
            f"(HMAC-SHA256 of '<timestamp>.<body>', docs/API.md)",
            code="bad_signature",
        )
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized(f"{TIMESTAMP_HEADER} must be unix seconds", code="bad_signature") from None
    now = time.time() if now_s is None else now_s
    if abs(now - ts) > TOLERANCE_S:
        raise Unauthorized(
            f"{TIMESTAMP_HEADER} is {now - ts:.0f} s from this server's clock "
            f"(tolerance {TOLERANCE_S} s): a replay, or clocks out of sync",
            code="bad_signature",
        )
    if not hmac.compare_digest(sig.encode(), signature(secret, body, ts).encode()):
        raise Unauthorized(
            "bad signature: the body or timestamp was altered, or the secret differs", code="bad_signature"
        )


async def check_signature(request: Request) -> None:
    """Dependency for mutating routes: verify the body's signature when required or present."""
    cfg = request.app.state.config
    sig = request.headers.get(SIGNATURE_HEADER)
    if not cfg.n8n_secret or (sig is None and not cfg.require_signature):
        return
    verify(cfg.n8n_secret, await request.body(), request.headers.get(TIMESTAMP_HEADER), sig)
