"""The events a real hot path publishes match their contract types.

A hot path trades the first minutes of the bundled real recording on the simulator, over real
sockets (tests/hotpath/runtime/harness.py), and is then driven through the paths the replay
alone does not reach: a trigger fired by hand and cancelled by a decision, the stale-data
breaker once the market goes quiet, a trigger the breaker refuses, and a cut connection (the
hot path connects through a proxy; its first feed states go out before the test's subscriber
has joined). Every event a subscriber
received is checked against ``TOPIC_PAYLOADS`` (exact keys, strict types), and every topic of
the contract must have been seen.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.hotpath.runtime.harness import probe_rules, rig, warm_file
from tests.hotpath.runtime.proxy import CuttableProxy
from tripwire.bus.commands import AsyncCommandClient
from tripwire.contracts.events import TOPIC_PAYLOADS, PayloadError, check_payload, topic_pattern
from tripwire.hotpath.feed.connection import FeedConfig
from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import SimServer, start_in_thread

SPEED = 300
QUICK_FEED = FeedConfig(backoff_base_s=0.05, backoff_cap_s=0.2, monitor_interval_s=0.1)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("published")
    events: list = []

    engine = SimEngine()
    sim = start_in_thread(SimServer(engine, ExchangeApi(engine)))

    async def go():
        proxy = await CuttableProxy("127.0.0.1", sim.port).start()
        rules = probe_rules(tmp, cooldown_s=0, max_active=10)
        async with rig(
            tmp, sim=sim, feed=QUICK_FEED, proxy_url=proxy.url, settings_overrides={"triggers_file": rules}
        ) as r:
            await r.replay(SPEED, files=(warm_file(tmp),))
            await r.wait_for(lambda: r.topics("fill."), what="the probe's entry filled")
            client = AsyncCommandClient(r.proc.addresses.commands, timeout_s=5)
            try:
                fired = await client.call("fire_rule", {"rule": "probe_long", "coin": "BTC"})
                await r.proc.layer.drain()
                await client.call(
                    "apply_decision",
                    {
                        "trigger_id": fired["trigger_id"],
                        "go": False,
                        "sA": -0.5,
                        "confA": 0.6,
                        "prob_cont": 0.3,
                        "reason": "contract test",
                        "source": "operator",
                    },
                )
                await r.wait_for(lambda: r.topics("decision."), what="decision event")
                # No market data after the replay: the stale-data breaker trips (5 s).
                await r.wait_for(lambda: r.topics("risk.breaker."), timeout_s=30, what="stale-data trip")
                await client.call("fire_rule", {"rule": "probe_long", "coin": "BTC"})
                await r.proc.layer.drain()
                await r.wait_for(lambda: r.topics("order.refused."), what="refused order")
                await r.wait_for(lambda: r.topics("account"), what="account event")
                proxy.cut()
                await r.wait_for(lambda: r.topics("feed.status"), what="feed state change")
                proxy.restore()
            finally:
                client.close()
            events.extend(r.events)
        await proxy.close()

    try:
        asyncio.run(go())
    finally:
        sim.stop()
    return events


def test_every_published_event_matches_its_payload_type(published):
    problems = []
    for ev in published:
        try:
            check_payload(ev.topic, ev.data)
        except PayloadError as e:
            problems.append(str(e))
    assert not problems, "\n".join(sorted(set(problems))[:20])


# published only by the funding carry, on a market built for it: its payloads are checked
# against the contract there (tests/hotpath/runtime/test_carry.py)
ELSEWHERE = {"carry.<coin>"}


def test_every_topic_of_the_contract_was_published(published):
    seen = Counter(topic_pattern(ev.topic) for ev in published)
    assert set(TOPIC_PAYLOADS) - set(seen) - ELSEWHERE == set(), seen
