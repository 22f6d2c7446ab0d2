"""The simulator's two clocks, and why there are two.

* **Wall clock** (``wall_ms``): what clients sign nonces with, so nonce time bounds are judged
  against it — a replay of 2024 data must still accept a nonce signed now.
* **Market clock** (``now_ms``): the exchange time of the last replayed message, or the wall
  clock when nothing is replaying. Order, fill and funding timestamps, trigger checks and
  scheduleCancel deadlines use it. By default the replay is *rebased* so that its first message
  lands at the wall time the replay started; at ``--speed 1`` the two clocks then agree, so a
  client's ``scheduleCancel(now + 10 s)`` means what it says. At ``--speed 0`` the market
  clock runs ahead of the wall clock.
"""

from __future__ import annotations

import time


def wall_ms() -> int:
    return int(time.time() * 1000)


class MarketClock:
    def __init__(self) -> None:
        self.replay_ms: int | None = None  # set while a replay is running

    def now_ms(self) -> int:
        return self.replay_ms if self.replay_ms is not None else wall_ms()
