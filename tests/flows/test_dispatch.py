"""The dispatcher end to end: real ZeroMQ sockets, a fake hot-path CommandServer recording
apply_decision, a Prefect test server, the local model (and a fake LLM that hangs)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.flows.analysis.samples import BRACKET, SQUEEZE_UP_STRONG
from tripwire.bus.commands import CommandRefused, CommandServer
from tripwire.bus.publisher import Publisher
from tripwire.contracts.events import Decision, Topics, TriggerFired
from tripwire.flows.analysis import AnalysisConfig, LlmConfig, LocalModel
from tripwire.flows.analysis.testing import FakeLlmServer
from tripwire.flows.analyze import artifact_key
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
            # about the runs Prefect records: a loaded machine's slow start must not send them
            # down the without-Prefect path (tested on its own below)
            d, ids = await _dispatch(hot, 3, prefect_start_s=60, health_interval_s=3600)
            return d, ids, hot.applied, await _flow_run_names(ids)

    d, ids, applied, runs = asyncio.run(go())
    assert sorted(x.trigger_id for x in applied) == sorted(ids)  # exactly one each
    assert (d.records.recorded, d.records.not_recorded) == (3, 0)  # decided first, recorded after
    assert all(d.outcomes[t].status == "applied" for t in ids)
    assert all(d.outcomes[t].result["decision"]["source"] == "local" for t in ids)
    assert set(runs) == set(ids)
    for tid, run in runs.items():
        assert tid in run.name and "squeeze_up" in run.name and "BTC" in run.name
        assert set(run.tags) >= {"squeeze_up", "BTC"}
        assert run.state.is_completed()
    assert d.stats.expired == d.stats.failed == d.stats.gaps == d.stats.restarts == 0


def test_concurrency_cap_and_deadline_with_a_slow_analyst(tmp_path):
    # One slot, a 1 s analyst, a 0.5 s deadline: the first trigger is decided — by the local
    # model when the LLM has not answered by the deadline (a later decision would be stale) —
    # the two queued behind it expire with no decision and nothing is sent for them.
    async def go():
        async with FakeLlmServer("slow", slow_s=1.0) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=5))
            d, ids = await _dispatch(hot, 3, cfg=cfg, max_concurrent=1, deadline_s=0.5)
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    assert d.stats.peak_running == 1
    assert [x.trigger_id for x in applied] == ids[:1]
    assert applied[0].source == "local" and d.outcomes[ids[0]].result["fallback_reason"] == "timeout"
    assert d.outcomes[ids[0]].result["timings_ms"]["fired_to_applied"] < 1000  # not the LLM's 1 s
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


# -- without Prefect -------------------------------------------------------------------------------


class PrefectProxy:
    """A TCP proxy in front of the suite's Prefect test server that can be killed (it refuses
    connections and drops the open ones, like a stopped server) and brought back on the same
    port. Point ``PREFECT_API_URL`` at :attr:`url`.

    It runs its own event loop in a thread: Prefect's flow engine makes one synchronous HTTP
    call per run (the server's default result storage), which would block a proxy sharing the
    dispatcher's loop."""

    def __init__(self):
        from prefect.settings import PREFECT_API_URL

        target = urlsplit(PREFECT_API_URL.value())
        self.target = (target.hostname, target.port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/api"
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _up(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._open):
                w.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _pipe(self, reader, writer) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_w}

        async def copy(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.transport.abort()
                self._open.discard(w)

        await asyncio.gather(copy(reader, up_w), copy(up_r, writer))


async def _fire_and_wait(d: Dispatcher, hot: FakeHotPath, n: int) -> list[str]:
    before = d.stats.received
    ids = hot.fire(n)
    for _ in range(500):
        await asyncio.sleep(0.01)
        if d.stats.received == before + n:
            break
    await d.drain(30)
    return ids


async def _runs_by_trigger(ids: list[str], timeout_s: float = 20.0) -> dict[str, list[Any]]:
    """Every flow run named after one of ``ids`` (read from the server itself, not the proxy),
    once each id has one."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found: dict[str, list[Any]] = {}
        async with get_client() as client:
            for tid in ids:
                found[tid] = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=tid))
                )
        if all(found.values()) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("record", ["after", "flow"])
def test_with_prefect_down_triggers_are_decided_at_once_and_recorded_when_it_is_back(tmp_path, record):
    """Issue #9: with the Prefect server down every trigger failed (ConnectError after 1.7 s,
    no decision). Now each is decided at once (deciding first, by the configured analysis —
    here the local model; as a live flow run, by the local model in this process), the
    decision is applied, and each run appears in Prefect once it is back."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proxy = PrefectProxy()

    async def go():
        async with FakeHotPath(tmp_path) as hot:
            with temporary_settings(updates={PREFECT_API_URL: proxy.url}):
                d = Dispatcher(
                    hot.events,
                    hot.commands,
                    AnalysisConfig(model_file=None),
                    model=LocalModel.heuristic(),
                    health_interval_s=0.2,
                    record=record,
                )
                d.start()  # Prefect is down from the start
                await d.wait_ready()
                await hot.wait_subscribed()
                assert d.prefect is not None and not d.prefect.up
                ids = await _fire_and_wait(d, hot, 3)
                assert d.records.recorded == 0 and len(d.records.pending) == 3
                proxy.up()  # Prefect is back
                for _ in range(200):
                    await asyncio.sleep(0.05)
                    if d.records.recorded == 3:
                        break
                await d.close()
                proxy.close()
            runs = await _runs_by_trigger(ids)
            async with get_client() as client:
                artifacts = {
                    t: await client.read_artifacts(
                        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(t)]))
                    )
                    for t in ids
                }
            return d, ids, hot.applied, runs, artifacts

    d, ids, applied, runs, artifacts = asyncio.run(go())
    assert sorted(x.trigger_id for x in applied) == sorted(ids)  # one decision each
    for t in ids:
        o = d.outcomes[t]
        if record == "flow":
            assert o.status == "applied" and o.result["orchestrator"] == "local"
            assert o.result["fallback_reason"] == "prefect_unreachable"
        else:
            assert o.status == "applied" and o.result["orchestrator"] == "dispatcher"
        assert o.result["decision"]["source"] == "local"
        assert o.result["timings_ms"]["fired_to_applied"] < 1_000  # at once, not 1.7 s
        [run] = runs[t]  # recorded exactly once
        assert run.state.is_completed() and "without Prefect" in run.state.message
        assert set(run.tags) >= {"squeeze_up", "BTC", "without-prefect"}
        assert run.parameters["trigger"]["trigger_id"] == t
        [artifact] = artifacts[t]  # with its decision
        assert artifact.flow_run_id == run.id and "without Prefect" in artifact.data
    assert d.stats.without_prefect == 3 and d.stats.failed == 0
    assert (d.records.recorded, d.records.not_recorded) == (3, 0)
    assert d.prefect.outages == 1 and d.prefect.up


def test_runs_prefect_never_records_are_counted_at_exit(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api"  # nothing listens once closed

    async def go():
        async with FakeHotPath(tmp_path) as hot:
            with temporary_settings(updates={PREFECT_API_URL: dead}):
                d = Dispatcher(
                    hot.events,
                    hot.commands,
                    AnalysisConfig(model_file=None),
                    model=LocalModel.heuristic(),
                    health_interval_s=0.2,
                )
                d.start()
                await d.wait_ready()
                await hot.wait_subscribed()
                ids = await _fire_and_wait(d, hot, 2)
                await d.close()
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    assert sorted(x.trigger_id for x in applied) == sorted(ids)
    assert d.records.not_recorded == 2 and d.records.recorded == 0 and not d.records.pending


def test_a_run_prefect_does_not_start_in_time_is_decided_here_once(tmp_path):
    """An API that accepts connections and never answers (a hung server): the run is given
    prefect_start_s, then cancelled before its body runs and decided here — once."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go():
        release = asyncio.Event()

        async def never_answer(reader, writer):
            await release.wait()
            writer.transport.abort()

        hung = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{hung.sockets[0].getsockname()[1]}/api"
        try:
            async with FakeHotPath(tmp_path) as hot:
                with temporary_settings(updates={PREFECT_API_URL: url}):
                    d = Dispatcher(
                        hot.events,
                        hot.commands,
                        AnalysisConfig(model_file=None),
                        model=LocalModel.heuristic(),
                        prefect_start_s=0.5,
                        health_interval_s=60,
                        emit_prefect_events=False,
                        record="flow",
                    )
                    d.start()
                    await d.wait_ready()
                    d.prefect.mark_up()  # as if the probe had passed just before it hung
                    await hot.wait_subscribed()
                    ids = await _fire_and_wait(d, hot, 1)
                    await d.close()
                return d, ids, hot.applied
        finally:
            release.set()
            hung.close()
            await hung.wait_closed()

    d, ids, applied = asyncio.run(go())
    assert [x.trigger_id for x in applied] == ids
    o = d.outcomes[ids[0]]
    assert o.status == "applied" and o.result["orchestrator"] == "local"
    assert o.result["timings_ms"]["fired_to_applied"] < 2_000
    assert d.stats.without_prefect == 1


# -- decide first, record after ---------------------------------------------------------------------


def test_a_burst_is_decided_while_prefect_hangs_and_recorded_once_it_answers(tmp_path):
    """The decision path never waits on Prefect: with an API that accepts connections and does
    not answer (while the health check still says up), a burst of triggers is decided and
    applied at once; each run is recorded after its decision, once Prefect answers — Completed,
    tagged, with its decision artifact — and no trigger is decided twice."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    real_api = PREFECT_API_URL.value()

    async def go():
        answering = asyncio.Event()

        async def hang_then_proxy(reader, writer):
            await answering.wait()  # a hung server, until it is not
            host, port = urlsplit(real_api).hostname, urlsplit(real_api).port
            up_r, up_w = await asyncio.open_connection(host, port)

            async def copy(r, w):
                try:
                    while data := await r.read(65536):
                        w.write(data)
                        await w.drain()
                except (ConnectionError, OSError):
                    pass
                finally:
                    w.transport.abort()

            await asyncio.gather(copy(reader, up_w), copy(up_r, writer))

        hung = await asyncio.start_server(hang_then_proxy, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{hung.sockets[0].getsockname()[1]}/api"
        try:
            async with FakeHotPath(tmp_path) as hot:
                with temporary_settings(updates={PREFECT_API_URL: url}):
                    d = Dispatcher(
                        hot.events,
                        hot.commands,
                        AnalysisConfig(model_file=None),
                        model=LocalModel.heuristic(),
                        health_interval_s=60,
                        emit_prefect_events=False,
                    )
                    d.start()
                    await d.wait_ready()
                    d.prefect.mark_up()  # as if the probe had passed just before it hung
                    await hot.wait_subscribed()
                    ids = await _fire_and_wait(d, hot, 12)
                    decided_while_hung = sorted(x.trigger_id for x in hot.applied)
                    recorded_while_hung = d.records.recorded
                    answering.set()
                    for _ in range(600):
                        await asyncio.sleep(0.05)
                        if d.records.recorded == len(ids):
                            break
                    await d.close()
            runs = await _runs_by_trigger(ids)
            async with get_client() as client:
                artifacts = {
                    t: await client.read_artifacts(
                        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(t)]))
                    )
                    for t in ids
                }
            return d, ids, hot.applied, decided_while_hung, recorded_while_hung, runs, artifacts
        finally:
            answering.set()
            hung.close()
            await hung.wait_closed()

    d, ids, applied, decided_while_hung, recorded_while_hung, runs, artifacts = asyncio.run(go())
    assert decided_while_hung == sorted(ids) and recorded_while_hung == 0
    assert len(applied) == len(ids)  # once each
    for t in ids:
        o = d.outcomes[t]
        assert o.status == "applied" and o.result["orchestrator"] == "dispatcher"
        [run] = runs[t]
        assert run.state.is_completed() and "applied before this run was recorded" in run.state.message
        assert set(run.tags) >= {"squeeze_up", "BTC", "recorded-after"} and "without-prefect" not in run.tags
        assert run.parameters["trigger"]["trigger_id"] == t
        [artifact] = artifacts[t]
        assert artifact.flow_run_id == run.id and t in artifact.data
    assert d.stats.without_prefect == 0 and d.stats.failed == 0 and d.stats.expired == 0
    assert (d.records.recorded, d.records.not_recorded) == (len(ids), 0)


def test_the_remote_analyst_is_bounded_by_the_dispatchers_deadline(tmp_path):
    """An LLM slower than the deadline does not make the decision late: at the deadline the
    local model decides (fallback ``timeout``), before the LLM would have answered."""

    async def go():
        async with FakeLlmServer("slow", slow_s=5.0) as llm, FakeHotPath(tmp_path) as hot:
            cfg = AnalysisConfig(model_file=None, llm=LlmConfig(base_url=llm.base_url, model="fake", timeout_s=30))
            d, ids = await _dispatch(hot, 1, cfg=cfg, deadline_s=1.0)
            return d, ids, hot.applied

    d, ids, applied = asyncio.run(go())
    o = d.outcomes[ids[0]]
    assert [x.trigger_id for x in applied] == ids and applied[0].source == "local"
    assert o.result["fallback_reason"] == "timeout" and o.result["timings_ms"]["fired_to_applied"] < 5_000
