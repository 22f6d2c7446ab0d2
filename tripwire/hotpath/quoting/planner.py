"""What to send to make one coin's resting quotes what the strategy wants. Pure.

:class:`CoinQuoting` holds one coin's state (its resting quotes, the volatility estimate, the
quote budget) and answers each book update with the fewest actions that bring the resting
quotes to the desired ones (:func:`plan`):

* a quote that should no longer rest (pulled, at max inventory) → one ``cancel`` for the sides
  concerned;
* a quote that should move further than ``refresh_bps``, or change size → ``modify`` (one
  ``batchModify`` for both sides: one action, one weight, a new cloid per revision);
* a side not resting that should → ``place`` (one Alo ``order`` action for both sides).

Only one action per coin is in flight at a time (the shell waits for its answer); a pull is
never held back by the budget, a refresh is (:class:`~tripwire.hyperliquid.ratelimit.RateLimiter`
of its own, a share of the account's 1,200 weight a minute, so triggers and protection always
find room).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tripwire.hotpath.quoting.model import Quote, QuoteParams, Volatility, desired_quote, moved_bps
from tripwire.hyperliquid.ratelimit import RateLimiter

BID, ASK = "bid", "ask"
SIDES = (BID, ASK)
PLACE, MODIFY, CANCEL = "place", "modify", "cancel"


@dataclass(slots=True)
class Resting:
    """A quote of ours on the exchange (or on its way there)."""

    side: str
    px: float
    sz: float
    cloid: str
    oid: int | None = None


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # PLACE | MODIFY | CANCEL
    side: str
    px: float = 0.0
    sz: float = 0.0


def plan(want: Quote | None, resting: dict[str, Resting], refresh_bps: float) -> list[Op]:
    """The ops that make ``resting`` equal ``want`` (None: pull everything), at most one per side."""
    ops: list[Op] = []
    for side in SIDES:
        have = resting.get(side)
        px = None if want is None else (want.bid_px if side == BID else want.ask_px)
        sz = 0.0 if want is None else (want.bid_sz if side == BID else want.ask_sz)
        if px is None:
            if have is not None:
                ops.append(Op(CANCEL, side))
            continue
        if have is None:
            ops.append(Op(PLACE, side, px, sz))
        elif sz != have.sz or moved_bps(have.px, px) > refresh_bps:
            ops.append(Op(MODIFY, side, px, sz))
    return ops


@dataclass
class CoinQuoting:
    """One coin's quoting state, shared by the running hot path and the backtest."""

    coin: str
    params: QuoteParams
    sz_decimals: int
    vol: Volatility
    budget: RateLimiter
    resting: dict[str, Resting] = field(default_factory=dict)
    revision: int = 0
    in_flight: bool = False
    paused: str = ""  # why quoting is paused on the coin now ("" = quoting)
    last_quote: Quote | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def on_book(self, mid: float, t_ms: int) -> None:
        self.vol.observe(mid, t_ms)

    def decide(
        self,
        mid: float,
        best_bid: float,
        best_ask: float,
        position: float,
        pause: str,
        now_s: float,
        skew_bps: float = 0.0,
    ) -> list[Op]:
        """The ops to send now (empty while an action is in flight or nothing has to change).

        ``pause`` is why the coin must not quote now ("" if it may): a breaker, stale data, a
        trigger on the coin. Pulling is never refused by the budget; a refresh waits for it.
        """
        if self.in_flight:
            return []
        self.paused = pause
        want = None
        if not pause:
            want = desired_quote(
                self.params, mid, best_bid, best_ask, position, self.vol.sigma, self.sz_decimals, skew_bps
            )
            self.last_quote = want
        ops = plan(want, self.resting, self.params.refresh_bps)
        if not ops:
            return ops
        pulling = all(op.kind == CANCEL for op in ops)
        if not self.budget.try_acquire(_weight(ops), now_s) and not pulling:
            self._count("budget_skipped")
            return []
        return ops

    def next_cloid_leg(self, side: str) -> str:
        """The leg name of a new quote revision (a new cloid: a modify may not reuse an open one)."""
        self.revision += 1
        return f"{side}.{self.revision}"

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def _weight(ops: list[Op]) -> int:
    """Actions the ops take: one per kind present (each kind is one batched action)."""
    return len({op.kind for op in ops})
