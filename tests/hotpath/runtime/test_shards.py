"""Two hot-path shards against the simulator over real sockets: the coins split between them, a
trigger on each shard's coin places its bracket through the one account owner (shard 0), and the
owner's account-level breaker covers the other shard's coin too."""

import asyncio
import contextlib
from pathlib import Path

import orjson
import pytest

from tests.hotpath.runtime.harness import fresh_market, probe_rules, rig, risk_file, warm_file
from tests.sim.exchange.conftest import book_msg
from tripwire.bus.commands import AsyncCommandClient, CommandError
from tripwire.config.endpoints import endpoints
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.hotpath.risk.config import load_risk_config
from tripwire.hotpath.risk.manager import RiskManager
from tripwire.hotpath.runtime.shard_process import ShardProcess
from tripwire.hotpath.runtime.shards import ShardSpec
from tripwire.sim.replay.multicoin import CoinCopy, merged, timed


def two_coin_warm(tmp_path) -> Path:
    """The warm-up minutes of the bundled BTC recording, and the same as ETH at a tenth of the
    price (a renamed copy, not ETH's real market): enough for both coins' ATR."""
    out = tmp_path / "warm-btc-eth.ndjson"
    base = timed(orjson.loads(line) for line in warm_file(tmp_path).read_bytes().splitlines())
    with out.open("wb") as f:
        for m in merged(base, [CoinCopy("BTC"), CoinCopy("ETH", 1)]):
            f.write(orjson.dumps(m) + b"\n")
    return out


def dropped_book(coin: str, mid: float, at: int) -> dict:
    step = mid * 1e-4
    bids = [(f"{mid - step * i:.1f}", "5") for i in range(1, 4)]
    asks = [(f"{mid + step * i:.1f}", "5") for i in range(1, 4)]
    return book_msg(coin, bids, asks, at)


SPEED = 300


def rules(tmp_path) -> Path:
    """The probe rule (fires at the first warm bar close), and one the market never fires, to
    fire by hand later (the probe's cooldown holds it back by then)."""
    p = probe_rules(tmp_path, size_frac=0.2)
    p.write_text(
        p.read_text()
        + """
  by_hand:
    side: long
    on: bar_close_1m
    when_all:
      - atr_1m_gt: 1000000000
    actions:
      - place_bracket: {size_frac: 0.2, tp_atr: 20, sl_atr: 20}
"""
    )
    return p


def ctx_msg(r, coin: str, mid: float) -> dict:
    base = r.sim_call(lambda: dict(r.engine.ctxs.get(coin) or {}))
    px = f"{mid:.1f}"
    ctx = {**base, "markPx": px, "midPx": px, "oraclePx": px}
    return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}}


def position(r, coin: str) -> float:
    return float(r.sim_call(lambda: r.engine.accounts[r.user].position(coin)))


def protection(r, coin: str) -> list:
    e = r.engine
    return r.sim_call(
        lambda: sorted(
            # the take-profit may rest as a reduce-only Alo limit once the entry filled
            o.trigger.tpsl if o.trigger is not None else "tp"
            for o in list(e.open.values()) + list(e.waiting_children.values())
            if o.user == r.user and o.coin == coin and (o.trigger is not None or (o.reduce_only and o.tif == "Alo"))
        )
    )


@contextlib.asynccontextmanager
async def market_shard(r, tmp_path):
    shard = ShardProcess(
        r.proc.settings,
        RiskManager(load_risk_config(str(risk_file(tmp_path, max_drawdown_pct=0.05)))),
        endpoints(r.proc.settings),
        ShardSpec(1, 2),
        r.proc.addresses,
        feed=FeedConfig(),
        triggers_path=str(r.proc.settings.triggers_file),
    )
    task = asyncio.create_task(shard.run())
    try:
        await r.wait_for(lambda: shard.ready.is_set() or task.done(), 30, "shard 1 ready")
        if task.done():
            task.result()
            raise AssertionError("shard 1 exited during start-up")
        await r.wait_for(lambda: shard.feed_state == "CONNECTED", what="shard 1 feed connected")
        yield shard
    finally:
        shard.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def clients(r, shard):
    a, b = AsyncCommandClient(r.proc.addresses.commands), AsyncCommandClient(shard.addresses.commands)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_two_shards_trade_one_account_and_the_owners_breaker_covers_both(tmp_path):
    async def go():
        async with rig(
            tmp_path,
            risk_file=str(risk_file(tmp_path, max_drawdown_pct=0.05)),
            settings_overrides={"coins": ("BTC", "ETH"), "triggers_file": rules(tmp_path)},
            shard=ShardSpec(0, 2),
        ) as r:
            owner = r.proc.owner
            assert owner is not None
            (own_coin,), (shard_coin,) = owner.split  # one coin each, whichever way the volumes fall
            assert r.proc.settings.coins == (own_coin,)
            async with market_shard(r, tmp_path) as shard, clients(r, shard) as (to_owner, to_shard):
                assert shard.settings.coins == (shard_coin,)
                # Both coins' market: the probe rule fires on each at its first warm bar close,
                # each in the process that subscribes to the coin, and the one owner trades both.
                await r.replay(SPEED, files=(two_coin_warm(tmp_path),), hold=True)
                assert shard_coin not in r.proc.hp.mids() and own_coin not in shard.hp.mids()
                for coin in (own_coin, shard_coin):
                    await r.wait_for(lambda c=coin: position(r, c) > 0, what=f"{coin} long open")
                    await r.wait_for(lambda c=coin: protection(r, c) == ["sl", "tp"], what=f"{coin} bracket")
                assert shard.forwarder.forwarded >= 1 and owner.triggers_taken == shard.forwarder.forwarded

                # a feature set off the hot path (the flows send it to the owner) lands in the
                # shard that computes the coin; rules reloaded on the owner reach the shard too
                set_ = await to_owner.call(
                    "set_feature", {"coin": shard_coin, "name": "smart_money_bias", "value": 0.4}
                )
                assert set_["shard"] == 1
                assert shard.hp.pipeline.coins[shard_coin].features.values["smart_money_bias"] == 0.4
                assert shard_coin not in r.proc.hp.pipeline.coins
                reloaded = await to_owner.call("reload_triggers", {})
                assert reloaded["shards"] == {"1": "reloaded"}
                assert any(e.data["coin"] == shard_coin for e in r.topics("trigger.fired."))

                # The shard's coin falls 3 % (book and mark): the account's drawdown trips on
                # the owner and flattens both coins; the shard learns the account is halted.
                async with fresh_market(r, own_coin):
                    mid = shard.hp.mids()[shard_coin]
                    t = r.proc._exch_ms() + 1000
                    lo = mid * 0.97
                    for msg in (dropped_book(shard_coin, lo, t), ctx_msg(r, shard_coin, lo)):
                        r.sim_call(lambda m=msg: r.sim.server.ingest(m, t))
                    await r.wait_for(lambda: r.topics("risk.breaker.drawdown"), what="drawdown trip")
                    assert r.proc.risk.state == "HALTED"
                    for coin in (own_coin, shard_coin):
                        await r.wait_for(lambda c=coin: position(r, c) == 0, 30, what=f"{coin} flattened")
                    await r.wait_for(lambda: shard.forwarder.owner_state == "HALTED", what="shard told")
                    status = await to_shard.call("status")
                    assert status["shards"]["role"] == "market shard" and status["shards"]["owner_state"] == "HALTED"
                    assert status["owner_risk"]["state"] == "HALTED"
                    owner_status = await to_owner.call("status")
                    assert owner_status["shards"]["coins"] == {"0": [own_coin], "1": [shard_coin]}

                    # a new trigger on the shard's coin (fired by hand through the owner: the
                    # shard fires it) opens nothing
                    fired = await to_owner.call("fire_rule", {"rule": "by_hand", "coin": shard_coin})
                    assert fired["shard"] == 1
                    await shard.forwarder.drain()
                    assert shard.forwarder.refused.get("trading_state") == 1
                    await asyncio.sleep(1.0)
                    assert position(r, shard_coin) == 0
                # and the account commands are the owner's alone
                with pytest.raises(CommandError) as refused:
                    await to_shard.call("flatten", {"coin": None})
                assert refused.value.code == "not_owner"

    asyncio.run(go())
