"""The learned model's prediction reaches the quotes: a ``set_feature pred_move_bps`` sent over
the command socket (what ``tripwire alpha serve`` sends) moves a running hot path's resting
quotes toward the predicted move, by ``alpha_skew`` (docs/QUOTING.md, docs/ALPHA.md)."""

from __future__ import annotations

import asyncio

import pytest

from tests.hotpath.runtime.harness import rig
from tests.hotpath.runtime.test_quoting import MID, limit_quotes, market, settings_for
from tripwire.bus import AsyncCommandClient


def test_a_predicted_rise_lifts_both_resting_quotes(tmp_path):
    async def go():
        settings = settings_for(tmp_path, alpha_skew=1.0, alpha_skew_cap_bps=3.0)
        async with rig(tmp_path, settings_overrides=settings) as r, market(r):
            await r.wait_for(lambda: all(limit_quotes(r)), what="a bid and an ask resting")
            [(_, bid, *_)], [(_, ask, *_)] = limit_quotes(r)
            assert r.proc.layer.quoter.status()["coins"]["BTC"]["reservation_bps"] == 0.0

            client = AsyncCommandClient(r.proc.addresses.commands, 5.0)
            try:
                await client.call("set_feature", {"coin": "BTC", "name": "pred_move_bps", "value": 2.0})
            finally:
                client.close()

            def lifted() -> bool:
                bids, asks = limit_quotes(r)
                return bool(bids and asks) and bids[0][1] > bid and asks[0][1] > ask

            await r.wait_for(lifted, what="both quotes moved up")
            status = r.proc.layer.quoter.status()["coins"]["BTC"]
            assert status["reservation_bps"] == pytest.approx(2.0)  # flat: the skew alone
            [(_, new_bid, *_)], [(_, new_ask, *_)] = limit_quotes(r)
            assert (new_bid - bid) / MID * 1e4 == pytest.approx(2.0, abs=0.5)  # 2 bps, to the tick

    asyncio.run(go())
