"""Numbers on Hyperliquid's wire: decimal strings in, decimal strings out.

The simulator keeps every price, size and balance as :class:`~decimal.Decimal` so that fees and
PnL come out exactly (a test can check ``fee == px * sz * 0.00045`` to the last digit) and
so that a price like ``"0.1"`` is judged by its written digits, not by its nearest binary float.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
USD_QUANTUM = Decimal("0.000001")  # balances and PnL are reported to 6 decimals, like the API

# The exchange holds prices and sizes as fixed-point integers (the SDK scales them by 1e8 to
# hash them), so a wire number of 1e18 or more, or a non-zero one below 1e-18, is far outside
# anything it could hold. The bounds are loose on purpose: they refuse the absurd rather than
# mirror the exchange's exact limits, and inside them every product and quotient the simulator
# computes stays far from Decimal's exponent limits ("1E+999999999" overflowed the first multiply).
MAX_WIRE_MAGNITUDE = Decimal(10) ** 18
MIN_WIRE_MAGNITUDE = Decimal(10) ** -18
# ASCII digits only: Python's Decimal() also takes " 1990", "1_990", "١٩٩٠", "NaN" and "Infinity",
# none of which a client means or the exchange parses.
_NUMERAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_decimal(value: object) -> Decimal | None:
    """A Decimal from a wire numeral (or an int) in the exchange's range, else None.

    None for anything else: bools, floats, non-numerals, NaN, infinities, out-of-range values.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    if isinstance(value, str) and not _NUMERAL.fullmatch(value):
        return None
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite():
        return None
    size = d.copy_abs()  # copy_abs and comparisons ignore the context: they cannot overflow
    return d if size == 0 or MIN_WIRE_MAGNITUDE <= size < MAX_WIRE_MAGNITUDE else None


def market_decimal(value: object, positive: bool = False) -> Decimal:
    """A number from replayed market data, else ValueError, which the replay counts as a bad
    message and skips before the message touches any state (``positive`` for prices and sizes)."""
    d = parse_decimal(value)
    if d is None or (positive and d <= 0):
        raise ValueError(f"not a {'positive ' if positive else ''}wire number: {value!r}"[:200])
    return d


def fmt(d: Decimal) -> str:
    """Decimal → the API's style: no exponent, no trailing zeros, at least one decimal ("26951.0")."""
    if d == 0:
        return "0.0"
    s = format(d.normalize(), "f")
    return s if "." in s else s + ".0"


def fmt_usd(d: Decimal) -> str:
    """A USD amount rounded to 6 decimals, in the API's style."""
    return fmt(d.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN))


def fmt_px(d: Decimal) -> str:
    """A price rounded to 5 significant figures (how the API reports derived prices)."""
    if d == 0:
        return "0.0"
    exp = d.adjusted() - 4
    q = Decimal(1).scaleb(exp) if exp < 0 else Decimal(1)
    return fmt(d.quantize(q, rounding=ROUND_HALF_EVEN))
