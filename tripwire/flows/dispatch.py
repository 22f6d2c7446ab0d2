"""The dispatcher: every ``trigger.fired.`` event becomes an analysis flow run at once.

Flow runs start in this process — the async flow is awaited in its own asyncio task — rather
than through a deployment and a worker: a worker polls (``serve`` every 10 s by default) and
starts a process per run, seconds the protective orders do not have. At most
``max_concurrent`` run at once (an LLM endpoint and the hot path's command channel are the
scarce parts); the rest wait, each until its deadline (``deadline_s`` after the trigger was
published). A trigger still waiting at its deadline is closed as ``expired`` with no decision:
its protective orders stay as placed and nothing is sent (the hot path would refuse a stale
decision anyway).

Each trigger is also emitted as a Prefect event (``tripwire.trigger.fired``) so automations and
the UI's event feed see it even when it is never analysed. Subscriber gaps and publisher
restarts are counted in :class:`DispatchStats` and logged once each.

Without Prefect: when its API is known to be away (:class:`PrefectHealth` probes it), or a run
fails to reach it, or does not start within ``prefect_start_s``, the trigger is analysed in
this process at once with the local model (:func:`analyze_locally`), the decision applied, and
the run queued in :class:`RunRecords` to be recorded in Prefect when it answers again. A flow
that got as far as sending its decision is never decided a second time (the analysis before it
has no effect outside the flow, so redoing it is safe).

``tripwire flows dispatch`` (``tripwire.commands.flows.dispatch``) runs it as a process (see
docs/DISPATCH.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from tripwire.bus.client import AsyncSubscriber, Gap, Restart
from tripwire.contracts.events import Event, trigger_seq
from tripwire.flows.analysis import AnalysisConfig, LocalModel
from tripwire.flows.analyze import (
    AnalyzeDeps,
    ClientPool,
    FlowProgress,
    analyze_first,
    analyze_locally,
    run_analysis,
    track_progress,
    use_deps,
)
from tripwire.flows.prefect_runtime import PrefectHealth, configured_api_url, unreachable
from tripwire.flows.run_records import LateRun, RunRecords
from tripwire.flows.workflows import load_user_flows, workflow_of

log = logging.getLogger(__name__)

TRIGGER_PREFIX = "trigger.fired."
DEFAULT_DEADLINE_S = 30.0
# Long enough for an unloaded server (a run is running ~0.1 s after the trigger, 2.2 s at p95
# under load: docs/DISPATCH.md), short enough that a hung API does not hold a decision.
DEFAULT_PREFECT_START_S = 5.0
PREFECT_EVENT = "tripwire.trigger.fired"
MAX_OUTCOMES = 10_000  # outcomes kept for inspection; the oldest are forgotten
# How a trigger's analysis is orchestrated (docs/DISPATCH.md "Decide first, record after"):
# "after": decided and applied in this process, the flow run recorded in Prefect afterwards;
# "flow": a live Prefect flow run whose body decides (the decision waits on its bookkeeping).
RECORD_MODES = ("after", "flow")
RECORD_YIELD_S = 0.25  # how long recording a run gives way to decisions in progress, at most


@dataclass
class TriggerOutcome:
    """What became of one trigger. ``status``: ``queued``, ``running``, ``applied``,
    ``refused`` (the hot path said no; recorded, not retried), ``not_sent`` (no hot path
    configured), ``expired`` (deadline passed while queued: no decision) or ``failed``."""

    trigger_id: str
    rule: str
    coin: str
    status: str = "queued"
    published_ns: int = 0  # the event's pub_ts_ns (publisher's wall clock)
    received_ns: int = 0  # when the dispatcher read it
    started_ns: int = 0  # when its flow was started (0: never)
    done_ns: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DispatchStats:
    received: int = 0
    started: int = 0
    expired: int = 0
    failed: int = 0
    malformed: int = 0
    gaps: int = 0
    missed: int = 0  # events lost in those gaps
    restarts: int = 0  # hot-path publisher restarts seen
    trigger_gaps: int = 0  # jumps in the hot path's trigger sequence (incl. across our restarts)
    missed_triggers: int = 0  # triggers fired that this dispatcher never saw
    without_prefect: int = 0  # analysed in-process, Prefect away (recorded later: records)
    running: int = 0
    peak_running: int = 0


class Dispatcher:
    """Subscribe to triggers, run one analysis flow per trigger, at most ``max_concurrent``.

    ``await run()`` until ``stop()``; or ``start()`` (a background task) and ``await close()``.
    ``outcomes`` maps trigger id → :class:`TriggerOutcome`; ``on_outcome`` is called with each
    finished one. ``emit_prefect_events=False`` skips the per-trigger Prefect event.
    ``prefect_url`` (default: the configured API) is watched every ``health_interval_s``;
    ``records`` keeps the runs decided without it until they are recorded.
    """

    def __init__(
        self,
        events_address: str,
        commands_address: str | None,
        cfg: AnalysisConfig | None = None,
        max_concurrent: int = 3,
        deadline_s: float = DEFAULT_DEADLINE_S,
        *,
        model: LocalModel | None = None,
        emit_prefect_events: bool = True,
        on_outcome: Callable[[TriggerOutcome], None] | None = None,
        cursor_file: str | Path | None = None,
        prefect_url: str | None = None,
        records: RunRecords | None = None,
        prefect_start_s: float = DEFAULT_PREFECT_START_S,
        health_interval_s: float = 2.0,
        record: str = "after",
    ):
        if record not in RECORD_MODES:
            raise ValueError(f"record must be one of {', '.join(RECORD_MODES)}, got {record!r}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s}")
        self.events_address = events_address
        self.commands_address = commands_address
        self.cfg = cfg or AnalysisConfig()
        load_user_flows(self.cfg)  # a flow that does not import stops us here, not per trigger
        self.model = model or LocalModel.load(self.cfg.model_file)
        self.max_concurrent = max_concurrent
        self.deadline_s = deadline_s
        self.emit_prefect_events = emit_prefect_events
        self.on_outcome = on_outcome
        self.prefect_url = prefect_url
        self.prefect: PrefectHealth | None = None  # from run(), when an API URL is known
        self.records = records or RunRecords()
        self.prefect_start_s = prefect_start_s
        self.health_interval_s = health_interval_s
        self.record = record
        self._record_wake = asyncio.Event()  # a run waits to be recorded
        self._flows: dict[asyncio.Future[dict[str, Any]], FlowProgress] = {}  # in Prefect now
        self.stats = DispatchStats()
        self.outcomes: collections.OrderedDict[str, TriggerOutcome] = collections.OrderedDict()
        self._sem = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._deps: AnalyzeDeps | None = None
        # The last trigger seen (publisher instance, trigger sequence), kept in a file so a
        # restarted dispatcher knows which triggers fired while it was down.
        self.cursor_file = Path(cursor_file) if cursor_file else None
        self._cursor: dict[str, Any] = self._load_cursor()

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read trigger events until :meth:`stop`; then wait for the flows already running."""
        pool = ClientPool(self.commands_address, self.max_concurrent) if self.commands_address else None
        if pool is not None:
            pool.connect()
        self._deps = AnalyzeDeps(cfg=self.cfg, model=self.model, commands=pool)
        sub = AsyncSubscriber(self.events_address, [TRIGGER_PREFIX], on_gap=self._on_gap, on_restart=self._on_restart)
        log.info(
            "dispatching %s* from %s (commands %s, %d at once, deadline %.1fs)",
            TRIGGER_PREFIX,
            self.events_address,
            self.commands_address,
            self.max_concurrent,
            self.deadline_s,
        )
        watch = await self._watch_prefect()
        recording = asyncio.create_task(self._record_loop(), name="record runs") if self.record == "after" else None
        self._ready.set()
        try:
            while not self._stop.is_set():
                ev = await sub.recv(timeout_ms=100)
                if ev is not None:
                    self._dispatch(ev)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.stats.malformed = sub.malformed_total
            sub.close()
            if pool is not None:
                pool.close()
            if watch is not None:
                watch.cancel()
            await self._record_before_exit()
            if recording is not None:
                recording.cancel()
            if self.prefect is not None:
                await self.prefect.aclose()

    async def _watch_prefect(self) -> asyncio.Task[None] | None:
        """Know at once whether the API answers, then keep watching it."""
        url = self.prefect_url or configured_api_url()
        if not url:
            return None
        self.prefect = PrefectHealth(
            url, interval_s=self.health_interval_s, on_up=self.records.flush, on_down=self._abandon_flows
        )
        await self.prefect.check()
        return asyncio.create_task(self.prefect.watch(), name="prefect health")

    async def _record_loop(self) -> None:
        """Record the runs decided first, as soon as each is added (while the API answers;
        the health check's ``on_up`` drains what waited while it was away)."""
        while True:
            await self._record_wake.wait()
            self._record_wake.clear()
            if self._prefect_away():
                continue
            try:
                await self._decisions_first()  # opening Prefect's client costs ~25 ms too
                await self.records.flush(self._decisions_first)
            except Exception:  # the decisions stand; what is not recorded stays queued
                log.exception("recording analysis runs in Prefect failed")

    async def _decisions_first(self) -> None:
        """Recording one run holds this loop for ~10 ms of the Prefect client's CPU (measured
        on a 2-vCPU VM): wait while triggers are queued or being decided, so a burst is decided
        before its runs are recorded — but no more than ``RECORD_YIELD_S``, so runs are still
        recorded (at least ~4/s) while remote analysts are always in flight."""
        deadline = time.monotonic() + RECORD_YIELD_S
        while self._tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def _record_before_exit(self, timeout_s: float = 10.0) -> None:
        """One last go at recording what waits, if the API is there; the rest is counted."""
        if self.records.pending and self.prefect is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    if await self.prefect.check():
                        await self.records.flush()
            except TimeoutError:
                log.warning("recording the runs decided without Prefect took over %.0f s", timeout_s)
        self.records.abandon()

    def start(self) -> asyncio.Task[None]:
        self._main = asyncio.create_task(self.run(), name="dispatcher")
        return self._main

    async def wait_ready(self) -> None:
        """Until the subscriber socket exists (its subscription reaches the publisher a few ms
        later, like any ZeroMQ SUB)."""
        await self._ready.wait()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        self.stop()
        if self._main is not None:
            await self._main

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until every trigger received so far has finished (tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=deadline - time.monotonic())

    # -- per trigger -------------------------------------------------------------------------

    def _dispatch(self, ev: Event) -> None:
        received_ns = time.time_ns()
        data = ev.data
        trigger_id = str(data.get("trigger_id") or "")
        if not trigger_id:
            self.stats.malformed += 1
            log.warning("trigger event %s without trigger_id, skipped", ev.topic)
            return
        self.stats.received += 1
        self._advance_cursor(ev, trigger_id)
        outcome = TriggerOutcome(
            trigger_id,
            str(data.get("rule", "")),
            str(data.get("coin", "")),
            published_ns=ev.pub_ts_ns,
            received_ns=received_ns,
        )
        self.outcomes[trigger_id] = outcome
        while len(self.outcomes) > MAX_OUTCOMES:
            self.outcomes.popitem(last=False)
        with use_deps(self._deps):  # type: ignore[arg-type]
            task = asyncio.create_task(self._analyse(data, outcome, ev), name=f"trigger {trigger_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _analyse(self, trigger: dict[str, Any], o: TriggerOutcome, ev: Event) -> None:
        try:
            await self._analyse_one(trigger, o)
        finally:
            # After the decision, not before: building and queueing a Prefect event costs
            # ~2 ms of this loop, which a burst of triggers would pay before their decisions.
            if self.emit_prefect_events and (self.prefect is None or self.prefect.up):
                # Away, the event would only wait in Prefect's events worker (and hold up this
                # process's exit); the run recorded later carries the trigger instead.
                self._emit(ev, o)

    async def _analyse_one(self, trigger: dict[str, Any], o: TriggerOutcome) -> None:
        # The rule's start_workflow timeout_s, else the dispatcher's deadline.
        deadline_s = workflow_of(trigger).timeout_s or self.deadline_s
        deadline_ns = (o.published_ns or o.received_ns) + int(deadline_s * 1e9)
        # The slots bound the LLM and Prefect; with Prefect away only the local model decides
        # (well under a millisecond), and it must not queue behind flows stuck in Prefect.
        slot = not self._prefect_away()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can time out after the acquire
            # succeeded and leak the permit.
            async with asyncio.timeout(max(0.0, (deadline_ns - time.time_ns()) / 1e9)):
                if slot:
                    await self._sem.acquire()
        except TimeoutError:
            self._expire(o, deadline_s)
            return
        try:
            if time.time_ns() >= deadline_ns:
                self._expire(o, deadline_s)
                return
            self.stats.started += 1
            self.stats.running += 1
            self.stats.peak_running = max(self.stats.peak_running, self.stats.running)
            o.status, o.started_ns = "running", time.time_ns()
            try:
                o.result = await self._decide(trigger, o)
            except Exception as e:  # a flow crash must not take the dispatcher down
                self.stats.failed += 1
                o.status, o.error = "failed", f"{type(e).__name__}: {e}"
                log.exception("trigger %s: analysis flow failed", o.trigger_id)
            else:
                applied = o.result["applied"]
                o.status = "applied" if applied.get("ok") else "refused" if applied.get("sent") else "not_sent"
                o.error = applied.get("error")
            finally:
                self.stats.running -= 1
        finally:
            if slot:
                self._sem.release()
        self._finish(o)

    def _prefect_away(self) -> bool:
        return self.prefect is not None and not self.prefect.up

    def _abandon_flows(self, reason: str) -> None:
        """Prefect just went away: runs stuck in its calls are cancelled and decided here,
        unless their decision is already on its way to the hot path."""
        for flow, progress in list(self._flows.items()):
            if not progress.applying and not flow.done():
                progress.abandoned = reason
                flow.cancel()

    async def _decide(self, trigger: dict[str, Any], o: TriggerOutcome) -> dict[str, Any]:
        """The analysis flow's result; without Prefect when it is away or does not start the
        run in time (then the run is queued to be recorded)."""
        published_ns = o.published_ns or o.received_ns
        if self.record == "after":
            return await self._decide_first(trigger, o)
        health = self.prefect
        if health is not None and not health.up:
            return await self._decide_locally(trigger, o, health.reason or "unreachable")
        progress = FlowProgress()
        with track_progress(progress):  # the flow's task sees it (a copy of this context)
            flow = asyncio.ensure_future(run_analysis(trigger, published_ns))
        self._flows[flow] = progress
        try:
            return await self._await_flow(flow, progress)
        except Exception as e:
            if progress.out is not None:  # applied; only Prefect's bookkeeping after it failed
                log.warning(
                    "trigger %s: decision applied, but its flow run failed afterwards (%s: %s)",
                    o.trigger_id,
                    type(e).__name__,
                    e,
                )
                if health is not None and unreachable(e):
                    health.mark_down(f"{type(e).__name__}: {e}")
                return progress.out
            if progress.applying or not (isinstance(e, _NotStarted) or unreachable(e)):
                raise  # the decision may have gone out, or Prefect answered: a real failure
            reason = str(e) if isinstance(e, _NotStarted) else f"{type(e).__name__}: {e}"
            if health is not None and not isinstance(e, _NotStarted):
                health.mark_down(reason)
        finally:
            del self._flows[flow]
        return await self._decide_locally(trigger, o, reason)

    async def _await_flow(self, flow: asyncio.Future[dict[str, Any]], progress: FlowProgress) -> dict[str, Any]:
        """The flow's result; :class:`_NotStarted` when Prefect did not start its body within
        ``prefect_start_s`` — the flow is then cancelled before the body can run, so the
        trigger can be decided here without being decided twice (one thread, one loop: the
        body sets ``started`` first thing, and a cancelled task never resumes into it)."""
        started = asyncio.ensure_future(progress.started.wait())
        try:
            await asyncio.wait({flow, started}, timeout=self.prefect_start_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
        if not flow.done() and not progress.started.is_set():
            flow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flow
            raise _NotStarted(f"the flow run did not start within {self.prefect_start_s:g} s")
        await asyncio.wait({flow})  # unlike await, returns when the flow alone was cancelled
        if flow.cancelled() and progress.abandoned is not None:
            raise _NotStarted(f"abandoned: {progress.abandoned}")
        return flow.result()

    async def _decide_first(self, trigger: dict[str, Any], o: TriggerOutcome) -> dict[str, Any]:
        """Decide and apply here, with the analysis the trigger's rule asks for; then queue the
        run to be recorded in Prefect. Prefect being away changes nothing but when the run is
        recorded (counted in ``stats.without_prefect``)."""
        published_ns = o.published_ns or o.received_ns
        away = None
        if self.prefect is not None and not self.prefect.up:
            away = self.prefect.reason or "unreachable"
        if away is not None:
            self.stats.without_prefect += 1
        try:
            out = await analyze_first(trigger, published_ns, self.deadline_s)
        except Exception as e:
            self._queue_record(LateRun(trigger, published_ns, None, f"{type(e).__name__}: {e}", away))
            raise
        self._queue_record(LateRun(trigger, published_ns, out, None, away))
        return out

    def _queue_record(self, run: LateRun) -> None:
        self.records.add(run)
        self._record_wake.set()

    async def _decide_locally(self, trigger: dict[str, Any], o: TriggerOutcome, reason: str) -> dict[str, Any]:
        self.stats.without_prefect += 1
        published_ns = o.published_ns or o.received_ns
        try:
            out = await analyze_locally(trigger, published_ns)
        except Exception as e:
            self.records.add(LateRun(trigger, published_ns, None, f"{type(e).__name__}: {e}", reason))
            raise
        self.records.add(LateRun(trigger, published_ns, out, None, reason))
        return out

    def _expire(self, o: TriggerOutcome, deadline_s: float) -> None:
        self.stats.expired += 1
        o.status = "expired"
        o.error = f"deadline of {deadline_s:g}s passed while queued; orders kept as placed"
        log.warning("trigger %s %s %s: %s", o.trigger_id, o.rule, o.coin, o.error)
        self._finish(o)

    def _finish(self, o: TriggerOutcome) -> None:
        o.done_ns = time.time_ns()
        if self.on_outcome is not None:
            try:
                self.on_outcome(o)
            except Exception:
                log.exception("on_outcome hook failed for trigger %s", o.trigger_id)

    def _emit(self, ev: Event, o: TriggerOutcome) -> None:
        from prefect.events import emit_event

        try:
            emit_event(
                event=PREFECT_EVENT,
                resource={
                    "prefect.resource.id": f"tripwire.trigger.{o.trigger_id}",
                    "tripwire.rule": o.rule,
                    "tripwire.coin": o.coin,
                },
                payload={"topic": ev.topic, "side": ev.data.get("side"), "published_ns": ev.pub_ts_ns, "seq": ev.seq},
            )
        except Exception:  # events are for visibility; never lose a trigger over one
            log.warning("could not emit the Prefect event for trigger %s", o.trigger_id, exc_info=True)

    # -- the trigger cursor -------------------------------------------------------------------

    def _load_cursor(self) -> dict[str, Any]:
        if self.cursor_file is None or not self.cursor_file.exists():
            return {}
        try:
            data = orjson.loads(self.cursor_file.read_bytes())
            return data if isinstance(data, dict) else {}
        except (OSError, orjson.JSONDecodeError) as e:
            log.warning(
                "dispatcher cursor %s unreadable (%s): gaps across this restart will not be detected",
                self.cursor_file,
                e,
            )
            return {}

    def _advance_cursor(self, ev: Event, trigger_id: str) -> None:
        seq = trigger_seq(trigger_id)
        if seq is None:
            return
        last, instance = self._cursor.get("seq"), self._cursor.get("instance")
        if instance == ev.instance and isinstance(last, int) and seq > last + 1:
            missed = seq - last - 1
            self.stats.trigger_gaps += 1
            self.stats.missed_triggers += missed
            log.warning(
                "missed %d trigger(s) #%d..#%d of hot path %s (fired while this "
                "dispatcher was down or the bus dropped them): never analysed, their "
                "orders stay as placed",
                missed,
                last + 1,
                seq - 1,
                ev.instance,
            )
        elif instance is not None and instance != ev.instance:
            log.warning("hot path restarted since the last trigger seen (%s → %s)", instance, ev.instance)
        if instance != ev.instance or not isinstance(last, int) or seq > last:
            self._cursor = {"instance": ev.instance, "seq": seq, "trigger_id": trigger_id}
            self._save_cursor()

    def _save_cursor(self) -> None:
        if self.cursor_file is None:
            return
        tmp = self.cursor_file.with_suffix(".tmp")
        try:
            self.cursor_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(self._cursor))
            tmp.replace(self.cursor_file)
        except OSError as e:
            log.warning("cannot save dispatcher cursor %s: %s", self.cursor_file, e)

    # -- bus health --------------------------------------------------------------------------

    def _on_gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        self.stats.missed += gap.missed
        log.warning("trigger events lost: %s (%d missed; total gaps %d)", gap, gap.missed, self.stats.gaps)

    def _on_restart(self, restart: Restart) -> None:
        self.stats.restarts += 1
        log.warning(
            "hot-path publisher restarted: %s (restarts %d); triggers published while it was down were not seen",
            restart,
            self.stats.restarts,
        )


class _NotStarted(Exception):
    """Prefect did not start the flow run's body in time."""
