"""The sim-only routes' requests (``POST /sim/fund``, ``POST /sim/reset``): body → (user, usdc).

These routes have no counterpart on the exchange, so their refusals use the exchange's
whole-request shape, ``{"status": "err", "response": message}``, with HTTP 422, and change nothing.
The ceiling is a sanity bound, not a policy: no test or demo needs a trillion USDC, and a typo
such as ``"1e20"`` should be refused rather than make every margin check meaningless.
"""

from __future__ import annotations

from decimal import Decimal

from tripwire.sim.exchange.parse import is_address, shown
from tripwire.sim.exchange.wire import parse_decimal

MAX_ADMIN_USDC = Decimal(10) ** 12
USAGE = 'expected {"user": "0x…", "usdc": "1000"}'


class AdminRejected(ValueError):
    """The request is refused; ``str(exc)`` says why, in words a user can act on."""


def admin_request(body: object, allow_zero: bool) -> tuple[str, Decimal]:
    """Validate a faucet (``allow_zero=False``) or reset (``allow_zero=True``) body.

    ``usdc`` may be a decimal string or a JSON number; a deposit must be positive, a reset may
    leave the account at zero, and neither may exceed :data:`MAX_ADMIN_USDC`.
    """
    if not isinstance(body, dict):
        raise AdminRejected(USAGE)
    user = body.get("user")
    if not is_address(user):
        raise AdminRejected(f"`user` must be 0x followed by 40 hex digits, got {shown(user)}; {USAGE}")
    raw = body.get("usdc")
    usdc = None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        usdc = parse_decimal(str(raw))  # a float's shortest repr is the number the client wrote
    elif isinstance(raw, str):
        usdc = parse_decimal(raw)
    if usdc is None or usdc > MAX_ADMIN_USDC or (usdc < 0 if allow_zero else usdc <= 0):
        lowest = "at least 0" if allow_zero else "greater than 0"
        raise AdminRejected(
            f"`usdc` must be a decimal amount {lowest} and at most {MAX_ADMIN_USDC:.0E} USDC, got {shown(raw)}"
        )
    return user.lower(), usdc
