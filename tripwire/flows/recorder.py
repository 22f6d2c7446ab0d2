"""The recorder: the hot path's market and account events, written to the store in batches.

One asyncio loop reads the bus (``AsyncSubscriber`` on ``TOPIC_PREFIXES``) and applies the
storage rules (tripwire/flows/recording/rules.py) into a :class:`Batch`; a batch is written when it holds
``batch_size`` documents or its oldest waited ``flush_interval_ms``. Writes run in a worker
thread, one batch at a time, while the loop keeps reading into the next batch.

Bounded memory: at most ``max_buffer_docs`` documents wait. When the store falls that far
behind (or is down: writes are retried with backoff, never dropped) the loop stops reading, the
bus's queues fill, and the hot path's publisher drops and counts (it never waits); the recorder
sees those as gaps (``tripwire_recorder_gaps_total``).

SIGTERM/SIGINT: drain, then exit. What was received before the stop — the socket's queue (up
to its high-water mark) and the batches in memory — is read and written, all within
``drain_timeout_s``. Reading ends once an event published after the stop arrives (everything
before it has been read: one publisher, one ordered pipe; ``pub_ts_ns`` is the publisher's wall
clock, so this assumes the clocks agree, as on one host) or the bus was quiet
``drain_quiet_ms``. The hot path keeps publishing meanwhile: with a wall-clock cutoff the
recorder catches up with the stop instead of chasing the live stream. (Unsubscribing or
disconnecting at the stop would end the stream too, but a ZeroMQ SUB then discards its queue.)
At the deadline, what is still queued from before the stop is counted without being stored,
and batches the store would not take are abandoned: both are ``lost``, logged and make the exit
status 1. Events are accounted one by one: ``received = stored + filtered + invalid + lost`` at
exit; events the publisher dropped before they reached the recorder are ``missed`` (sequence
gaps), reported beside it. Events published after the stop are not recorded, as when no
recorder runs.
Longer candles still open are not written (they are not closed, and are derived data); on
restart they are rebuilt from the stored 1-minute bars.

``tripwire flows record`` (``tripwire.commands.flows.record``) runs it as a process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tripwire.bus.client import AsyncSubscriber, Gap, Restart
from tripwire.contracts.events import Event, topic_root
from tripwire.flows.recording import TOPIC_PREFIXES, Batch, RecorderConfig, Rules, WriteResult, write_batch
from tripwire.flows.recording.candles import MINUTE_MS
from tripwire.flows.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass
class RecorderStats:
    """Counts since start; exported by :class:`RecorderCollector`."""

    received: dict[str, int] = field(default_factory=dict)  # topic root → events read
    stored: int = 0  # events whose documents the store took (or already had)
    filtered: int = 0  # events the rules chose not to store
    documents: dict[str, int] = field(default_factory=dict)  # collection → written
    unchanged: dict[str, int] = field(default_factory=dict)  # upserts equal to the stored doc
    duplicates: dict[str, int] = field(default_factory=dict)  # already stored: skipped
    rejected: dict[str, int] = field(default_factory=dict)  # refused by the store
    invalid: dict[str, int] = field(default_factory=dict)  # topic root → payloads off contract
    lost: int = 0  # events received but not stored at exit (= abandoned + unread)
    abandoned: int = 0  # events in batches the store did not take by the deadline
    unread: int = 0  # events still in the socket's queue at the deadline (counted only)
    lost_documents: int = 0  # documents of the abandoned events
    batches: int = 0
    write_errors: int = 0  # transient store failures (each retried)
    stalls: int = 0  # times reading paused because the buffer was full
    gaps: int = 0
    missed: int = 0  # events lost in those gaps
    restarts: int = 0
    malformed: int = 0  # frames the subscriber could not decode
    buffered: int = 0  # documents pending now

    @property
    def received_total(self) -> int:
        return sum(self.received.values())

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())

    def accounting(self) -> str:
        """One line: where every received event went, and what never arrived."""
        return (
            f"received {self.received_total} events: stored {self.stored}, filtered "
            f"{self.filtered}, invalid {self.invalid_total}, lost {self.lost} (unread "
            f"{self.unread}, not written {self.abandoned}); before receipt {self.missed} "
            f"missed in {self.gaps} gaps"
        )

    def merge(self, r: WriteResult) -> None:
        for name in ("unchanged", "duplicates", "rejected"):
            _add_all(getattr(self, name), getattr(r, name))
        _add_all(self.documents, r.written)


def _add_all(into: dict[str, int], counts: dict[str, int]) -> None:
    for k, n in counts.items():
        into[k] = into.get(k, 0) + n


class Recorder:
    """Reads ``events_address`` and writes what the rules keep to ``store``.

    ``await run()`` until :meth:`stop`; or :meth:`start` (a task) and ``await close()``.
    :meth:`record` and :meth:`flush` are the batch path without the socket (benchmarks, tests).
    """

    def __init__(
        self,
        events_address: str,
        store: Store,
        cfg: RecorderConfig | None = None,
        *,
        topics: Iterable[str] = TOPIC_PREFIXES,
    ):
        self.events_address = events_address
        self.store = store
        self.cfg = cfg or RecorderConfig()
        self.topics = tuple(topics)
        self.stats = RecorderStats()
        self.rules = Rules(self.cfg, self, history=self._minutes_stored)
        self._batch = Batch()
        self._in_flight = Batch()
        self._writing: asyncio.Task[None] | None = None
        self._shutdown_by: float | None = None  # monotonic deadline for the drain once stopping
        self._stopped_ns = 0  # wall clock at the stop: events published later are not drained
        self._documents_added = 0  # documents the rules have put into batches (ever)
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._warned: set[str] = set()

    # -- the sink the rules write into ----------------------------------------------------------

    def insert(self, collection: str, doc: dict[str, Any]) -> None:
        b = self._batch
        if not b.size:
            b.first_ns = time.monotonic_ns()
        b.insert(collection, doc)
        self._documents_added += 1

    def upsert(self, collection: str, doc: dict[str, Any]) -> None:
        b = self._batch
        if not b.size:
            b.first_ns = time.monotonic_ns()
        b.upsert(collection, doc)
        self._documents_added += 1

    def _minutes_stored(self, coin: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Stored 1-minute bars of ``coin`` in [start, end), to seed a longer candle the recorder
        (re)started in the middle of. Called for a coin's first bar only, so none of its bars
        can still be waiting in a batch."""
        flt = {"coin": coin, "ts": {"$gte": start_ms, "$lt": end_ms}}
        try:
            bars = self.store.find("candles_1m", flt, sort=[("ts", 1)], limit=(end_ms - start_ms) // MINUTE_MS + 1)
        except Exception:  # a seed is an improvement; never lose the live bar over it
            log.warning("could not read stored 1m candles of %s to seed longer candles", coin, exc_info=True)
            return []
        return bars

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Record until :meth:`stop`; then drain the socket and write everything received
        (within ``drain_timeout_s``; what is not is counted in ``stats.lost``)."""
        sub = AsyncSubscriber(self.events_address, self.topics, on_gap=self._on_gap, on_restart=self._on_restart)
        log.info("recording %s from %s into %r", ", ".join(self.topics), self.events_address, self.store)
        self._ready.set()
        try:
            while not self._stop.is_set():
                ev = await sub.recv(timeout_ms=self._wait_ms())
                if ev is not None:
                    self.handle(ev)
                await self._maybe_flush()  # also when idle: the flush interval may be up
            await self._drain(sub)
            await self._final_flush()
        finally:
            self.stats.malformed = sub.malformed_total
            sub.close()
            if self._writing is not None and not self._writing.done():
                self._writing.cancel()

    def start(self) -> asyncio.Task[None]:
        self._main = asyncio.create_task(self.run(), name="recorder")
        return self._main

    async def wait_ready(self) -> None:
        """Until the subscriber socket exists (its subscriptions reach the publisher a few ms
        later, like any ZeroMQ SUB)."""
        await self._ready.wait()

    def stop(self) -> None:
        if self._shutdown_by is None:
            self._shutdown_by = time.monotonic() + self.cfg.drain_timeout_s
            self._stopped_ns = time.time_ns()
        self._stop.set()

    async def close(self) -> None:
        self.stop()
        if self._main is not None:
            await self._main

    # -- per event ----------------------------------------------------------------------------

    async def record(self, ev: Event) -> None:
        """Apply the rules to ``ev`` and start a write if a batch is due."""
        self.handle(ev)
        await self._maybe_flush()

    def handle(self, ev: Event) -> None:
        """Apply the rules to ``ev`` (into the pending batch; nothing is written here)."""
        root = self._count_received(ev)
        before = self._documents_added
        try:
            self.rules.handle(ev)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            invalid = self.stats.invalid
            invalid[root] = invalid.get(root, 0) + 1
            if root not in self._warned:  # once per topic root, with the first example
                self._warned.add(root)
                log.warning(
                    "%s: payload off the events contract (%s: %s), not stored; further ones are only counted",
                    ev.topic,
                    type(e).__name__,
                    e,
                )
        else:
            # All of an event's documents land in the one batch open now (batches swap between
            # events only), so the batch can say how many events it carries.
            if self._documents_added == before:
                self.stats.filtered += 1
            else:
                self._batch.events += 1
        self.stats.buffered = self._pending()

    def _count_received(self, ev: Event) -> str:
        root = topic_root(ev.topic)
        received = self.stats.received
        received[root] = received.get(root, 0) + 1
        return root

    def _pending(self) -> int:
        writing = self._writing
        return self._batch.size + (self._in_flight.size if writing is not None and not writing.done() else 0)

    # -- writing ------------------------------------------------------------------------------

    def _wait_ms(self) -> int:
        b = self._batch
        if not b.size:
            return 100
        if self._writing is not None and not self._writing.done():
            return 2  # a batch may be due once that write ends: look again soon
        due_ns = b.first_ns + self.cfg.flush_interval_ms * 1_000_000
        return max(0, min(100, (due_ns - time.monotonic_ns()) // 1_000_000))

    def _due(self) -> bool:
        b = self._batch
        return bool(b.size) and (
            b.size >= self.cfg.batch_size or time.monotonic_ns() - b.first_ns >= self.cfg.flush_interval_ms * 1_000_000
        )

    async def _maybe_flush(self) -> None:
        if not self._due():
            return
        writing = self._writing
        if writing is not None and not writing.done():
            if self._batch.size < self.cfg.max_buffer_docs:
                return  # keep reading; the next batch starts when this write ends
            self.stats.stalls += 1
            await asyncio.shield(writing)
        self._start_write()

    def _start_write(self) -> None:
        self._in_flight, self._batch = self._batch, Batch()
        self._writing = asyncio.create_task(self._write(self._in_flight))

    async def flush(self) -> None:
        """Write everything pending now (and wait for it)."""
        if self._writing is not None:
            await asyncio.shield(self._writing)
        if self._batch.size:
            self._start_write()
            await asyncio.shield(self._writing)  # type: ignore[arg-type]

    async def _write(self, batch: Batch) -> None:
        """Write ``batch``, retrying while the store fails; once stopping, only until the
        shutdown deadline."""
        backoff = 0.05
        result = WriteResult()
        try:
            while True:
                try:
                    await asyncio.to_thread(write_batch, self.store, batch, result)
                    self.stats.batches += 1
                    self.stats.stored += batch.events
                    batch.events = 0
                    return
                except Exception as e:  # StoreUnavailable, or a failure nobody classified
                    self.stats.write_errors += 1
                    if not isinstance(e, StoreUnavailable):
                        log.exception("unexpected error writing a batch; retrying")
                    deadline = self._shutdown_by
                    if deadline is not None and time.monotonic() + backoff > deadline:
                        # Some documents of these events may be stored already (a batch is
                        # written collection by collection): lost counts them all, never fewer.
                        s = self.stats
                        s.lost += batch.events
                        s.abandoned += batch.events
                        s.lost_documents += batch.size
                        log.error(
                            "store still unavailable at the drain deadline: %d events (%d documents) not written (%s)",
                            batch.events,
                            batch.size,
                            e,
                        )
                        batch.events = 0
                        return
                    log.warning("store unavailable, %d documents wait; retrying in %.2fs: %s", batch.size, backoff, e)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.cfg.retry_max_s)
        finally:
            self.stats.merge(result)
            self.stats.buffered = self._pending()

    async def _drain(self, sub: AsyncSubscriber) -> None:
        """Read and record what reached the socket before the stop, until an event published
        after it arrives or the bus is quiet for ``drain_quiet_ms``, at most until the
        deadline."""
        deadline = self._shutdown_by if self._shutdown_by is not None else time.monotonic()
        while True:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            ev = await sub.recv(timeout_ms=min(self.cfg.drain_quiet_ms, left_ms))
            if ev is None:
                return
            await self.record(ev)  # in hand already: stored even if published after the stop
            if ev.pub_ts_ns >= self._stopped_ns:
                break
        await self._count_unread(sub)

    async def _count_unread(self, sub: AsyncSubscriber) -> None:
        """Out of time (or caught up): take what the socket still holds from before the stop
        off its queue and count it as lost, rather than let it vanish with the socket. Only
        decoded, not recorded, so far faster than the drain; it ends at the first event
        published after the stop."""
        unread = 0
        while (ev := await sub.recv(timeout_ms=0)) is not None and ev.pub_ts_ns < self._stopped_ns:
            self._count_received(ev)
            unread += 1
        if unread:
            self.stats.unread += unread
            self.stats.lost += unread
            log.error(
                "drain deadline (%.1f s) reached: %d events received before the stop were not read, lost",
                self.cfg.drain_timeout_s,
                unread,
            )

    async def _final_flush(self) -> None:
        await self.flush()
        self.stats.buffered = 0
        s = self.stats
        level = logging.ERROR if s.lost else logging.INFO
        log.log(
            level,
            "recorder stopped: %d documents written in %d batches; %s",
            sum(s.documents.values()),
            s.batches,
            s.accounting(),
        )

    # -- bus health -----------------------------------------------------------------------------

    def _on_gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        self.stats.missed += gap.missed
        log.warning("events lost before the recorder: %s (%d missed; total gaps %d)", gap, gap.missed, self.stats.gaps)

    def _on_restart(self, restart: Restart) -> None:
        self.stats.restarts += 1
        log.warning("hot-path publisher restarted: %s", restart)


# -- metrics ------------------------------------------------------------------------------------


class RecorderCollector:
    """Prometheus view of :class:`RecorderStats` (``registry.register(RecorderCollector(s))``)."""

    def __init__(self, stats: RecorderStats):
        self.stats = stats

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.stats

        def labelled(name: str, doc: str, label: str, counts: dict[str, int]) -> Any:
            m = CounterMetricFamily(name, doc, labels=[label])
            for k, n in sorted(counts.items()):
                m.add_metric([k], n)
            return m

        def plain(name: str, doc: str, n: int) -> Any:
            return CounterMetricFamily(name, doc, value=n)

        yield labelled(
            "tripwire_recorder_documents_total",
            "documents written (inserted, or upserts that changed something)",
            "collection",
            s.documents,
        )
        yield labelled(
            "tripwire_recorder_duplicates_total",
            "documents whose _id was already stored (skipped)",
            "collection",
            s.duplicates,
        )
        yield labelled("tripwire_recorder_rejected_total", "documents the store refused", "collection", s.rejected)
        yield labelled("tripwire_recorder_events_total", "events read from the bus", "topic_root", s.received)
        yield labelled(
            "tripwire_recorder_invalid_total",
            "events whose payload broke the events contract (not stored)",
            "topic_root",
            s.invalid,
        )
        yield plain("tripwire_recorder_batches_total", "batches written", s.batches)
        yield plain("tripwire_recorder_gaps_total", "sequence gaps seen on the bus", s.gaps)
        yield plain("tripwire_recorder_missed_total", "events lost in those gaps", s.missed)
        yield plain("tripwire_recorder_restarts_total", "publisher restarts seen", s.restarts)
        yield plain("tripwire_recorder_malformed_total", "undecodable frames", s.malformed)
        yield plain("tripwire_recorder_write_errors_total", "transient store failures (retried)", s.write_errors)
        yield plain("tripwire_recorder_stalls_total", "times reading paused on a full buffer", s.stalls)
        yield plain("tripwire_recorder_stored_events_total", "events whose documents were written", s.stored)
        yield plain("tripwire_recorder_filtered_total", "events the storage rules chose not to store", s.filtered)
        yield plain(
            "tripwire_recorder_lost_total", "events received but not stored at shutdown (unread or not written)", s.lost
        )
        yield GaugeMetricFamily(
            "tripwire_recorder_buffered_documents", "documents waiting to be written", value=s.buffered
        )
