"""Wire action fields → typed values, raising BadRequest (HTTP 422) for what cannot deserialize.

Only shape is judged here; business rules (tick size, margin, unknown assets) are the core's.
A number that is not a plain decimal numeral within the exchange's range (``"NaN"``,
``"1E+999999999"``, ``" 1990"``, a JSON number, a bool) cannot deserialize, so the whole request
is refused before anything is applied (see :func:`tripwire.sim.exchange.wire.parse_decimal`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TypeGuard

from tripwire.sim.exchange import errors
from tripwire.sim.exchange.errors import BadRequest
from tripwire.sim.exchange.matching import OrderSpec
from tripwire.sim.exchange.orders import Trigger
from tripwire.sim.exchange.wire import MAX_WIRE_MAGNITUDE, MIN_WIRE_MAGNITUDE, parse_decimal

TIFS = ("Gtc", "Ioc", "Alo")
GROUPINGS = ("na", "normalTpsl", "positionTpsl")
# matched with fullmatch: "$" would also accept a trailing newline
_CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_HEX = re.compile(r"0x[0-9a-fA-F]{1,64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def bad(detail: str) -> BadRequest:
    return BadRequest(f"{errors.DESERIALIZE}: {detail}")


def integer(obj: dict, name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value < 0:
        raise bad(f"`{name}` must be a non-negative integer")
    return value


def boolean(obj: dict, name: str) -> bool:
    value = obj.get(name)
    if type(value) is not bool:
        raise bad(f"`{name}` must be a boolean")
    return value


def decimal(obj: dict, name: str) -> Decimal:
    value = obj.get(name)
    d = parse_decimal(value) if isinstance(value, str) else None
    if d is None:
        raise bad(
            f'`{name}` must be a decimal string like "1990.5", zero or of magnitude between '
            f"{MIN_WIRE_MAGNITUDE:.0E} and {MAX_WIRE_MAGNITUDE:.0E}, got {shown(value)}"
        )
    return d


def shown(value: object) -> str:
    """The offending value for an error message, cut short (a body may be up to 1 MB)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def is_address(value: object) -> TypeGuard[str]:
    """``0x`` and 40 hex digits: an account address as the exchange deserializes one."""
    return isinstance(value, str) and _ADDRESS.fullmatch(value) is not None


def cloid(value: object) -> str:
    if not isinstance(value, str) or not _CLOID.fullmatch(value):
        raise bad("cloid must be 0x followed by 32 hex digits")
    return value.lower()


def obj_list(obj: dict, name: str) -> list[dict]:
    value = obj.get(name)
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise bad(f"`{name}` must be a list of objects")
    return value


def order_spec(wire: object) -> OrderSpec:
    """``{a,b,p,s,r,t,c?}`` → OrderSpec."""
    if not isinstance(wire, dict):
        raise bad("order must be an object")
    t = wire.get("t")
    tif = None
    trigger = None
    if isinstance(t, dict) and isinstance(t.get("limit"), dict):
        tif = t["limit"].get("tif")
        if tif not in TIFS:
            raise bad(f"unknown variant `{tif}`, expected one of Alo, Ioc, Gtc")
    elif isinstance(t, dict) and isinstance(t.get("trigger"), dict):
        trig = t["trigger"]
        if trig.get("tpsl") not in ("tp", "sl"):
            raise bad("trigger tpsl must be tp or sl")
        trigger = Trigger(boolean(trig, "isMarket"), decimal(trig, "triggerPx"), trig["tpsl"])
    else:
        raise bad("order type `t` must be {limit:{tif}} or {trigger:{isMarket,triggerPx,tpsl}}")
    c = wire.get("c")
    return OrderSpec(
        asset=integer(wire, "a"),
        is_buy=boolean(wire, "b"),
        limit_px=decimal(wire, "p"),
        sz=decimal(wire, "s"),
        reduce_only=boolean(wire, "r"),
        tif=tif,
        trigger=trigger,
        cloid=cloid(c) if c is not None else None,
    )


def signature(sig: object) -> dict:
    if (
        not isinstance(sig, dict)
        or not isinstance(sig.get("r"), str)
        or not _HEX.fullmatch(sig["r"])
        or not isinstance(sig.get("s"), str)
        or not _HEX.fullmatch(sig["s"])
        or type(sig.get("v")) is not int
    ):
        raise bad("signature must be {r: hex, s: hex, v: int}")
    return sig


def oid_or_cloid(value: object) -> int | str:
    if type(value) is int and value >= 0:
        return value
    return cloid(value)
