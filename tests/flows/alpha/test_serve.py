"""``tripwire alpha serve``'s server against a running hot path over real sockets: books from
its event bus in, ``set_feature pred_move_bps`` out, the value in the hot path's features."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import numpy as np
import pytest

pytest.importorskip("torch", reason="the alpha extra (PyTorch) is not installed: pip install '.[alpha]'")

from tests.fixtures import REPO
from tests.flows.alpha.synthetic import snapshots
from tests.hotpath.runtime.harness import market_pulse, rig
from tests.sim.exchange.conftest import book_msg
from tripwire.bus import AsyncCommandClient
from tripwire.flows.alpha import transformer
from tripwire.flows.alpha.books import SizeScale, labelled, windows
from tripwire.flows.alpha.config import AlphaConfig
from tripwire.flows.alpha.serve import FEATURE, AlphaServer

WINDOW = 3


def tiny_model() -> transformer.Fitted:
    cfg = AlphaConfig(levels=3, window=WINDOW, horizon=4, epochs=1, d_model=8, heads=2, layers=1, batch=64)
    s = snapshots(300, edge=0.45)
    lw = labelled(s, cfg.window, cfg.horizon, cfg.barrier_bps)
    scale = SizeScale.fit(s)
    return transformer.fit(windows(s, lw.idx, cfg.window, scale), lw.y, cfg, scale)


def btc_book(k: int) -> tuple[dict, int]:
    t = time.time_ns() // 1_000_000
    mid = 42_800.5 + (k % 7)
    imb = 1.0 + 0.5 * np.sin(k)
    bids = [(f"{mid - 0.5 - i:.0f}", f"{imb if i == 1 else 1.0:.3f}") for i in range(5)]
    asks = [(f"{mid + 0.5 + i:.0f}", f"{2 - imb if i == 1 else 1.0:.3f}") for i in range(5)]
    return book_msg("BTC", bids, asks, t), t


def test_the_served_prediction_reaches_the_hot_paths_features_and_is_cleared_on_stop(tmp_path):
    asyncio.run(_served(tmp_path, tiny_model()))


async def _served(tmp_path, model: transformer.Fitted) -> None:
    async with rig(tmp_path) as r, market_pulse(r, btc_book, 0.3):
        coins = r.proc.hp.pipeline.coins
        await r.wait_for(lambda: "BTC" in coins, what="the first BTC book")
        features = lambda: coins["BTC"].features.values
        assert FEATURE not in features()
        server = AlphaServer(model, r.proc.addresses.events, r.proc.addresses.commands, ["BTC"])
        task = asyncio.create_task(server.run())
        try:
            await r.wait_for(lambda: server.stats.sent >= 3, timeout_s=60, what="three predictions applied")
            # what the hot path holds is what the server sent last (over the command socket)
            await r.wait_for(
                lambda: features().get(FEATURE) == server.stats.last["BTC"], timeout_s=10, what="feature set"
            )
            assert server.stats.refused == 0 and server.stats.timeouts == 0
            assert server.stats.predictions >= 3 and len(server.stats.inference_ms) == server.stats.predictions
            assert abs(features()[FEATURE]) <= float(model.meta["barrier_bps"])
        finally:
            server.stop.set()
            await asyncio.wait_for(task, 30)
        assert features()[FEATURE] == 0.0  # a stopped server leaves no stale prediction


def test_a_value_the_hot_path_refuses_is_counted_not_fatal(tmp_path):
    asyncio.run(_refused(tmp_path))


async def _refused(tmp_path) -> None:
    async with rig(tmp_path) as r:
        server = AlphaServer(tiny_model(), r.proc.addresses.events, r.proc.addresses.commands, ["BTC"])
        client = AsyncCommandClient(r.proc.addresses.commands, 2.0)
        try:
            await server._send(client, "BTC", 1000.0)  # outside the feature's range
            await server._send(client, "BTC", -0.5)
        finally:
            client.close()
        assert server.stats.refused == 1 and server.stats.sent == 1
        assert r.proc.hp.pipeline.coins["BTC"].features.values[FEATURE] == -0.5


def test_tripwire_alpha_serve_as_a_process_sets_the_feature_and_clears_it_on_sigterm(tmp_path):
    asyncio.run(_process(tmp_path))


async def _process(tmp_path) -> None:
    model_file = transformer.save(tiny_model(), tmp_path / "alpha_model.pt", version="t")
    async with rig(tmp_path) as r, market_pulse(r, btc_book, 0.3):
        coins = r.proc.hp.pipeline.coins
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tripwire",
            "alpha",
            "serve",
            "--model-file",
            str(model_file),
            "--events",
            r.proc.addresses.events,
            "--commands",
            r.proc.addresses.commands,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await r.wait_for(
                lambda: "BTC" in coins and coins["BTC"].features.values.get(FEATURE, 0.0) != 0.0,
                timeout_s=90,
                what="a prediction from the serve process",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert b"alpha serve: stopped" in out and b"'refused': 0" in out
        assert coins["BTC"].features.values[FEATURE] == 0.0
