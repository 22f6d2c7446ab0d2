"""Simulated cross-margin accounts: USDC balance, positions, leverage settings, PnL and funding.

Every account is cross margin. ``updateLeverage`` with ``isCross: false`` is recorded and
reported as ``"isolated"`` but the margin maths stays cross (documented in docs/SIMULATOR.md).
Money is Decimal; the balance is the account's raw USDC (deposits + realized PnL − fees ±
funding), and account value adds the unrealized PnL of positions at the mark prices passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tripwire.sim.exchange.spot import SpotBalance, SpotWallet
from tripwire.sim.exchange.wire import MAX_WIRE_MAGNITUDE, ZERO, fmt, fmt_px, fmt_usd

DEFAULT_LEVERAGE = 20


def _stored(value: object) -> Decimal:
    """A number from the accounts file (written as ``str(Decimal)``, so any exponent may appear)."""
    d = Decimal(str(value))
    if not d.is_finite() or d.copy_abs() >= MAX_WIRE_MAGNITUDE:
        raise ValueError(f"not a usable amount: {value!r}"[:200])
    return d


@dataclass
class Position:
    szi: Decimal = ZERO
    entry_px: Decimal = ZERO
    funding_all_time: Decimal = ZERO
    funding_since_open: Decimal = ZERO
    funding_since_change: Decimal = ZERO


@dataclass
class FillResult:
    """What one fill did to the account, as the API's fill record reports it."""

    closed_pnl: Decimal
    start_position: Decimal
    direction: str


@dataclass
class Account:
    address: str
    balance: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, tuple[bool, int]] = field(default_factory=dict)  # coin -> (is_cross, value)
    fills: list[dict] = field(default_factory=list)
    funding: list[dict] = field(default_factory=list)
    # Deposits minus withdrawals: what the leaderboard subtracts from account value to get PnL.
    net_deposits: Decimal = ZERO
    # the spot side (tokens and spot USDC), apart from the perp margin above: spotClearinghouseState
    spot: SpotWallet = field(default_factory=SpotWallet)

    # -- settings ------------------------------------------------------------------------------

    def leverage_of(self, coin: str, max_leverage: int) -> tuple[bool, int]:
        return self.leverage.get(coin, (True, min(DEFAULT_LEVERAGE, max_leverage)))

    def position(self, coin: str) -> Decimal:
        p = self.positions.get(coin)
        return p.szi if p else ZERO

    # -- trading -------------------------------------------------------------------------------

    def apply_fill(self, coin: str, is_buy: bool, px: Decimal, sz: Decimal, fee: Decimal) -> FillResult:
        """Move the position by one fill, realize PnL on the closed part, charge ``fee``."""
        pos = self.positions.setdefault(coin, Position())
        old = pos.szi
        signed = sz if is_buy else -sz
        closed = ZERO
        if old == 0 or (old > 0) == is_buy:
            total = abs(old) + sz
            pos.entry_px = (abs(old) * pos.entry_px + sz * px) / total
            direction = "Open Long" if is_buy else "Open Short"
            if old == 0:
                pos.funding_since_open = ZERO
        else:
            closing = min(sz, abs(old))
            closed = closing * (px - pos.entry_px) * (1 if old > 0 else -1)
            if sz > abs(old):
                pos.entry_px = px
                pos.funding_since_open = ZERO
                direction = "Long > Short" if old > 0 else "Short > Long"
            else:
                direction = "Close Long" if old > 0 else "Close Short"
        pos.szi = old + signed
        pos.funding_since_change = ZERO
        if pos.szi == 0:
            del self.positions[coin]
        self.balance += closed - fee
        return FillResult(closed, old, direction)

    def apply_funding(self, coin: str, payment: Decimal) -> None:
        """Credit (positive) or charge (negative) one funding payment to a position."""
        pos = self.positions.get(coin)
        if pos is None:
            return
        self.balance += payment
        pos.funding_all_time += payment
        pos.funding_since_open += payment
        pos.funding_since_change += payment

    # -- valuation -----------------------------------------------------------------------------

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        return sum((p.szi * (marks.get(c, p.entry_px) - p.entry_px) for c, p in self.positions.items()), ZERO)

    def account_value(self, marks: dict[str, Decimal]) -> Decimal:
        return self.balance + self.unrealized(marks)

    def margin_used(self, marks: dict[str, Decimal], max_leverage: dict[str, int]) -> Decimal:
        total = ZERO
        for coin, p in self.positions.items():
            _cross, lev = self.leverage_of(coin, max_leverage.get(coin, DEFAULT_LEVERAGE))
            total += abs(p.szi) * marks.get(coin, p.entry_px) / lev
        return total

    def clearinghouse_state(self, marks: dict[str, Decimal], max_leverage: dict[str, int], now_ms: int) -> dict:
        """The ``clearinghouseState`` answer for this account."""
        value = self.account_value(marks)
        margin_total = ZERO
        ntl_total = ZERO
        signed_ntl = ZERO
        asset_positions = []
        for coin, p in self.positions.items():
            mark = marks.get(coin, p.entry_px)
            max_lev = max_leverage.get(coin, DEFAULT_LEVERAGE)
            is_cross, lev = self.leverage_of(coin, max_lev)
            ntl = abs(p.szi) * mark
            margin = ntl / lev
            upnl = p.szi * (mark - p.entry_px)
            entry_margin = abs(p.szi) * p.entry_px / lev
            margin_total += margin
            ntl_total += ntl
            signed_ntl += p.szi * mark
            asset_positions.append(
                {
                    "type": "oneWay",
                    "position": {
                        "coin": coin,
                        "szi": fmt(p.szi),
                        "leverage": {"type": "cross" if is_cross else "isolated", "value": lev},
                        "entryPx": fmt_px(p.entry_px),
                        "positionValue": fmt_usd(ntl),
                        "unrealizedPnl": fmt_usd(upnl),
                        "returnOnEquity": fmt(
                            ((upnl / entry_margin) if entry_margin else ZERO).quantize(Decimal("1e-8"))
                        ),
                        "liquidationPx": self._liquidation_px(coin, p, value - upnl, max_lev),
                        "marginUsed": fmt_usd(margin),
                        "maxLeverage": max_lev,
                        "cumFunding": {
                            "allTime": fmt_usd(-p.funding_all_time),
                            "sinceOpen": fmt_usd(-p.funding_since_open),
                            "sinceChange": fmt_usd(-p.funding_since_change),
                        },
                    },
                }
            )
        summary = {
            "accountValue": fmt_usd(value),
            "totalNtlPos": fmt_usd(ntl_total),
            "totalRawUsd": fmt_usd(value - signed_ntl),
            "totalMarginUsed": fmt_usd(margin_total),
        }
        return {
            "marginSummary": summary,
            "crossMarginSummary": dict(summary),
            "crossMaintenanceMarginUsed": fmt_usd(margin_total / 2),
            "withdrawable": fmt_usd(max(ZERO, value - margin_total)),
            "assetPositions": asset_positions,
            "time": now_ms,
        }

    @staticmethod
    def _liquidation_px(coin: str, p: Position, other_value: Decimal, max_lev: int) -> str | None:
        """Price at which account value falls to maintenance margin (half of initial at max leverage).

        ``other_value`` is the account value without this position's unrealized PnL; other
        positions are held at their current marks. None when no positive price liquidates.
        """
        mm = Decimal(1) / (2 * max_lev)
        size = abs(p.szi)
        if p.szi > 0:
            px = (size * p.entry_px - other_value) / (size * (1 - mm))
        else:
            px = (other_value + size * p.entry_px) / (size * (1 + mm))
        return fmt_px(px) if px > 0 else None

    # -- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "balance": str(self.balance),
            "positions": {
                c: {
                    "szi": str(p.szi),
                    "entryPx": str(p.entry_px),
                    "fundingAllTime": str(p.funding_all_time),
                    "fundingSinceOpen": str(p.funding_since_open),
                    "fundingSinceChange": str(p.funding_since_change),
                }
                for c, p in self.positions.items()
            },
            "leverage": {c: {"isCross": cross, "value": v} for c, (cross, v) in self.leverage.items()},
            "fills": self.fills[-2000:],
            "funding": self.funding[-2000:],
            "netDeposits": str(self.net_deposits),
            "spot": self.spot.to_json(),
        }

    @classmethod
    def from_json(cls, address: str, data: dict) -> Account:
        """Raises ValueError (or KeyError, TypeError, ArithmeticError) for a record that would
        poison later arithmetic: a non-finite or absurd number, a leverage below 1."""
        acct = cls(address=address, balance=_stored(data.get("balance", "0")))
        # A file written before deposits were recorded: its balance counts as deposited, so the
        # leaderboard's PnL starts at the load.
        acct.net_deposits = _stored(data.get("netDeposits", data.get("balance", "0")))
        for coin, p in data.get("positions", {}).items():
            acct.positions[coin] = Position(
                _stored(p["szi"]),
                _stored(p["entryPx"]),
                _stored(p.get("fundingAllTime", "0")),
                _stored(p.get("fundingSinceOpen", "0")),
                _stored(p.get("fundingSinceChange", "0")),
            )
        for coin, lv in data.get("leverage", {}).items():
            value = int(lv["value"])
            if value < 1:
                raise ValueError(f"leverage of {coin} must be at least 1, got {value}")
            acct.leverage[coin] = (bool(lv["isCross"]), value)
        acct.fills = list(data.get("fills", []))
        acct.funding = list(data.get("funding", []))
        for token, b in data.get("spot", {}).items():
            acct.spot.balances[str(token)] = SpotBalance(_stored(b["total"]), _stored(b.get("entryNtl", "0")))
        return acct
