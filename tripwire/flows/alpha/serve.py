"""``tripwire alpha serve``: the order-book model served to the hot path, off the hot path.

The hot path never runs torch. This process subscribes to its ``md.book.<coin>`` events (the
top 20 levels, at most once a second per coin: docs/EVENTS.md), keeps each coin's last ``N``
books (:class:`~tripwire.flows.alpha.books.BookWindow`), runs the promoted model on every new
book once the window is full, and sends the predicted micro-price move to the hot path as the
external feature ``pred_move_bps`` (``set_feature``, the command the signals flow uses for
``ls_ratio``). Trigger rules can name it; the quoter can skew its quotes by it
(docs/QUOTING.md, ``alpha_skew``).

Failure is never the hot path's problem: a refused or unanswered command is counted and the
next book tries again; when the server stops it sets ``pred_move_bps`` to 0 on every coin it
served, so no stale prediction stays behind (a killed server cannot: the last value stays, as
``ls_ratio``'s does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tripwire.bus import AsyncCommandClient, AsyncSubscriber, CommandError, CommandTimeout
from tripwire.contracts.events import Topics
from tripwire.flows.alpha import transformer
from tripwire.flows.alpha.books import BookWindow, expected_move_bps

log = logging.getLogger("tripwire.alpha")

FEATURE = "pred_move_bps"


@dataclass
class ServeStats:
    books: int = 0
    predictions: int = 0
    sent: int = 0
    refused: int = 0
    timeouts: int = 0
    inference_ms: list[float] = field(default_factory=list)
    last: dict[str, float] = field(default_factory=dict)  # coin → last prediction sent

    def to_dict(self) -> dict[str, Any]:
        lat = np.array(self.inference_ms) if self.inference_ms else None
        return {
            "books": self.books,
            "predictions": self.predictions,
            "sent": self.sent,
            "refused": self.refused,
            "timeouts": self.timeouts,
            "inference_ms_p50": round(float(np.percentile(lat, 50)), 3) if lat is not None else None,
            "inference_ms_p99": round(float(np.percentile(lat, 99)), 3) if lat is not None else None,
            "last": dict(self.last),
        }


class AlphaServer:
    def __init__(
        self,
        model: transformer.Fitted,
        events_address: str,
        commands_address: str,
        coins: list[str],
        timeout_s: float = 2.0,
    ) -> None:
        self.model = model
        self.events_address = events_address
        self.commands_address = commands_address
        self.coins = coins
        self.timeout_s = timeout_s
        n, k = int(model.meta["window"]), int(model.meta["levels"])
        self.windows = {coin: BookWindow(n, k) for coin in coins}
        self.barrier_bps = float(model.meta["barrier_bps"])
        self.stats = ServeStats()
        self.stop = asyncio.Event()

    def predict(self, coin: str) -> float:
        """The predicted move (bps) from ``coin``'s current window; timed."""
        t0 = time.perf_counter()
        p = float(self.model.predict(self.windows[coin].window(self.model.scale))[0])
        self.stats.inference_ms.append((time.perf_counter() - t0) * 1000.0)
        self.stats.predictions += 1
        return round(float(expected_move_bps(p, self.barrier_bps)), 4)

    async def run(self) -> ServeStats:
        sub = AsyncSubscriber(self.events_address, [Topics.md_book(c) for c in self.coins])
        client = AsyncCommandClient(self.commands_address, self.timeout_s)
        try:
            while not self.stop.is_set():
                ev = await sub.recv(timeout_ms=200)
                if ev is None:
                    continue
                d = ev.data
                coin = d.get("coin")
                if coin not in self.windows:
                    continue
                self.stats.books += 1
                if not self.windows[coin].push(int(d.get("time", 0)), d.get("bids") or [], d.get("asks") or []):
                    continue
                if not self.windows[coin].full:
                    continue
                await self._send(client, coin, self.predict(coin))
            for coin in list(self.stats.last):  # no stale prediction left behind
                await self._send(client, coin, 0.0)
        finally:
            sub.close()
            client.close()
        return self.stats

    async def _send(self, client: AsyncCommandClient, coin: str, value: float) -> None:
        try:
            await client.call("set_feature", {"coin": coin, "name": FEATURE, "value": value})
        except CommandError as e:
            self.stats.refused += 1
            log.warning("set_feature %s %s=%s refused: %s", coin, FEATURE, value, e)
        except CommandTimeout:
            self.stats.timeouts += 1
            log.warning("set_feature %s: the hot path did not answer in %.1f s", coin, self.timeout_s)
        else:
            self.stats.sent += 1
            self.stats.last[coin] = value
