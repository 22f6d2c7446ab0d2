"""The decision loop end to end: simulator + hot path + dispatcher + a real Prefect server.

A replay fires triggers on the simulator; the dispatcher starts one analysis flow run per
trigger; each decision goes back to the hot path over the command channel and its protective
orders end in the decided state on the exchange. The LLM may be down, slow or talk garbage:
nothing hangs, the local model decides. A dispatcher restarted mid-stream reports the triggers
it missed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.hotpath.runtime.harness import invariant_violation, probe_rules, rig, warm_file
from tripwire.bus.commands import AsyncCommandClient
from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel
from tripwire.flows.analysis.testing import FakeLlmServer
from tripwire.flows.dispatch import Dispatcher

SPEED = 300


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_harness):
    yield


def long_deadline_rules(dest: Path) -> Path:
    """config/triggers.yaml with an hour-long analysis deadline: at 300× a one-second flow is
    five market minutes, past the real 120 s deadline (which is what a fast replay compresses,
    not what the loop takes)."""
    text = Path("config/triggers.yaml").read_text()
    assert "active_ttl_s: 120" in text
    p = dest / "triggers-long-ttl.yaml"
    p.write_text(
        text.replace("active_ttl_s: 120", "active_ttl_s: 3600", 1).replace(
            "max_active_triggers: 3", "max_active_triggers: 5", 1
        )
    )
    return p


def dispatcher_for(r, cfg: AnalysisConfig | None = None, **kw) -> Dispatcher:
    return Dispatcher(
        r.proc.addresses.events,
        r.proc.addresses.commands,
        cfg or AnalysisConfig(),
        model=LocalModel.heuristic(),
        emit_prefect_events=False,
        **kw,
    )


async def settle(r, d: Dispatcher, n: int, timeout_s: float = 60) -> None:
    await r.wait_for(
        lambda: len(d.outcomes) >= n and all(o.done_ns for o in d.outcomes.values()),
        timeout_s,
        f"{n} analysed triggers",
    )
    await r.proc.layer.drain()


def test_every_trigger_gets_one_decision_and_its_orders_end_in_the_decided_state(tmp_path):
    async def go():
        async with rig(tmp_path, settings_overrides={"triggers_file": long_deadline_rules(tmp_path)}) as r:
            d = dispatcher_for(r)
            d.start()
            await d.wait_ready()
            await asyncio.sleep(0.3)
            await r.replay(SPEED)
            # Decisions reach the hot path before their flow runs finish bookkeeping with a
            # (SQLite, shared-CPU) Prefect server: wait for the decisions, then the runs.
            await r.wait_for(lambda: len(r.proc.hp.decisions) >= 3, 90, "three decisions applied")
            await settle(r, d, 3, timeout_s=120)
            await d.close()
            hp, layer = r.proc.hp, r.proc.layer
            assert len(hp.recent) == 3
            assert sorted(hp.decisions) == sorted(hp.recent)  # exactly one each
            assert {o.status for o in d.outcomes.values()} == {"applied"}
            open_cloids = r.sim_call(
                lambda: {
                    o.cloid
                    for o in list(r.engine.open.values()) + list(r.engine.waiting_children.values())
                    if o.user == r.user
                }
            )
            for tid, rec in hp.decisions.items():
                kind = rec["decision"] and rec["result"]["kind"]
                orders = layer.tracker.get(tid)
                if orders is None:  # refused: a short against the open long (one-way netting)
                    assert layer.plans[tid][0]["refused"].startswith("opposite_position")
                    continue
                # a cancel touches the trigger's own entry; the stop and take-profit are the
                # coin's, sized to the net position (docs/EXECUTION.md, one-way netting)
                own = [leg for leg in orders.legs.values() if leg.name in ("entry", "limit")]
                if kind == "cancel":
                    assert not any(leg.is_open for leg in own)
                    assert not {leg.cloid for leg in own} & open_cloids
                elif kind == "adjust":
                    assert orders.revision >= 1 or not orders.open_legs()
                    for leg in orders.open_legs():
                        assert leg.cloid in open_cloids
                else:
                    assert orders.revision == 0
            assert invariant_violation(r) is None  # no stop/take-profit outlives its position
            decided = [e for e in r.topics("decision.")]
            assert len(decided) == 3

    asyncio.run(go())


@pytest.mark.parametrize("behaviour", ["hang", "slow", "garbage", "error500"])
def test_a_misbehaving_llm_never_stalls_the_loop(tmp_path, behaviour):
    async def go():
        async with FakeLlmServer(behaviour, slow_s=0.5) as llm:
            cfg = AnalysisConfig(llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=1.5))
            async with rig(tmp_path, settings_overrides={"triggers_file": probe_rules(tmp_path)}) as r:
                # about the LLM's faults: Prefect asked once at start, not watched (a test server
                # slowed by a loaded machine would send triggers down the without-Prefect path)
                d = dispatcher_for(r, cfg, health_interval_s=3600)
                d.start()
                await d.wait_ready()
                await asyncio.sleep(0.3)
                await r.replay(SPEED, files=(warm_file(tmp_path),))
                # The loop is the decision reaching the hot path; the flow run's bookkeeping
                # (state, artifact) on a shared SQLite Prefect server may take longer.
                await r.wait_for(lambda: len(r.proc.hp.decisions) >= 1, 30, "the decision applied")
                await settle(r, d, 1, timeout_s=120)
                await d.close()
                (o,) = d.outcomes.values()
                assert o.status == "applied", o
                expected = {"slow": None, "hang": "timeout", "garbage": "bad_json", "error500": "http_error"}[behaviour]
                assert o.result["fallback_reason"] == expected
                assert o.result["analyst"] == "llm"
                assert len(r.proc.hp.decisions) == 1

    asyncio.run(go())


def test_a_restarted_dispatcher_reports_the_triggers_it_missed(tmp_path):
    async def go():
        cursor = tmp_path / "dispatcher.cursor.json"
        async with rig(tmp_path, settings_overrides={"triggers_file": long_deadline_rules(tmp_path)}) as r:
            first = dispatcher_for(r, cursor_file=cursor)
            first.start()
            await first.wait_ready()
            await asyncio.sleep(0.3)
            # held: a trigger is fired by hand after the replay, on the replay's market
            replay = asyncio.create_task(r.replay(SPEED, hold=True))
            await r.wait_for(lambda: len(first.outcomes) >= 2, 60, "the first two triggers")
            await first.close()  # the dispatcher goes down mid-stream
            await replay  # the hour's third trigger fires while it is down
            assert len(r.proc.hp.recent) == 3
            second = dispatcher_for(r, cursor_file=cursor)
            second.start()
            await second.wait_ready()
            await asyncio.sleep(0.3)
            client = AsyncCommandClient(r.proc.addresses.commands, timeout_s=5)
            try:  # the next trigger reaches the restarted dispatcher
                await client.call("fire_rule", {"rule": "squeeze_up", "coin": "BTC"})
            finally:
                client.close()
            await r.wait_for(lambda: len(second.outcomes) >= 1, 60, "a trigger after the restart")
            await second.close()
            seen = set(first.outcomes) | set(second.outcomes)
            missed = set(r.proc.hp.recent) - seen
            assert missed, "the scenario needs a trigger fired while the dispatcher was down"
            assert second.stats.trigger_gaps == 1
            assert second.stats.missed_triggers == len(missed)

    asyncio.run(go())
