"""Queue position of a resting order: how much of the displayed size at its price is ahead of it.

The replay shows the market's book, not its queue, so a resting order's place in line is an
estimate. Without a queue model (the simulator's default) a resting order fills as soon as a
trade prints at its price; with one it fills only after the size estimated ahead of it has
traded. The two models are hftbacktest's (``RiskAdverseQueueModel`` and ``ProbQueueModel`` with
its ``PowerProbQueueFunc``), on Decimal sizes:

* on placement the queue ahead is the book's displayed size at the order's price on its own
  side (zero if the order improves the price: nobody is ahead of it); for a price deeper than
  the snapshot shows it is unknown, and becomes the level's size when a snapshot shows it;
* a trade at the order's price takes from the front: ``ahead −= trade size``; what the trade
  has left once ``ahead`` is below zero fills the order (rounded down to the lot);
* a new snapshot changes the size displayed at the order's price:
  - ``risk_averse``: ahead = min(ahead, new size). A cancellation is assumed to come from
    behind us unless the level has shrunk below our estimate; only trades move us forward.
  - ``probabilistic``: a decrease not explained by the trades since the last snapshot is split
    between the front and the back of the queue with the probability
    ``p = back^n / (back^n + front^n)`` that it came from behind (n = 2 by default), so the
    nearer the front the order is, the less the cancellations ahead of it help.
* a trade *through* the price (a buy order and a trade below its price) or a snapshot whose
  opposite side reaches the price fills the order whatever the queue: everything at that price
  has traded. (The matcher handles those; this module only keeps ``ahead``.)

Pure: no engine, no I/O. :class:`QueuePosition` is the per-order state.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

ZERO = Decimal(0)
MODELS = ("risk_averse", "probabilistic")


@dataclass
class QueuePosition:
    ahead: Decimal | None  # displayed size estimated in front of it; None: its price is deeper
    # than the snapshot shows (nothing known until a snapshot shows the level)
    level: Decimal  # the size displayed at its price at the last snapshot
    traded: Decimal = ZERO  # traded at its price since that snapshot (probabilistic model)


@dataclass(frozen=True)
class QueueModel:
    """``risk_averse`` or ``probabilistic`` (with power ``n``)."""

    name: str = "risk_averse"
    n: float = 2.0

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise ValueError(f"unknown queue model {self.name!r}: expected one of {', '.join(MODELS)}")
        if not self.n > 0:
            raise ValueError(f"queue model power n must be > 0, got {self.n}")

    def new_order(self, level_sz: Decimal | None) -> QueuePosition:
        """An order joins the back of a level displaying ``level_sz`` (0: it is alone; None: the
        level is beyond the depth the snapshot shows)."""
        return QueuePosition(ahead=level_sz, level=ZERO if level_sz is None else level_sz)

    def trade(self, q: QueuePosition, sz: Decimal, lot: Decimal) -> Decimal:
        """A trade of ``sz`` at the order's price; returns the size it fills (a multiple of ``lot``)."""
        q.traded += sz
        if q.ahead is None:  # unknown place in line: only a trade through the price fills it
            return ZERO
        q.ahead -= sz
        if q.ahead >= 0:
            return ZERO
        filled = ((-q.ahead) / lot).to_integral_value(rounding=ROUND_DOWN) * lot
        q.ahead = ZERO
        return filled

    def depth(self, q: QueuePosition, new_level: Decimal) -> None:
        """A snapshot shows ``new_level`` at the order's price (0: the level is gone)."""
        prev, traded = q.level, q.traded
        q.level, q.traded = new_level, ZERO
        if q.ahead is None:  # the level comes into view: everything shown is ahead of it
            q.ahead = new_level
            return
        if self.name == "risk_averse":
            q.ahead = min(q.ahead, new_level)
            return
        chg = prev - new_level - traded  # the decrease trades do not explain: cancellations
        if chg <= 0:
            q.ahead = min(q.ahead, new_level)
            return
        front = float(max(q.ahead, ZERO))
        back = max(float(prev) - front, 0.0)
        p = _prob_behind(front, back, self.n)
        est = front - (1.0 - p) * float(chg) + min(back - p * float(chg), 0.0)
        q.ahead = min(Decimal(repr(max(est, 0.0))), new_level)


def _prob_behind(front: float, back: float, n: float) -> float:
    """hftbacktest's ``PowerProbQueueFunc``: the chance a cancellation came from behind us."""
    fb, ff = float(back**n), float(front**n)
    if fb + ff == 0.0:
        return 1.0
    return fb / (fb + ff)
