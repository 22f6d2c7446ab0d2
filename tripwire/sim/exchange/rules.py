"""Tick, lot and minimum-notional checks, as the exchange applies them to each order.

Prices: at most 5 significant figures unless the price is an integer, and at most
``6 - szDecimals`` decimals (perps; ``8 - szDecimals`` for spot). Sizes: a multiple of ``10**-szDecimals`` and above zero.
Notional (price × size) at least $10, except reduce-only orders, which may close a small position.
"""

from __future__ import annotations

from decimal import Decimal

from tripwire.sim.exchange import errors
from tripwire.sim.exchange.errors import OrderRejected

MAX_PERP_DECIMALS = 6
MAX_SIG_FIGS = 5
MIN_NOTIONAL_USD = Decimal(10)


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _sig_figs(d: Decimal) -> int:
    return len(d.normalize().as_tuple().digits)


def check_price(px: Decimal, sz_decimals: int, max_decimals: int = MAX_PERP_DECIMALS) -> None:
    """Raise ``Price must be divisible by tick size.`` for a price the exchange would refuse
    (``max_decimals``: 6 for perps, 8 for spot)."""
    if px <= 0:
        raise OrderRejected(errors.TICK)
    if px == px.to_integral_value():
        return
    if _sig_figs(px) > MAX_SIG_FIGS or _decimals(px) > max_decimals - sz_decimals:
        raise OrderRejected(errors.TICK)


def check_size(sz: Decimal, sz_decimals: int) -> None:
    """Raise ``Order has invalid size.`` for a size that is zero or finer than the lot."""
    if sz <= 0 or _decimals(sz) > sz_decimals:
        raise OrderRejected(errors.INVALID_SIZE)


def check_notional(px: Decimal, sz: Decimal, reduce_only: bool) -> None:
    """Raise ``Order must have minimum value of $10.`` below the minimum (not for reduce-only)."""
    if not reduce_only and px * sz < MIN_NOTIONAL_USD:
        raise OrderRejected(errors.MIN_TRADE_NTL)
