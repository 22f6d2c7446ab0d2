"""Analysis runs decided outside a live Prefect flow run, recorded in Prefect afterwards: every
trigger when the dispatcher decides first (``record="after"``, the default: the decision never
waits on Prefect's bookkeeping), and the triggers decided without Prefect while its API was
away, recorded once it answers again.

What "record the run" means in Prefect terms: a flow run of ``analyze_trigger`` with the name,
tags and parameters a live run has (plus the tag ``recorded-after``, and ``without-prefect`` when
its API was away), taken Running →
Completed (Failed when the local analysis failed) with a message saying when it really ran
and why without Prefect, and its ``decision-<trigger id>`` markdown artifact — so the UI, the
API's ``/flows`` routes and anything that counts runs see every trigger. Prefect stamps the
states with the time they are recorded, not the time they happened: the real times are in the
message and the artifact (and in the store's ``decisions`` row, written at once either way).

The queue is in memory and bounded (``max_pending``, oldest out first). What cannot be
recorded is counted in ``not_recorded``: pushed out of a full queue, refused by the API (it
answered, so retrying would not help), or still waiting when the process stops.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tripwire.flows.analyze import analyze_trigger, artifact_key, result_markdown, run_name, run_tags
from tripwire.flows.prefect_runtime import unreachable

log = logging.getLogger(__name__)

WITHOUT_PREFECT_TAG = "without-prefect"
RECORDED_AFTER_TAG = "recorded-after"
MAX_PENDING = 10_000


@dataclass
class LateRun:
    """One trigger analysed without Prefect, as it will be recorded."""

    trigger: dict[str, Any]
    published_ns: int
    out: dict[str, Any] | None  # the analysis result; None when it failed
    error: str | None  # why it failed
    reason: str | None  # why without Prefect; None: it answered, the decision simply went first
    done_ns: int = 0  # when it was decided (wall clock)
    flow_run_id: UUID | None = None  # once created: a retry after an outage resumes from here

    @property
    def trigger_id(self) -> str:
        return str(self.trigger.get("trigger_id", "?"))

    def message(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.done_ns / 1e9))
        if self.out is not None:
            what = f"decided {self.out.get('kind')} (source {self.out.get('decision', {}).get('source')})"
        else:
            what = f"failed ({self.error})"
        if self.reason is None:
            return (
                f"{what} at {when}.{self.done_ns // 1_000_000 % 1000:03d} UTC and applied before "
                "this run was recorded (the decision never waits on Prefect)"
            )
        return (
            f"{what} at {when}.{self.done_ns // 1_000_000 % 1000:03d} UTC without Prefect "
            f"({self.reason}); recorded once the API answered again"
        )


class RunRecords:
    """The queue of :class:`LateRun` and what became of each."""

    def __init__(self, max_pending: int = MAX_PENDING):
        self.max_pending = max_pending
        self.pending: collections.deque[LateRun] = collections.deque()
        self.added = 0  # runs decided without Prefect
        self.recorded = 0  # recorded later
        self.not_recorded = 0  # never will be (see the module doc)
        self._lock = asyncio.Lock()

    def add(self, run: LateRun) -> None:
        run.done_ns = run.done_ns or time.time_ns()
        self.added += 1
        self.pending.append(run)
        while len(self.pending) > self.max_pending:
            dropped = self.pending.popleft()
            self.not_recorded += 1
            log.error(
                "run of trigger %s will not be recorded in Prefect: %d runs wait already "
                "(its decision is in the store's decisions)",
                dropped.trigger_id,
                self.max_pending,
            )

    async def flush(self, before_each: Callable[[], Awaitable[None]] | None = None) -> None:
        """Record what waits, oldest first; stop at the first sign the API is away again.
        ``before_each`` is awaited before each run is recorded (the dispatcher lets the
        decisions in progress go first)."""
        if not self.pending:
            return
        from prefect.client.orchestration import get_client

        async with self._lock, get_client() as client:
            while self.pending:
                if before_each is not None:
                    await before_each()
                    if not self.pending:
                        break
                run = self.pending[0]
                try:
                    await _record(client, run)
                except Exception as e:  # noqa: BLE001 - classified: away (retry) or refused
                    if unreachable(e):
                        log.info("Prefect went away again; %d runs still to record", len(self.pending))
                        return
                    self.pending.popleft()
                    self.not_recorded += 1
                    log.error("run of trigger %s refused by Prefect, not recorded: %s", run.trigger_id, e)
                    continue
                self.pending.popleft()
                self.recorded += 1
        log.info("recorded the runs decided without Prefect (%d in all)", self.recorded)

    def abandon(self) -> int:
        """At exit: what still waits will not be recorded; counted and logged. How many."""
        n = len(self.pending)
        if n:
            ids = ", ".join(r.trigger_id for r in list(self.pending)[:10])
            log.error(
                "%d runs decided without Prefect were never recorded there (%s%s); their decisions are in the store",
                n,
                ids,
                ", …" if n > 10 else "",
            )
            self.not_recorded += n
            self.pending.clear()
        return n


async def _record(client: Any, run: LateRun) -> None:
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.states import Completed, Failed, Running

    if run.flow_run_id is None:
        fr = await client.create_flow_run(
            analyze_trigger,
            name=run_name(run.trigger),
            parameters={"trigger": run.trigger, "published_ns": run.published_ns},
            tags=[*run_tags(run.trigger), RECORDED_AFTER_TAG]
            + ([WITHOUT_PREFECT_TAG] if run.reason is not None else []),
            state=Running(),
        )
        run.flow_run_id = fr.id
    final = Completed if run.error is None else Failed
    await client.set_flow_run_state(run.flow_run_id, final(message=run.message()), force=True)
    if run.out is not None:
        await client.create_artifact(
            ArtifactCreate(
                key=artifact_key(run.trigger_id),
                type="markdown",
                data=result_markdown(run.trigger, run.out) + f"\n{run.message()}\n",
                flow_run_id=run.flow_run_id,
                description=f"decision for trigger {run.trigger_id}"
                + (" (decided without Prefect)" if run.reason is not None else ""),
            )
        )
