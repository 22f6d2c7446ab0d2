"""How the dispatcher decides that the Prefect API is away: refused at once, slow only in a row."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from tripwire.flows.prefect_runtime import PrefectHealth


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowHealth:
    """An HTTP server whose /health answers after ``delay_s`` (0: at once)."""

    def __init__(self) -> None:
        self.delay_s = 0.0

    async def health(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay_s)
        return web.json_response(True)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/api/health", self.health)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/api"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def test_a_refused_connection_is_down_at_once():
    async def go():
        health = PrefectHealth(f"http://127.0.0.1:{free_port()}/api", timeout_s=0.5)
        assert await health.check() is False
        assert health.outages == 1 and "Connect" in (health.reason or "")

    asyncio.run(go())


def test_a_slow_answer_is_down_only_after_several_probes_in_a_row():
    async def go():
        server = SlowHealth()
        async with server as url:
            health = PrefectHealth(url, timeout_s=0.2, slow_probes_down=3)
            assert await health.check() is True
            server.delay_s = 1.0
            assert await health.check() is True  # slow once: busy, not away
            assert await health.check() is True
            server.delay_s = 0.0
            assert await health.check() is True  # answered: the count starts again
            server.delay_s = 1.0
            assert [await health.check() for _ in range(3)] == [True, True, False]
            assert health.outages == 1 and "3 probes in a row" in (health.reason or "")
            server.delay_s = 0.0
            assert await health.check() is True

    asyncio.run(go())
