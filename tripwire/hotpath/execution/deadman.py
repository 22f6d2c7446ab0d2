"""The exchange-side dead man's switch: keep ``scheduleCancel`` armed while orders are open.

If the hot path dies or loses the network with orders resting, the exchange cancels them all
at the scheduled time. Hyperliquid lets a schedule *trigger* (actually cancel) at most 10 times
per UTC day; arming or moving it is not a trigger. So the switch:

* arms ``now + window_s`` when there are open orders and it is not armed;
* moves the deadline out only when less than ``refresh_below_s`` remains (one action per
  ``window_s − refresh_below_s`` seconds, not per tick);
* clears it when nothing is open;
* counts a trigger whenever a deadline passes while armed (the exchange cancelled, or would
  have), per UTC day; at ``daily_budget`` (8, under the exchange's 10) it stops arming and
  ``cancel_all_on_exit`` tells the shutdown path to cancel everything itself.

:meth:`DeadMansSwitch.due` is the pure decision (tests drive it with any clock);
:meth:`DeadMansSwitch.tick` carries it out through the gateway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["DeadMansSwitch", "DeadmanConfig", "cancel_all_open"]

_DAY_MS = 86_400_000
_MIN_LEAD_S = 5  # the exchange refuses a schedule less than 5 s ahead


@dataclass(frozen=True, slots=True)
class DeadmanConfig:
    window_s: float = 60.0
    refresh_below_s: float = 20.0
    daily_budget: int = 8

    def __post_init__(self) -> None:
        if self.window_s < _MIN_LEAD_S:
            raise ValueError(f"deadman window_s must be at least {_MIN_LEAD_S} s, got {self.window_s}")
        if not 0 < self.refresh_below_s < self.window_s:
            raise ValueError(
                f"deadman refresh_below_s must be within (0, window_s={self.window_s}), got {self.refresh_below_s}"
            )
        if not 1 <= self.daily_budget <= 10:
            raise ValueError(f"deadman daily_budget must be within 1..10, got {self.daily_budget}")


class DeadMansSwitch:
    def __init__(self, cfg: DeadmanConfig = DeadmanConfig()) -> None:
        self.cfg = cfg
        self.armed_until_ms: int | None = None
        self.triggers_today = 0
        self.arms_today = 0
        self._day = -1

    @property
    def exhausted(self) -> bool:
        return self.triggers_today >= self.cfg.daily_budget

    @property
    def cancel_all_on_exit(self) -> bool:
        """True when the exchange-side switch cannot be relied on: cancel everything at exit."""
        return self.exhausted or self.armed_until_ms is None

    def _roll(self, now_ms: int) -> None:
        day = now_ms // _DAY_MS
        if day != self._day:
            self._day, self.triggers_today, self.arms_today = day, 0, 0

    def due(self, open_orders: int, now_ms: int) -> tuple[str, int | None] | None:
        """``("arm", time_ms)``, ``("clear", None)`` or None (nothing to send now)."""
        self._roll(now_ms)
        if self.armed_until_ms is not None and now_ms >= self.armed_until_ms:
            self.triggers_today += 1  # the deadline passed while armed: the exchange fired
            self.armed_until_ms = None
        if open_orders <= 0:
            return ("clear", None) if self.armed_until_ms is not None else None
        if self.exhausted:
            return None
        if self.armed_until_ms is None or self.armed_until_ms - now_ms < self.cfg.refresh_below_s * 1000:
            return ("arm", now_ms + int(self.cfg.window_s * 1000))
        return None

    def on_result(self, kind: str, time_ms: int | None, ok: bool, error: str | None, now_ms: int) -> None:
        """Record the exchange's answer to the step :meth:`due` returned at ``now_ms``."""
        self._roll(now_ms)
        if ok:
            self.armed_until_ms = time_ms if kind == "arm" else None
            self.arms_today += kind == "arm"
        elif error and "too many" in error.lower():
            self.triggers_today = max(self.triggers_today, self.cfg.daily_budget)

    async def tick(self, gateway: Any, open_orders: int, now_ms: int | None = None) -> Any:
        """Arm, refresh or clear as needed; the gateway's result, or None if nothing was sent."""
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        step = self.due(open_orders, now_ms)
        if step is None:
            return None
        kind, time_ms = step
        result = await gateway.schedule_cancel(time_ms)
        self.on_result(kind, time_ms, result.ok, result.error, now_ms)
        return result


async def cancel_all_open(gateway: Any) -> Any:
    """Cancel every open order of the gateway's user (the exit path's fallback); None if none."""
    open_orders = await gateway.info({"type": "openOrders", "user": gateway.user})
    if not open_orders:
        return None
    assets = {name: m.asset for name, m in (gateway.markets or await gateway.load_markets()).items()}
    return await gateway.cancel([(assets[o["coin"]], o["oid"]) for o in open_orders])
