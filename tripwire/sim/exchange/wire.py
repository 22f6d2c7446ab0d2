"""Numbers on Hyperliquid's wire: decimal strings in, decimal strings out.

The simulator keeps every price, size and balance as :class:`~decimal.Decimal` so that fees and
PnL come out exactly (a test can check ``fee == px * sz * 0.00045`` to the last digit) and
so that a price like ``"0.1"`` is judged by its written digits, not by its nearest binary float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
USD_QUANTUM = Decimal("0.000001")  # balances and PnL are reported to 6 decimals, like the API


def parse_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a wire string (or int), else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


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
