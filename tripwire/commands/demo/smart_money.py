"""The demo's smart-money chain on the demo's clock: leaderboard → tracked traders' positions and
orders → signals → the hot path's ``smart_money_bias`` and ``ls_ratio``.

``prefect.yaml`` schedules these flows on the wall clock (the leaderboard daily, positions and
signals every 5 minutes): a demo that replays an hour in a minute would see none of them. So the
demo runs the same flow code (the ``run_…`` coroutines of :mod:`tripwire.flows.scheduled`) on the
*market* clock of the replay, in a thread of its own:

* the leaderboard at start, then every :data:`LEADERBOARD_EVERY_MS` of demo time (so the ranks
  and the likely-active rule see the traders' day as it unfolds);
* the tracked traders' positions and open orders every 5 demo minutes (:00, :05 …), paced by
  the flow's weight budget counted in demo time — ``weight_per_minute`` per demo minute, what the
  exchange would allow at 1× — and planned by the flow (likely active first);
* the signals every 5 demo minutes, 2 minutes after the poll (:02, :07 …), as in prefect.yaml,
  pushed to the hot path; and once at start, so the features exist from the first trigger on.

Where everything comes from is configuration, not this module: the settings in ``demo`` mode
with the simulator as the exchange, so the leaderboard URL and ``/info`` come from
:mod:`tripwire.config.endpoints` (the simulator's ``/leaderboard`` and its simulated traders).
The demo clock is the simulator's market clock, read from the ``time`` of a
``clearinghouseState`` answer (counted against the budget like any request) and extrapolated at
the replay speed between reads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tripwire.commands.demo.live_view import say

MINUTE_MS = 60_000
POLL_EVERY_MS = 5 * MINUTE_MS
SIGNALS_OFFSET_MS = 2 * MINUTE_MS  # as prefect.yaml: signals 2 minutes after the poll
LEADERBOARD_EVERY_MS = 15 * MINUTE_MS
NOBODY = "0x" + "0" * 40  # the clock probe's user: any address answers with the market time
TOP = 5


class DemoClock:
    """The simulator's market clock: the last reading, extrapolated at the replay speed. It
    never goes back (an extrapolation that ran ahead waits for the market to catch up), so the
    weight budget and the schedule, which read it, only see time move forward."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._anchor: tuple[int, float] | None = None
        self._last = 0

    def observe(self, market_ms: int) -> None:
        self._anchor = (market_ms, time.monotonic())

    def now_ms(self) -> int:
        if self._anchor is None:
            now = time.time_ns() // 1_000_000
        else:
            market, wall = self._anchor
            now = int(market + (time.monotonic() - wall) * 1000 * self.speed)
        self._last = max(self._last, now)
        return self._last


def next_at(now_ms: int, every_ms: int, offset_ms: int = 0) -> int:
    """The first ``k·every + offset`` after ``now_ms``."""
    return ((now_ms - offset_ms) // every_ms + 1) * every_ms + offset_ms


@dataclass
class Runs:
    leaderboard: int = 0
    poll: int = 0
    signals: int = 0
    errors: list[str] = field(default_factory=list)
    weight: float = 0.0  # request weight spent (polls and clock reads)
    started_ms: int | None = None  # demo time of the first clock read
    last_poll: dict[str, Any] | None = None
    last_signals: dict[str, Any] | None = None


class SmartMoney:
    """``start()`` after the hot path is up, ``stop()`` before the report."""

    def __init__(self, settings: Any, store_uri: str, commands_address: str, speed: float) -> None:
        self.settings = settings
        self.store_uri = store_uri
        self.commands_address = commands_address
        self.clock = DemoClock(speed)
        self.runs = Runs()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="demo-smart-money", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # -- the loop ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._loop())
        except Exception as e:  # noqa: BLE001 - the demo goes on; the report names it
            self.runs.errors.append(f"smart money stopped: {type(e).__name__}: {e}")
            say(f"smart money stopped: {e}")

    async def _loop(self) -> None:
        from tripwire.config.endpoints import info_url
        from tripwire.flows.scheduled.budget import WeightBudget
        from tripwire.flows.scheduled.config import (
            GenerateSignalsConfig,
            PollTraderPositionsConfig,
            RefreshLeaderboardConfig,
            load_flow_config,
        )
        from tripwire.flows.scheduled.upstream import InfoClient
        from tripwire.flows.store import open_store

        s = self.settings
        self.leaderboard_cfg = load_flow_config(s, "refresh_leaderboard", RefreshLeaderboardConfig)
        self.poll_cfg = load_flow_config(s, "poll_trader_positions", PollTraderPositionsConfig)
        self.signals_cfg = load_flow_config(s, "generate_signals", GenerateSignalsConfig)
        speed = self.clock.speed
        self.budget = WeightBudget(
            self.poll_cfg.weight_per_minute,
            self.poll_cfg.burst_weight,
            clock=lambda: self.clock.now_ms() / 1000,
            sleep=lambda s_: asyncio.sleep(s_ / speed),
        )
        store = open_store(self.store_uri)
        try:
            async with InfoClient(self.poll_cfg.info_url or info_url(s), self.poll_cfg.timeout_s) as info:
                self.runs.started_ms = await self._read_clock(info)
                for step in (self._leaderboard, self._poll, self._signals):  # at start
                    await self._run(step, store, info)
                now = self.clock.now_ms()
                due = {
                    self._leaderboard: now + LEADERBOARD_EVERY_MS,
                    self._poll: next_at(now, POLL_EVERY_MS),
                    self._signals: next_at(now, POLL_EVERY_MS, SIGNALS_OFFSET_MS),
                }
                while not self._stop.is_set():
                    step, at = min(due.items(), key=lambda kv: kv[1])
                    if not await self._wait_until(info, at):
                        break
                    await self._run(step, store, info)
                    every = LEADERBOARD_EVERY_MS if step == self._leaderboard else POLL_EVERY_MS
                    due[step] = next_at(self.clock.now_ms(), every, at % every)
        finally:
            store.close()

    async def _read_clock(self, info: Any) -> int:
        from tripwire.flows.scheduled.budget import info_weight

        await self.budget.spend(info_weight("clearinghouseState"))
        self.runs.weight += info_weight("clearinghouseState")
        market_ms = int((await info.post({"type": "clearinghouseState", "user": NOBODY}))["time"])
        self.clock.observe(market_ms)
        return market_ms

    async def _wait_until(self, info: Any, at_ms: int) -> bool:
        """Sleep (wall time) until the market clock reaches ``at_ms``; False once stopped."""
        while not self._stop.is_set():
            ahead_ms = at_ms - self.clock.now_ms()
            if ahead_ms <= 0:
                if await self._read_clock(info) >= at_ms:
                    return True
                ahead_ms = at_ms - self.clock.now_ms()
            await asyncio.sleep(min(max(ahead_ms, 1) / 1000 / self.clock.speed, 0.25))
        return False

    async def _run(self, step: Any, store: Any, info: Any) -> None:
        try:
            await step(store, info)
        except Exception as e:  # noqa: BLE001 - one failed run is reported; the next one comes
            msg = f"{step.__name__.strip('_')}: {type(e).__name__}: {e}"
            self.runs.errors.append(msg)
            say(f"smart money: {msg}")

    # -- the three flows, as their run_… coroutines ------------------------------------------

    async def _leaderboard(self, store: Any, info: Any) -> None:
        from tripwire.flows.scheduled.refresh_leaderboard import run_refresh_leaderboard
        from tripwire.flows.scheduled.runtime import stats_url

        cfg = self.leaderboard_cfg.model_copy(update={"url": stats_url(self.settings, self.leaderboard_cfg.url)})
        r = await run_refresh_leaderboard(store, cfg, self.clock.now_ms())
        self.runs.leaderboard += 1
        if self.runs.leaderboard == 1:
            say(
                f"smart money: leaderboard from {cfg.url}: {r.tracked} traders tracked, {r.likely_active} likely active"
            )

    async def _poll(self, store: Any, info: Any) -> None:
        from tripwire.flows.scheduled.poll_trader_positions import run_poll_trader_positions

        r = await run_poll_trader_positions(store, info, self.poll_cfg, self.clock.now_ms(), self.budget)
        self.runs.poll += 1
        self.runs.weight += r.weight
        self.runs.last_poll = r.to_dict()

    async def _signals(self, store: Any, info: Any) -> None:
        from tripwire.flows.scheduled.generate_signals import run_generate_signals

        coins = list(self.signals_cfg.push_coins or self.settings.coins)
        r = await run_generate_signals(store, self.commands_address, self.signals_cfg, self.clock.now_ms(), coins)
        self.runs.signals += 1
        self.runs.last_signals = r.to_dict()
        for sig in r.signals:
            if sig.coin in coins:
                say(
                    f"smart money: {sig.coin} {sig.signal} (bias {sig.smart_money_bias:+.2f}, L/S "
                    f"{sig.ls_ratio:.2f}, {sig.n_long} long / {sig.n_short} short of {r.states} polled)"
                    + ("" if r.push is None or r.push.all_ok else "; push to the hot path failed")
                )

    # -- the report --------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The report's ``smart_money`` section: the top traders with their positions and
        orders, the current signal per coin, how many runs and how much weight."""
        from tripwire.flows.store import open_store

        out: dict[str, Any] = {
            "runs": {"leaderboard": self.runs.leaderboard, "poll": self.runs.poll, "signals": self.runs.signals},
            "weight_spent": self.runs.weight,
            "weight_per_demo_minute": getattr(self, "poll_cfg", None) and self.poll_cfg.weight_per_minute,
            "last_poll": self.runs.last_poll,
            "errors": self.runs.errors[-10:],
        }
        store = open_store(self.store_uri)
        try:
            out.update(store_summary(store))
        finally:
            store.close()
        return out


def store_summary(store: Any, top: int = TOP) -> dict[str, Any]:
    """Tracked traders, the best ``top`` with their positions and open orders, and the latest
    signal of each coin, as the store holds them."""
    tracked = store.find("tracked_traders", sort=[("rank", 1)])
    states = {d["address"]: d for d in store.find("trader_current_state")}
    rows = []
    for t in tracked[:top]:
        st = states.get(t["address"]) or {}
        rows.append(
            {
                "rank": t["rank"],
                "address": t["address"],
                "name": t.get("display_name"),
                "score": t.get("score"),
                "account_value": t.get("account_value"),
                "day_pnl": t.get("day_pnl"),
                "likely_active": t.get("likely_active"),
                "positions": {p["coin"]: p["szi"] for p in st.get("positions") or []},
                "open_orders": len(st.get("open_orders") or []),
            }
        )
    latest: dict[str, Any] = {}
    for sig in store.find("signals", sort=[("ts", -1)], limit=200):
        latest.setdefault(sig["coin"], {k: v for k, v in sig.items() if k != "_id"})
    return {
        "tracked": len(tracked),
        "likely_active": sum(bool(t.get("likely_active")) for t in tracked),
        "holding": sum(bool(states.get(t["address"], {}).get("positions")) for t in tracked),
        "with_open_orders": sum(bool(states.get(t["address"], {}).get("open_orders")) for t in tracked),
        "top_traders": rows,
        "signals": latest,
    }


def format_smart_money(section: dict[str, Any] | None) -> str:
    """The report's smart-money lines."""
    if not section:
        return ""
    runs = section.get("runs", {})
    lines = [
        f"smart money        {section.get('tracked', 0)} traders tracked ({section.get('likely_active', 0)} likely "
        f"active), {section.get('holding', 0)} holding positions, {section.get('with_open_orders', 0)} with open "
        f"orders; runs: leaderboard {runs.get('leaderboard', 0)}, polls {runs.get('poll', 0)}, signals "
        f"{runs.get('signals', 0)}; request weight {section.get('weight_spent', 0):,.0f} "
        f"(budget {section.get('weight_per_demo_minute') or 0:,.0f} per demo minute)"
    ]
    for t in section.get("top_traders", []):
        held = ", ".join(f"{c} {sz:+g}" for c, sz in t["positions"].items()) or "flat"
        lines.append(
            f"  #{t['rank']:<3} {(t['name'] or t['address'][:12] + '…'):<22} score {t['score'] or 0:.2f}  "
            f"${t['account_value'] or 0:>11,.0f}  day PnL {t['day_pnl'] or 0:>+10,.2f}"
            f"{'  active' if t['likely_active'] else '        '}  {held}, {t['open_orders']} open orders"
        )
    for coin, s in sorted(section.get("signals", {}).items()):
        lines.append(
            f"signal {coin:<11} {s['signal']}  bias {s['smart_money_bias']:+.2f}  L/S {s['ls_ratio']:.2f}  "
            f"({s['n_long']} long / {s['n_short']} short)"
        )
    lines += [f"  ({e})" for e in section.get("errors", [])]
    return "\n".join(lines)
