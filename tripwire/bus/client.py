"""Event subscribers for tripwire/flows/, tripwire/api/ and tools: decode, filter, and notice lost or restarted
publishers.

Gap scope: ``seq`` counts every event a publisher sends, so it reveals a loss only to a
subscriber that takes every topic (prefix ``""``); a subscriber that filters sees most numbers
skipped by design and tracks ``topic_seq`` per exact topic instead. ``gap_scope="auto"`` picks
the first when ``""`` is among the prefixes. The trade-off: a per-topic gap is noticed at that
topic's next event, which for a rare topic may be much later; the publisher's heartbeat (always
subscribed, see below) reports drops per topic root every interval either way.

Heartbeats are always subscribed, whatever the prefixes, so a filtering subscriber still learns
of restarts and publisher-side drops promptly; they are yielded only when a prefix asks for them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

import orjson
import zmq
import zmq.asyncio

from tripwire.contracts.events import Event, Topics


class Gap(NamedTuple):
    """Events ``first_missing``..``last_missing`` (inclusive) of ``publisher`` never arrived;
    ``topic`` is None for a publisher-wide (``seq``) gap, else the topic whose ``topic_seq`` it is."""

    publisher: str
    topic: str | None
    first_missing: int
    last_missing: int

    @property
    def missed(self) -> int:
        return self.last_missing - self.first_missing + 1


class Restart(NamedTuple):
    """``publisher`` started again: a new instance id, or its sequence went back."""

    publisher: str
    old_instance: str
    new_instance: str
    seq: int


class PublisherStats:
    """What one subscriber has seen of one publisher (by name)."""

    __slots__ = ("instance", "events", "gaps", "missed", "last_gap", "restarts", "last_restart", "last_heartbeat")

    def __init__(self, instance: str):
        self.instance = instance
        self.events = 0
        self.gaps = 0
        self.missed = 0
        self.last_gap: Gap | None = None
        self.restarts = 0
        self.last_restart: Restart | None = None
        self.last_heartbeat: dict[str, Any] | None = None  # its data: drop counts, uptime, ...


class SeqTracker:
    """Pure gap/restart detection over decoded events (no sockets)."""

    def __init__(self, scope: Literal["publisher", "topic"]):
        self.per_topic = scope == "topic"
        self.publishers: dict[str, PublisherStats] = {}
        self._next: dict[str, dict[str | None, int]] = {}  # publisher → stream → expected seq

    def observe(self, ev: Event) -> Gap | Restart | None:
        stats = self.publishers.get(ev.publisher)
        if stats is None:
            stats = self.publishers[ev.publisher] = PublisherStats(ev.instance)
            self._next[ev.publisher] = {}
        stats.events += 1
        stream, seq = (ev.topic, ev.topic_seq) if self.per_topic else (None, ev.seq)
        expected = self._next[ev.publisher]
        if ev.instance != stats.instance:
            return self._restart(stats, ev, stream, seq)
        want = expected.get(stream)
        expected[stream] = seq + 1
        if want is None or seq == want:  # first sight (joined late or new topic) or in order
            return None
        if seq < want:
            return self._restart(stats, ev, stream, seq)
        gap = Gap(ev.publisher, stream, want, seq - 1)
        stats.gaps += 1
        stats.missed += gap.missed
        stats.last_gap = gap
        return gap

    def _restart(self, stats: PublisherStats, ev: Event, stream: str | None, seq: int) -> Restart:
        restart = Restart(ev.publisher, stats.instance, ev.instance, ev.seq)
        stats.instance = ev.instance
        stats.restarts += 1
        stats.last_restart = restart
        self._next[ev.publisher] = {stream: seq + 1}
        return restart


class SubscriberCore:
    """Frames → :class:`Event`, with malformed counting and gap/restart hooks. No I/O, so the
    sync and asyncio subscribers share it and tests can drive it directly."""

    def __init__(
        self,
        topics: Iterable[str] = ("",),
        gap_scope: Literal["auto", "publisher", "topic"] = "auto",
        on_gap: Callable[[Gap], None] | None = None,
        on_restart: Callable[[Restart], None] | None = None,
    ):
        self.topics = tuple(topics) or ("",)
        self._wanted = tuple(t.encode() for t in self.topics)
        if gap_scope == "auto":
            gap_scope = "publisher" if "" in self.topics else "topic"
        self.tracker = SeqTracker(gap_scope)
        self.on_gap = on_gap
        self.on_restart = on_restart
        self.received = 0
        self.malformed: dict[str, int] = {}  # reason → count: parts, json, fields, topic

    def subscriptions(self) -> list[bytes]:
        subs = list(self._wanted)
        if not any(Topics.HEARTBEAT.encode().startswith(w) for w in subs):
            subs.append(Topics.HEARTBEAT.encode())
        return subs

    def accept(self, frames: list[bytes]) -> Event | None:
        """The event these frames carry if the caller asked for it; None when malformed (counted)
        or an internally subscribed heartbeat."""
        if len(frames) != 2:
            return self._bad("parts")
        topic_b, payload = frames
        try:
            raw = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return self._bad("json")
        try:
            ev = Event.from_dict(raw)
        except ValueError:
            return self._bad("fields")
        if ev.topic.encode() != topic_b:
            return self._bad("topic")
        self.received += 1
        hit = self.tracker.observe(ev)
        if ev.topic == Topics.HEARTBEAT:
            self.tracker.publishers[ev.publisher].last_heartbeat = ev.data
        if hit is not None:
            hook = self.on_gap if isinstance(hit, Gap) else self.on_restart
            if hook is not None:
                hook(hit)
        if not topic_b.startswith(self._wanted):
            return None
        return ev

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())

    @property
    def publishers(self) -> dict[str, PublisherStats]:
        return self.tracker.publishers

    @property
    def gaps(self) -> int:
        return sum(p.gaps for p in self.tracker.publishers.values())

    @property
    def missed(self) -> int:
        return sum(p.missed for p in self.tracker.publishers.values())

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in self.tracker.publishers.values())

    def _bad(self, reason: str) -> None:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1
        return None


def _configure(sock: zmq.Socket, address: str, core: SubscriberCore, rcvhwm: int) -> None:
    sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.setsockopt(zmq.LINGER, 0)
    for prefix in core.subscriptions():
        sock.setsockopt(zmq.SUBSCRIBE, prefix)
    sock.connect(address)


def _remaining_ms(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


class Subscriber(SubscriberCore):
    """Blocking subscriber: ``for ev in Subscriber(addr, ["trigger.", "order."]): ...``.

    Like any ZeroMQ SUB, it sees only events published after its subscription reached the
    publisher (a few ms after connecting). Stats: ``received``, ``malformed``, ``gaps``,
    ``missed``, ``restarts`` and per publisher in ``publishers``.
    """

    def __init__(
        self,
        address: str,
        topics: Iterable[str] = ("",),
        *,
        rcvhwm: int = 100_000,
        gap_scope: Literal["auto", "publisher", "topic"] = "auto",
        on_gap: Callable[[Gap], None] | None = None,
        on_restart: Callable[[Restart], None] | None = None,
        context: zmq.Context | None = None,
    ):
        super().__init__(topics, gap_scope, on_gap, on_restart)
        self.address = address
        self._sock = (context or zmq.Context.instance()).socket(zmq.SUB)
        _configure(self._sock, address, self, rcvhwm)

    def recv(self, timeout_ms: int | None = None) -> Event | None:
        """The next wanted event, or None if none arrives within ``timeout_ms`` (None: wait)."""
        sock = self._sock
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            if deadline is not None and not sock.poll(_remaining_ms(deadline), zmq.POLLIN):
                return None
            ev = self.accept(sock.recv_multipart())
            if ev is not None:
                return ev

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield self.recv()  # type: ignore[misc]  # recv() without a timeout only returns an event

    def close(self) -> None:
        self._sock.close(linger=0)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSubscriber(SubscriberCore):
    """asyncio subscriber (``zmq.asyncio``): ``async for ev in AsyncSubscriber(addr): ...``."""

    def __init__(
        self,
        address: str,
        topics: Iterable[str] = ("",),
        *,
        rcvhwm: int = 100_000,
        gap_scope: Literal["auto", "publisher", "topic"] = "auto",
        on_gap: Callable[[Gap], None] | None = None,
        on_restart: Callable[[Restart], None] | None = None,
        context: zmq.asyncio.Context | None = None,
    ):
        super().__init__(topics, gap_scope, on_gap, on_restart)
        self.address = address
        self._sock = (context or zmq.asyncio.Context.instance()).socket(zmq.SUB)
        _configure(self._sock, address, self, rcvhwm)

    async def recv(self, timeout_ms: int | None = None) -> Event | None:
        """The next wanted event, or None if none arrives within ``timeout_ms`` (None: wait)."""
        sock = self._sock
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while True:
            if deadline is not None and not await sock.poll(_remaining_ms(deadline), zmq.POLLIN):
                return None
            ev = self.accept(await sock.recv_multipart())
            if ev is not None:
                return ev

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.recv()  # type: ignore[misc]  # recv() without a timeout only returns an event

    def close(self) -> None:
        self._sock.close(linger=0)

    async def __aenter__(self) -> AsyncSubscriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
