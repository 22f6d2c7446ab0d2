"""The hot path's event publisher: ZeroMQ XPUB, never blocks, counts what it drops.

Why XPUB with ``XPUB_NODROP`` rather than plain PUB: a PUB socket at its high-water mark drops
silently, so neither side could count the loss. With ``XPUB_NODROP`` a full subscriber pipe makes
a ``NOBLOCK`` send fail with ``zmq.Again``; the event is then dropped here and counted per topic
root. The trade-off: when one subscriber of a topic stalls, that topic's events are dropped for
all its subscribers (other topics are unaffected — only pipes whose filter matches are checked).
For a hot path that must never wait, a visible, counted drop beats a silent one, and ``seq``
still increments so every subscriber sees the gap.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
import zmq

from tripwire.contracts.events import SCHEMA_VERSION, Topics, topic_root

log = logging.getLogger(__name__)

DEFAULT_SNDHWM = 10_000


class Publisher:
    """Publishes events as multipart ``[topic, orjson payload]`` (envelope: docs/BUS.md).

    ``clock_ns`` stamps ``pub_ts_ns`` (wall clock by default so other processes and hosts can
    compare it) and is the default ``now_ns`` for :meth:`throttle` and :meth:`maybe_heartbeat`.
    ``max_topics`` bounds the per-topic sequence table (``decision.<trigger_id>`` topics are
    unbounded): past it the oldest topic is forgotten and its ``topic_seq`` restarts at 0.
    One thread only, like the ZeroMQ socket inside it.
    """

    def __init__(
        self,
        address: str,
        name: str = "hotpath",
        *,
        sndhwm: int = DEFAULT_SNDHWM,
        heartbeat_interval_s: float = 1.0,
        clock_ns: Callable[[], int] = time.time_ns,
        max_topics: int = 65_536,
        context: zmq.Context | None = None,
    ):
        self.address = address
        self.name = name
        # A new id per process start: subscribers tell a restart (new instance) from a gap.
        self.instance = f"{os.getpid():x}-{os.urandom(4).hex()}"
        self.heartbeat_interval_ns = int(heartbeat_interval_s * 1e9)
        self._clock_ns = clock_ns
        self._max_topics = max_topics
        self._sock = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self._sock.setsockopt(zmq.SNDHWM, sndhwm)
        self._sock.setsockopt(zmq.XPUB_NODROP, 1)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(address)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)  # resolved tcp://…:*
        self._send = self._sock.send
        self.seq = 0  # next seq; = events published incl. dropped
        self.sent = 0
        self.dropped_total: dict[str, int] = {}  # topic root → events dropped since start
        self.encode_errors: dict[str, int] = {}  # topic root → events whose data wasn't JSON
        self.subscriptions: set[bytes] = set()  # prefixes some subscriber asked for
        self._dropped_since_heartbeat: dict[str, int] = {}
        self._topic_seq: dict[str, int] = {}
        self._last_emit_ns: dict[str, int] = {}
        self._next_heartbeat_ns = 0
        self._started_ns = clock_ns()

    def publish(self, topic: str, data: dict[str, Any], exch_ts_ns: int = 0, recv_ts_ns: int = 0) -> bool:
        """Send one event now or drop it; True when sent. Never blocks, never raises on a full
        queue. ``exch_ts_ns``/``recv_ts_ns`` are those of the tick that caused the event."""
        seq = self.seq
        self.seq = seq + 1
        topic_seqs = self._topic_seq
        topic_seq = topic_seqs.get(topic)
        if topic_seq is None:
            topic_seq = 0
            if len(topic_seqs) >= self._max_topics:
                del topic_seqs[next(iter(topic_seqs))]
        topic_seqs[topic] = topic_seq + 1
        try:
            payload = orjson.dumps(
                {
                    "schema": SCHEMA_VERSION,
                    "seq": seq,
                    "topic_seq": topic_seq,
                    "topic": topic,
                    "exch_ts_ns": exch_ts_ns,
                    "recv_ts_ns": recv_ts_ns,
                    "pub_ts_ns": self._clock_ns(),
                    "publisher": self.name,
                    "instance": self.instance,
                    "data": data,
                }
            )
        except TypeError as e:  # orjson.JSONEncodeError: a caller bug, visible but not fatal
            root = topic_root(topic)
            if root not in self.encode_errors:
                log.error("bus: event on %r not JSON-serialisable (%s); dropping such events", topic, e)
            self.encode_errors[root] = self.encode_errors.get(root, 0) + 1
            self._count_drop(root)
            return False
        try:
            # XPUB checks every matching pipe's HWM on the first frame; once it is accepted the
            # whole message is, so the second send cannot fail with Again.
            self._send(topic.encode(), zmq.SNDMORE | zmq.NOBLOCK)
            self._send(payload, zmq.NOBLOCK)
        except zmq.Again:
            self._count_drop(topic_root(topic))
            return False
        self.sent += 1
        return True

    def throttle(self, topic: str, min_interval_ms: float, now_ns: int | None = None) -> bool:
        """True when an event on ``topic`` is due (at least ``min_interval_ms`` since the last
        one that was due), and marks it emitted. Check before building an expensive payload::

            if pub.throttle(Topics.md_book(coin), 100, recv_ns):
                pub.publish(Topics.md_book(coin), book.snapshot(), exch_ns, recv_ns)
        """
        now = self._clock_ns() if now_ns is None else now_ns
        last = self._last_emit_ns.get(topic)
        if last is not None and now - last < min_interval_ms * 1_000_000:
            return False
        self._last_emit_ns[topic] = now
        return True

    def maybe_heartbeat(self, now_ns: int | None = None) -> bool:
        """Publish a ``heartbeat`` if one is due (the first call always is); True when sent.

        Pass the same clock on every call. The heartbeat carries drops since the last heartbeat
        that was sent (kept when a heartbeat itself is dropped) and totals since start.
        """
        now = self._clock_ns() if now_ns is None else now_ns
        if now < self._next_heartbeat_ns:
            return False
        self._next_heartbeat_ns = now + self.heartbeat_interval_ns
        self._drain_subscriptions()
        sent = self.publish(
            Topics.HEARTBEAT,
            {
                "interval_s": self.heartbeat_interval_ns / 1e9,
                "uptime_s": (self._clock_ns() - self._started_ns) / 1e9,
                "published": self.seq,
                "sent": self.sent,
                "dropped_since_last": self._dropped_since_heartbeat,
                "dropped_total": self.dropped_total,
                "subscriptions": len(self.subscriptions),
            },
        )
        if sent:
            self._dropped_since_heartbeat = {}
        return sent

    @property
    def dropped(self) -> int:
        return sum(self.dropped_total.values())

    def close(self) -> None:
        self._sock.close(linger=0)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _count_drop(self, root: str) -> None:
        self.dropped_total[root] = self.dropped_total.get(root, 0) + 1
        self._dropped_since_heartbeat[root] = self._dropped_since_heartbeat.get(root, 0) + 1

    def _drain_subscriptions(self) -> None:
        # XPUB delivers (un)subscribe messages upstream; reading them keeps that queue empty and
        # tells the heartbeat how many distinct prefixes are wanted.
        while True:
            try:
                msg = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self.subscriptions.add(msg[1:])
            elif msg[:1] == b"\x00":
                self.subscriptions.discard(msg[1:])
