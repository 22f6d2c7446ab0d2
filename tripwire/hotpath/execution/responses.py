"""Exchange answers → typed results: pure functions over ``/exchange`` and ``/info`` bodies.

No I/O and no clocks, so every answer shape (accepted, refused, a lost order, a WebSocket
``post`` refusal, a non-JSON or non-200 HTTP answer) is tested on plain data. The transports
(:mod:`.transports`) deliver the bytes; :class:`~.gateway.Gateway` decides what to do with
the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "ExchangeResult",
    "OrderStatus",
    "action_batch_len",
    "parse_exchange_response",
    "parse_http_answer",
    "parse_order_status",
    "parse_status",
    "parse_ws_answer",
]

# Hyperliquid's answer to an Alo that would cross ("…, bbo was BID@ASK.")
POST_ONLY_REFUSAL = "Post only order would have immediately matched"
# … and to a modify of an order that filled (or was cancelled) on the way
MODIFY_GONE = "Cannot modify canceled or filled order"


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """One entry of ``statuses``: kind is resting, filled, error, waitingForTrigger,
    waitingForFill or success (cancels), or an ``orderStatus`` state after a recovery."""

    kind: str
    oid: int | None = None
    cloid: str | None = None
    total_sz: float | None = None
    avg_px: float | None = None
    error: str | None = None


def is_normal_race(error: str | None) -> bool:
    """A refusal that is the normal race of resting orders, not a fault (not counted as an
    order error, like a cancel of an order that just filled): a post-only (Alo) order the
    book moved onto on the way, or a modify of an order that filled or went meanwhile."""
    return error is not None and error.startswith((POST_ONLY_REFUSAL, MODIFY_GONE))


@dataclass(slots=True)
class ExchangeResult:
    ok: bool  # the whole request was accepted ("status": "ok")
    type: str = ""  # response type: order, cancel, default...
    statuses: list[OrderStatus] = field(default_factory=list)
    error: str | None = None  # whole-request error or transport failure
    uncertain: bool = False  # sent, no answer, not resent: check before acting again
    transport: str = "none"  # ws, http or none (refused before sending)
    nonce: int = 0
    attempts: int = 0
    recovered: bool = False  # statuses come from orderStatus after a lost answer
    written_ns: int | None = None  # order bytes handed to the socket (gateway clock)
    done_ns: int = 0

    @property
    def error_count(self) -> int:
        """Refused requests and refused orders. A cancel of an order that is already gone is
        the normal race with a fill, not a fault, so cancel statuses do not count."""
        counted = self.type != "cancel"
        return (0 if self.ok else 1) + sum(
            1 for s in self.statuses if counted and s.kind == "error" and not is_normal_race(s.error)
        )


def _status_resting(v: dict) -> OrderStatus:
    return OrderStatus("resting", oid=v.get("oid"), cloid=v.get("cloid"))


def _status_filled(v: dict) -> OrderStatus:
    return OrderStatus(
        "filled", oid=v.get("oid"), cloid=v.get("cloid"), total_sz=float(v["totalSz"]), avg_px=float(v["avgPx"])
    )


def _status_error(v: Any) -> OrderStatus:
    return OrderStatus("error", error=str(v))


_STATUS_PARSERS: dict[str, Callable[[Any], OrderStatus]] = {
    "resting": _status_resting,
    "filled": _status_filled,
    "error": _status_error,
}


def parse_status(entry: Any) -> OrderStatus:
    if isinstance(entry, str):  # "waitingForTrigger", "waitingForFill", "success"
        return OrderStatus(entry)
    if isinstance(entry, dict) and len(entry) == 1:
        ((key, value),) = entry.items()
        parser = _STATUS_PARSERS.get(key)
        if parser is not None:
            return parser(value)
    return OrderStatus("error", error=f"unrecognised status {entry!r}")


def parse_exchange_response(resp: Any) -> ExchangeResult:
    """A typed result from an ``/exchange`` answer body (or a WS post ``action`` payload)."""
    if not isinstance(resp, dict):
        return ExchangeResult(False, error=f"unrecognised answer {resp!r:.200}")
    if resp.get("status") != "ok":
        return ExchangeResult(False, error=str(resp.get("response", resp)))
    body = resp.get("response") or {}
    data = body.get("data") if isinstance(body, dict) else None
    statuses = [parse_status(s) for s in (data or {}).get("statuses", [])]
    return ExchangeResult(True, type=body.get("type", "") if isinstance(body, dict) else "", statuses=statuses)


def parse_http_answer(status: int, raw: bytes) -> ExchangeResult:
    """``POST /exchange``'s HTTP status and body → result; a non-200 or non-JSON answer is a
    whole-request error quoting (the start of) what came back."""
    if status != 200:
        return ExchangeResult(False, error=f"HTTP {status}: {raw[:500].decode(errors='replace')}")
    try:
        return parse_exchange_response(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return ExchangeResult(False, error=f"answer is not JSON: {raw[:200]!r}")


def parse_ws_answer(answer: Any) -> ExchangeResult:
    """A WebSocket ``post`` answer (``{"type": "action"|"error", "payload": ...}``) → result."""
    if isinstance(answer, dict) and answer.get("type") == "action":
        return parse_exchange_response(answer.get("payload"))
    payload = answer.get("payload") if isinstance(answer, dict) else answer
    return ExchangeResult(False, error=f"post refused: {payload!r:.500}")


_ORDER_STATUS_KIND = {"open": "resting", "filled": "filled", "triggered": "resting"}


def parse_order_status(resp: Any) -> OrderStatus | None:
    """``orderStatus`` answer → status, or None when the exchange does not know the order."""
    if not isinstance(resp, dict) or resp.get("status") != "order":
        return None
    entry = resp["order"]
    order = entry.get("order", {})
    state = entry.get("status", "")
    return OrderStatus(_ORDER_STATUS_KIND.get(state, state), oid=order.get("oid"), cloid=order.get("cloid"))


def action_batch_len(action: dict) -> int:
    """How many orders, cancels or modifies one action carries (its rate-limit weight's n)."""
    for key in ("orders", "cancels", "modifies"):
        if key in action:
            return len(action[key])
    return 1
