"""How a hot-path process (whole, or one market shard) waits out its life."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence


async def run_until_stopped(stop: asyncio.Event, tasks: Sequence[asyncio.Task], log: logging.Logger) -> int:
    """Wait until ``stop`` is set or one of ``tasks`` ends; log a task that died of an error.
    0 when stopped as asked, 1 when a task ended first (the process is not doing its job)."""
    stop_wait = asyncio.create_task(stop.wait())
    await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            log.error("%s stopped: %r", t.get_name(), t.exception())
    return 0 if stop.is_set() else 1
