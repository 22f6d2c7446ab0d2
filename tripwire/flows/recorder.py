"""The recorder: the hot path's market and account events, written to the store in batches.

One asyncio loop reads the bus (``AsyncSubscriber`` on ``TOPIC_PREFIXES``) and applies the
storage rules (tripwire/flows/recording/rules.py) into a :class:`Batch`; a batch is written when it holds
``batch_size`` documents or its oldest waited ``flush_interval_ms``. Writes run in a worker
thread, one batch at a time, while the loop keeps reading into the next batch.

Bounded memory: at most ``max_buffer_docs`` documents wait. When the store falls that far
behind (or is down: writes are retried with backoff, never dropped) the loop stops reading, the
bus's queues fill, and the hot path's publisher drops and counts (it never waits); the recorder
sees those as gaps (``tripwire_recorder_gaps_total``).

SIGTERM/SIGINT: stop reading new events, read what already arrived (until the bus has been
quiet ``drain_quiet_ms``, at most ``drain_max_ms``), write everything pending, exit. Nothing
that reached the process is lost. Longer candles still open are not written (they are not
closed); on restart they are rebuilt from the stored 1-minute bars.

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
    documents: dict[str, int] = field(default_factory=dict)  # collection → written
    unchanged: dict[str, int] = field(default_factory=dict)  # upserts equal to the stored doc
    duplicates: dict[str, int] = field(default_factory=dict)  # already stored: skipped
    rejected: dict[str, int] = field(default_factory=dict)  # refused by the store
    invalid: dict[str, int] = field(default_factory=dict)  # topic root → payloads off contract
    lost: int = 0  # pending documents abandoned at shutdown (store down throughout)
    batches: int = 0
    write_errors: int = 0  # transient store failures (each retried)
    stalls: int = 0  # times reading paused because the buffer was full
    gaps: int = 0
    missed: int = 0  # events lost in those gaps
    restarts: int = 0
    malformed: int = 0  # frames the subscriber could not decode
    buffered: int = 0  # documents pending now

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
        self._shutdown_by: float | None = None  # monotonic deadline for writes once stopping
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

    def upsert(self, collection: str, doc: dict[str, Any]) -> None:
        b = self._batch
        if not b.size:
            b.first_ns = time.monotonic_ns()
        b.upsert(collection, doc)

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
        """Record until :meth:`stop`; then drain the socket and write everything pending."""
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
            self._shutdown_by = time.monotonic() + self.cfg.shutdown_flush_s
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
        root = topic_root(ev.topic)
        received = self.stats.received
        received[root] = received.get(root, 0) + 1
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
        self.stats.buffered = self._pending()

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
                    return
                except Exception as e:  # StoreUnavailable, or a failure nobody classified
                    self.stats.write_errors += 1
                    if not isinstance(e, StoreUnavailable):
                        log.exception("unexpected error writing a batch; retrying")
                    deadline = self._shutdown_by
                    if deadline is not None and time.monotonic() + backoff > deadline:
                        self.stats.lost += batch.size
                        log.error("store still unavailable at shutdown: %d documents not written (%s)", batch.size, e)
                        return
                    log.warning("store unavailable, %d documents wait; retrying in %.2fs: %s", batch.size, backoff, e)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.cfg.retry_max_s)
        finally:
            self.stats.merge(result)
            self.stats.buffered = self._pending()

    async def _drain(self, sub: AsyncSubscriber) -> None:
        """Read what already reached the socket: until quiet for ``drain_quiet_ms``."""
        end = time.monotonic() + self.cfg.drain_max_ms / 1000
        while time.monotonic() < end:
            ev = await sub.recv(timeout_ms=self.cfg.drain_quiet_ms)
            if ev is None:
                return
            await self.record(ev)

    async def _final_flush(self) -> None:
        await self.flush()
        self.stats.buffered = 0
        s = self.stats
        log.info(
            "recorder stopped: %d documents written in %d batches, %d lost",
            sum(s.documents.values()),
            s.batches,
            s.lost,
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
        yield plain("tripwire_recorder_lost_total", "pending documents abandoned at shutdown", s.lost)
        yield GaugeMetricFamily(
            "tripwire_recorder_buffered_documents", "documents waiting to be written", value=s.buffered
        )
