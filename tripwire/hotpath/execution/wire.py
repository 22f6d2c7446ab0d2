"""Building Hyperliquid L1 actions: the dicts that are msgpack-hashed, signed and posted.

The contract is byte equality with the official SDK (``hyperliquid.utils.signing``): the server
re-hashes the action it receives, so a different key order, ``1`` instead of ``True`` or ``"1.0"``
instead of ``"1"`` produces a signature that recovers to a stranger's address and the order is
rejected ("User or API Wallet ... does not exist"). Tests compare every builder here with the
SDK's; the SDK itself is not imported at run time.

Price and size rounding follow the SDK's ``examples/rounding.py`` (see HYPERLIQUID.md, TICK/LOT).
"""

from __future__ import annotations

import math
import operator
from decimal import Decimal
from typing import Any

__all__ = [
    "GROUPINGS",
    "MAX_DECIMALS_PERP",
    "MAX_DECIMALS_SPOT",
    "float_to_wire",
    "order_action",
    "order_type_wire",
    "order_wire",
    "round_px",
    "round_sz",
]

GROUPINGS = frozenset({"na", "normalTpsl", "positionTpsl"})
MAX_DECIMALS_PERP = 6
MAX_DECIMALS_SPOT = 8
_INTEGER_PX_ABOVE = 100_000  # above this only integers are sensible (and always valid)
_HEX = frozenset("0123456789abcdefABCDEF")

# Below this magnitude stripping zeros from f"{x:.8f}" equals the SDK's Decimal.normalize();
# above ~1e27 normalize() rounds to the default 28-digit context, so we take the SDK's path.
_FAST_FORMAT_LIMIT = 1e15


def float_to_wire(x: float) -> str:
    """``x`` as the 8-decimal, trailing-zero-free string the SDK puts on the wire.

    Raises ``ValueError("float_to_wire causes rounding", x)`` exactly when the SDK does (the
    value has a digit beyond the 8th decimal). Deliberate difference: NaN and infinities raise
    here, where the SDK would emit ``"NaN"``/``"Infinity"``. Like the SDK, a negative zero
    (or a negative value under 5e-9) comes out as ``"-0"``.
    """
    if not math.isfinite(x):
        raise ValueError(f"float_to_wire: {x!r} is not a finite number")
    rounded = f"{x:.8f}"
    if abs(float(rounded) - x) >= 1e-12:
        raise ValueError("float_to_wire causes rounding", x)
    if -_FAST_FORMAT_LIMIT < x < _FAST_FORMAT_LIMIT:
        # There is always a '.', so rstrip("0") stops at it at the latest.
        return rounded.rstrip("0").rstrip(".")
    return f"{Decimal(rounded).normalize():f}"


def order_type_wire(order_type: dict[str, Any]) -> dict[str, Any]:
    """The SDK's ``order_type_to_wire``: limit passes through, a trigger price becomes a string.

    ``{"limit": {"tif": "Gtc"|"Ioc"|"Alo"}}`` or
    ``{"trigger": {"triggerPx": float, "isMarket": bool, "tpsl": "tp"|"sl"}}``.
    """
    if "limit" in order_type:
        return {"limit": order_type["limit"]}
    if "trigger" in order_type:
        trigger = order_type["trigger"]
        return {
            "trigger": {
                "isMarket": trigger["isMarket"],
                "triggerPx": float_to_wire(trigger["triggerPx"]),
                "tpsl": trigger["tpsl"],
            }
        }
    raise ValueError(f"order type must have a 'limit' or a 'trigger' entry, got {order_type!r}")


def order_wire(
    asset: int,
    is_buy: bool,
    limit_px: float,
    sz: float,
    reduce_only: bool,
    order_type: dict[str, Any],
    cloid: str | None = None,
) -> dict[str, Any]:
    """One order as the SDK's ``order_request_to_order_wire`` builds it: keys a, b, p, s, r, t, c.

    ``asset`` is the numeric asset id (perp index, 10000+spot index, ...), ``cloid`` the raw
    client order id (``"0x"`` + 32 hex digits, what ``Cloid.to_raw()`` returns) or None.
    Prices and sizes must already be rounded (:func:`round_px`, :func:`round_sz`).
    """
    wire: dict[str, Any] = {
        "a": operator.index(asset),
        "b": _as_bool(is_buy, "is_buy"),
        "p": float_to_wire(limit_px),
        "s": float_to_wire(sz),
        "r": _as_bool(reduce_only, "reduce_only"),
        "t": order_type_wire(order_type),
    }
    if cloid is not None:
        wire["c"] = _check_cloid(cloid)
    return wire


def order_action(
    wires: list[dict[str, Any]], grouping: str | dict[str, int] = "na", builder: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``order`` action for a batch of :func:`order_wire` dicts (SDK ``order_wires_to_order_action``).

    ``grouping`` is "na", "normalTpsl", "positionTpsl" (or the SDK's ``{"p": int}``).
    ``builder`` is ``{"b": address, "f": fee in tenths of a basis point}``; as in the SDK's
    ``Exchange.bulk_orders`` the address is lowercased (into a new dict, the caller's is untouched).
    """
    if not (
        grouping in GROUPINGS if isinstance(grouping, str) else isinstance(grouping, dict) and set(grouping) == {"p"}
    ):
        raise ValueError(f"grouping must be one of {sorted(GROUPINGS)} (or {{'p': int}}), got {grouping!r}")
    action: dict[str, Any] = {"type": "order", "orders": wires, "grouping": grouping}
    if builder:
        action["builder"] = {"b": builder["b"].lower(), "f": operator.index(builder["f"])}
    return action


def round_px(px: float, sz_decimals: int, is_perp: bool = True) -> float:
    """``px`` rounded to a price the exchange accepts (SDK examples/rounding.py).

    At most 5 significant figures and at most ``6 - sz_decimals`` decimals (``8 - sz_decimals``
    for spot); above 100 000 an integer, since integer prices are always accepted.
    Rounds to nearest; push the price further yourself if crossing matters.
    """
    max_decimals = MAX_DECIMALS_PERP if is_perp else MAX_DECIMALS_SPOT
    if not 0 <= sz_decimals <= max_decimals:
        raise ValueError(f"sz_decimals must be within 0..{max_decimals}, got {sz_decimals}")
    if not (math.isfinite(px) and px > 0):
        raise ValueError(f"price must be a positive finite number, got {px!r}")
    if px > _INTEGER_PX_ABOVE:
        return float(round(px))
    rounded = round(float(f"{px:.5g}"), max_decimals - sz_decimals)
    if rounded == 0:
        raise ValueError(f"price {px!r} rounds to 0 at {max_decimals - sz_decimals} decimals")
    return rounded


def round_sz(sz: float, sz_decimals: int) -> float:
    """``sz`` rounded to nearest at ``sz_decimals`` decimals (the asset's lot size).

    May round a small size to 0.0; callers decide whether that is an order.
    """
    if sz_decimals < 0:
        raise ValueError(f"sz_decimals must be >= 0, got {sz_decimals}")
    if not (math.isfinite(sz) and sz >= 0):
        raise ValueError(f"size must be a non-negative finite number, got {sz!r}")
    return round(sz, sz_decimals) + 0.0  # + 0.0 keeps a -0.0 from ever reaching the wire


def _as_bool(value: object, name: str) -> bool:
    # msgpack packs True and 1 differently, so a numpy bool or an int here would change the hash.
    if value is True or value is False:
        return value
    if type(value).__name__ == "bool_":  # numpy.bool_ without importing numpy
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")


def _check_cloid(cloid: str) -> str:
    if not (isinstance(cloid, str) and len(cloid) == 34 and cloid.startswith("0x") and _HEX.issuperset(cloid[2:])):
        raise ValueError(f"cloid must be '0x' followed by 32 hex digits (16 bytes), got {cloid!r}")
    return cloid
