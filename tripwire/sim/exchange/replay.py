"""Replayed market data for the simulator: files → WS messages, paced and optionally rebased.

Reading is :func:`tripwire.sim.replay.runner.replay_stream` (archive ``.lz4`` or NDJSON files, or
folders of them with asset-context CSVs), optionally with seeded synthetic trades and contexts for
the coins whose data lacks them. Pacing is by
the messages' exchange time: ``speed`` 1 is real time, 10 ten times faster, 0 as fast as
possible (yielding to the event loop every :data:`YIELD_EVERY` messages so requests are served).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from tripwire.sim.exchange.clock import wall_ms

YIELD_EVERY = 200


def message_time(msg: dict) -> int | None:
    """The exchange time of a WS message in ms, when it carries one."""
    data = msg.get("data")
    if isinstance(data, dict) and type(data.get("time")) is int:
        return data["time"]
    if isinstance(data, list) and data and isinstance(data[0], dict) and type(data[0].get("time")) is int:
        return data[0]["time"]
    return None


def rebased(msg: dict, offset_ms: int) -> dict:
    """A copy of ``msg`` with its exchange times shifted by ``offset_ms``."""
    if offset_ms == 0:
        return msg
    data = msg.get("data")
    if isinstance(data, dict) and type(data.get("time")) is int:
        return {**msg, "data": {**data, "time": data["time"] + offset_ms}}
    if isinstance(data, list):
        return {
            **msg,
            "data": [
                {**t, "time": t["time"] + offset_ms} if isinstance(t, dict) and type(t.get("time")) is int else t
                for t in data
            ],
        }
    return msg


@dataclass
class ReplaySpec:
    files: list[str]
    speed: float = 1.0
    synthetic_seed: int | None = None
    rebase: bool = True
    loop: bool = False
    # Keep the market clock at the replay's last time once it ended, instead of falling back to
    # the wall clock (a fast rebased replay ends minutes ahead of it: a time jump backwards).
    hold: bool = False
    # Replay the recording as these coins: its own as recorded, each other one a scaled,
    # time-rotated copy (tripwire.sim.replay.multicoin). Empty: as recorded.
    coins: tuple[str, ...] = ()
    sz_decimals: dict[str, int] = field(default_factory=dict)  # the universe's, to scale copies


def messages(spec: ReplaySpec) -> Iterator[dict]:
    """The raw messages of all files (or folders) in time order, with synthetic trades and
    contexts merged in, when asked, for the coins whose data lacks them."""
    from tripwire.sim.replay.runner import replay_stream

    synthetic = spec.synthetic_seed is not None
    stream: Iterable[dict] = (
        m for m in replay_stream(spec.files, synthetic, spec.synthetic_seed or 0) if isinstance(m, dict)
    )
    if spec.coins:
        from tripwire.sim.replay.multicoin import multi_coin

        stream = multi_coin(stream, spec.coins, spec.sz_decimals)
    return iter(stream)


async def run_replay(
    spec: ReplaySpec, sink: Callable[[dict, int], Awaitable[None] | None], set_clock: Callable[[int | None], None]
) -> int:
    """Feed every message to ``sink(msg, market_ms)`` at the pace asked; returns the count.

    ``set_clock`` receives the market time before each message and, at the end, None (back to
    the wall clock) or, with ``spec.hold``, the last market time again.
    """
    count = 0
    while True:
        start_wall = wall_ms()
        first_t: int | None = None
        offset = 0
        last_t = start_wall
        for msg in messages(spec):
            if not isinstance(msg, dict):
                continue
            t = message_time(msg)
            if t is not None and first_t is None:
                first_t = t
                # Whole minutes, so calendar-minute bars (1m candles, ATR…) cut the replay
                # where they cut the recording and a replay fires what the recording fired.
                offset = (start_wall - t) // 60_000 * 60_000 if spec.rebase else 0
            if t is not None:
                last_t = t + offset
                if spec.speed > 0:
                    due = start_wall + (t - first_t) / spec.speed  # type: ignore[operator]  # first_t is set once t is
                    delay = (due - wall_ms()) / 1000
                    if delay > 0:
                        await asyncio.sleep(delay)
            if spec.speed <= 0 and count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            set_clock(last_t)
            result = sink(rebased(msg, offset), last_t)
            if result is not None:
                await result
            count += 1
        if not spec.loop:
            break
    set_clock(last_t if spec.hold else None)
    return count
