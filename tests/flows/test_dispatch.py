"""The dispatcher end to end: real ZeroMQ sockets, a fake hot-path CommandServer recording
apply_decision, a Prefect test server, the local model (and a fake LLM that hangs)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.flows.analysis.samples import BRACKET, SQUEEZE_UP_STRONG
from tripwire.bus.commands import CommandRefused, CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.contracts.events import Decision, Topics, TriggerFired
from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel
from tripwire.flows.analysis.testing import FakeLlmServer
from tripwire.flows.dispatch import Dispatcher

_ids = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def prefect_server(prefect_harness):
    # the suite's one Prefect test server (tests/conftest.py); SQLite answers 503 on "database is
    # locked", so these tests keep concurrency low
    yield


class FakeHotPath:
    """Binds the events and commands sockets like the hot path; records apply_decision."""

    def __init__(self, run_dir, refuse: set[str] = frozenset()):
        self.events = f"ipc://{run_dir}/events.sock"
        self.commands = f"ipc://{run_dir}/commands.sock"
        self.pub = Publisher(self.events)
        self.server = CommandServer(self.commands)
        self.server.register("apply_decision", self.apply_decision)
        self.applied: list[Decision] = []
        self.refuse = refuse
        self._task: asyncio.Task | None = None

    def apply_decision(self, d: Decision) -> dict[str, Any]:
        if d.trigger_id in self.refuse:
            raise CommandRefused("stale_decision", f"trigger {d.trigger_id} already closed")
        self.applied.append(d)
        return {"kind": d.kind}

    async def __aenter__(self) -> FakeHotPath:
        self._task = asyncio.create_task(self.server.serve())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        self.server.close()
        self.pub.close()

    async def wait_subscribed(self) -> None:
        for _ in range(200):
            self.pub.maybe_heartbeat()  # reads subscription messages
            if self.pub.subscriptions:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the dispatcher never subscribed")

    def fire(self, n: int | list[str], rule: str = "squeeze_up", coin: str = "BTC") -> list[str]:
        """Publish ``n`` triggers (or one per given id); their ids."""
        ids = []
        for tid in n if isinstance(n, list) else (f"t{next(_ids)}-{rule}-{coin}" for _ in range(n)):
            t = TriggerFired(tid, rule, coin, "long", dict(SQUEEZE_UP_STRONG), [BRACKET], 0, 0, 0)
            assert self.pub.publish(Topics.trigger_fired(rule, coin), t.to_dict())
            ids.append(tid)
        return ids


async def _dispatch(
    hot: FakeHotPath, fire: int | list[str], *, cfg: AnalysisConfig | None = None, **kw: Any
) -> tuple[Dispatcher, list[str]]:
    d = Dispatcher(hot.events, hot.commands, cfg or AnalysisConfig(model_file=None), model=LocalModel.heuristic(), **kw)
    d.start()
    await d.wait_ready()
    await hot.wait_subscribed()
    ids = hot.fire(fire)
    for _ in range(500):
        await asyncio.sleep(0.01)
        if d.stats.received == len(ids):
            break
    await d.drain(30)
    await d.close()
    return d, ids


async def _flow_run_names(ids: list[str]) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    found = {}
    async with get_client() as client:
        for tid in ids:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=tid)))
            for r in runs:
                found[tid] = r
    return found


def test_each_trigger_gets_one_decision_and_a_named_flow_run(tmp_path):
    async def go():
        async with FakeHotPath(tmp_path) as hot:
            d, ids = await _dispatch(hot, 3)
            return d, ids, hot.applied, await _flow_run_names(ids)

    d, ids, applied, runs = asyncio.run(go())
    assert sorted(x.trigger_id for x in applied) == sorted(ids)  # exactly one each
    assert all(d.outcomes[t].status == "applied" for t in ids)
    assert all(d.outcomes[t].result["decision"]["source"] == "local" for t in ids)
    assert set(runs) == set(ids)
    for tid, run in runs.items():
        assert tid in run.name and "squeeze_up" in run.name and "BTC" in run.name
        assert set(run.tags) >= {"squeeze_up", "BTC"}
        assert run.state.is_completed()
    assert d.stats.expired == d.stats.failed == d.stats.gaps == d.stats.restarts == 0


def test_concurrency_cap_and_deadline_with_a_slow_analyst(tmp_path):
    # One slot, a 1 s analyst, a 0.5 s deadline: the first trigger is analysed, the two queued
    # behind it expire with no decision and nothing is sent for them.
    async def go():
        async with FakeLlmServer("slow", slow_s=1.0) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=5))
            d, ids = await _dispatch(hot, 3, cfg=cfg, max_concurrent=1, deadline_s=0.5)
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    assert d.stats.peak_running == 1
    assert [x.trigger_id for x in applied] == ids[:1]
    assert applied[0].source == "llm"
    assert [d.outcomes[t].status for t in ids] == ["applied", "expired", "expired"]
    assert all(d.outcomes[t].result is None for t in ids[1:])
    assert d.stats.expired == 2 and d.stats.started == 1


def test_cap_lets_n_run_at_once(tmp_path):
    async def go():
        async with FakeLlmServer("slow", slow_s=0.5) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=5))
            d, ids = await _dispatch(hot, 4, cfg=cfg, max_concurrent=2, deadline_s=60)
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    assert d.stats.peak_running == 2
    assert sorted(x.trigger_id for x in applied) == sorted(ids)


def test_a_hanging_llm_falls_back_and_nothing_hangs(tmp_path):
    async def go():
        async with FakeLlmServer("hang") as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=0.5))
            d, ids = await _dispatch(hot, 2, cfg=cfg)
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    assert sorted(x.trigger_id for x in applied) == sorted(ids)
    assert all(x.source == "local" for x in applied)
    assert all(d.outcomes[t].result["fallback_reason"] == "timeout" for t in ids)


def test_a_refusal_is_recorded_not_retried(tmp_path):
    async def go():
        async with FakeHotPath(tmp_path, refuse={"t-closed"}) as hot:
            d, ids = await _dispatch(hot, ["t-closed"])
            return d, ids, hot

    d, ids, hot = asyncio.run(go())
    assert hot.applied == []
    o = d.outcomes[ids[0]]
    assert o.status == "refused" and o.error.startswith("stale_decision")


def test_a_publisher_restart_is_reported(tmp_path):
    async def go():
        async with FakeHotPath(tmp_path) as hot:
            d = Dispatcher(
                hot.events,
                hot.commands,
                AnalysisConfig(model_file=None),
                model=LocalModel.heuristic(),
                max_concurrent=1,
            )
            d.start()
            await d.wait_ready()
            await hot.wait_subscribed()
            first = hot.fire(2)
            for _ in range(300):
                await asyncio.sleep(0.01)
                if d.stats.received == 2:
                    break
            hot.pub.close()  # the hot path restarts: a new instance
            hot.pub = Publisher(hot.events)
            await hot.wait_subscribed()
            second = hot.fire(2)
            for _ in range(300):
                await asyncio.sleep(0.01)
                if d.stats.received == 4:
                    break
            await d.drain(30)
            await d.close()
            return d, first + second, hot.applied

    d, ids, applied = asyncio.run(go())
    assert d.stats.restarts == 1
    assert d.stats.gaps == 0
    assert sorted(x.trigger_id for x in applied) == sorted(ids)
