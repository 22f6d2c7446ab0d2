"""One running system for the dashboard tests: the simulator and a real hot path process
(``tests/hotpath/runtime/harness.rig``: real WebSocket, real ZeroMQ bus) on their own thread and
loop, and the real API (uvicorn, real HTTP) commanding that hot path. The dashboard attaches as
a user would: to the API's URL with a key, and to the hot path's PUB socket."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from tests.api.conftest import ENV, KEYS, api_settings, serve, short_dir
from tests.fixtures import RECORDING
from tests.hotpath.runtime.harness import Rig, rig
from tripwire.config.settings import BusSettings, load_settings
from tripwire.sim.exchange.replay import ReplaySpec


class System:
    def __init__(self) -> None:
        self.run_dir = short_dir()
        self.loop = asyncio.new_event_loop()
        self._up = threading.Event()
        self._stop: asyncio.Event | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True, name="watch-system")
        self.thread.start()
        assert self._up.wait(90), f"hot path and simulator did not start: {self.failure!r}"
        addrs = self.rig.proc.addresses
        settings = load_settings(
            "config/settings.yaml",
            bus=BusSettings(events=addrs.events, commands=addrs.commands),
            exchange={"api_url": self.rig.sim.url},  # the simulator behind /sim/reset and /sim/save
            api=api_settings(hotpath_timeout_s=3.0),
            store={"uri": f"sqlite:///{self.run_dir}/store.sqlite"},
        )
        self.api = serve(settings, environ=ENV)
        self.events = addrs.events

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def hold() -> None:
            self._stop = asyncio.Event()
            try:
                async with rig(self.run_dir) as r:
                    self.rig: Rig = r
                    self._up.set()
                    await self._stop.wait()
            except BaseException as e:  # noqa: BLE001 -- reported by the constructor's assert
                self.failure = e
                self._up.set()

        self.loop.run_until_complete(hold())

    def client(self, scope: str) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers={"X-API-Key": KEYS[scope]}, timeout=10)

    def start_replay(self, speed: float) -> Any:
        """Start the bundled hour on the simulator; returns a callable: is it done?"""
        sim = self.rig.sim
        task = sim.call(lambda: sim.server.start_replay(ReplaySpec([str(RECORDING)], speed, 7)))
        return lambda: sim.call(task.done)

    def close(self) -> None:
        self.api.stop()
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(60)


@pytest.fixture(scope="module")
def system():
    s = System()
    yield s
    s.close()
