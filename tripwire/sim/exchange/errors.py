"""Hyperliquid's error strings, in one place, and the two ways the simulator raises them.

The exchange answers a bad action in one of three shapes, and callers depend on which:

* a body that cannot deserialize (a missing field, a wrong type, a number that is not a decimal
  numeral in range such as ``"1E+999999999"``): HTTP 422 with axum's plain text — raised here as
  :class:`BadRequest`; nothing in the request is applied and its nonce stays unused;
* a whole-request failure, ``{"status": "err", "response": "<message>"}`` — raised here as
  :class:`RequestRejected`, and nothing in the request is applied;
* a per-order failure inside an ok response, ``{"error": "<message>"}`` in ``statuses`` —
  raised as :class:`OrderRejected` and caught per order, so the other orders of a batch proceed.
  These are business rejections (tick, margin, post-only would cross) of a well-formed request.

An exception none of these anticipated is a simulator bug: the server answers it in JSON
(:data:`INTERNAL`, HTTP 500) and counts it, never with a plain-text 500.

Strings marked "documented" are copied from Hyperliquid's error-responses page (see
``tests/data/hyperliquid/reference/exchange_error_messages.json``); the others follow the
wording seen in public client captures and are listed as such in ``docs/SIMULATOR.md``.
"""

from __future__ import annotations


class SimError(Exception):
    """Base class: ``message`` is exactly the text the exchange would send."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RequestRejected(SimError):
    """The whole request fails: ``{"status": "err", "response": message}``; no state changes."""


class OrderRejected(SimError):
    """One order fails: ``{"error": message}`` in its status slot; the batch continues."""


class BadRequest(SimError):
    """The body does not deserialize into the request type: HTTP 422 with ``message``."""


# -- per-order, documented -----------------------------------------------------------------------
TICK = "Price must be divisible by tick size."
MIN_TRADE_NTL = "Order must have minimum value of $10."
PERP_MARGIN = "Insufficient margin to place order."
REDUCE_ONLY = "Reduce only order would increase position."
BAD_ALO_PX = "Post only order would have immediately matched, bbo was {bbo}."
IOC_CANCEL = "Order could not immediately match against any resting orders."
BAD_TRIGGER_PX = "Invalid TP/SL price."
MARKET_NO_LIQUIDITY = "No liquidity available for market order."
MISSING_ORDER = "Order was never placed, already canceled, or filled."

# -- per-order, from public captures -------------------------------------------------------------
INVALID_SIZE = "Order has invalid size."
CANNOT_MODIFY = "Cannot modify canceled or filled order"

# -- whole request -------------------------------------------------------------------------------
MUST_DEPOSIT = "Must deposit before performing actions. User: {user}"
DUPLICATE_NONCE = "Invalid nonce: duplicate nonce {nonce}"
NONCE_TOO_LOW = "Invalid nonce: nonce {nonce} is lower than the smallest of the 100 highest nonces"
NONCE_OUT_OF_WINDOW = "Invalid nonce: nonce {nonce} is not within (now - 2 days, now + 1 day)"
EXPIRED = "Action expired: expiresAfter {expires_after} is before {now}"
UNKNOWN_ASSET = "Unknown asset {asset}"
INVALID_LEVERAGE = "Invalid leverage value"
SCHEDULE_TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds after current time"
SCHEDULE_TOO_MANY = "Too many scheduled cancels triggered today"
UNSUPPORTED_ACTION = "Unsupported action type in simulator: {type}"

# -- HTTP level (the exchange's web framework, axum, phrases these) ------------------------------
BAD_JSON = "Failed to parse the request body as JSON"
DESERIALIZE = "Failed to deserialize the JSON body into the target type"

# -- the simulator's own: an exception no rule anticipated (a bug), answered in JSON with HTTP 500
INTERNAL = "Simulator internal error: {error}"
