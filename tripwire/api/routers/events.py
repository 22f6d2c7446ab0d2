"""``GET /events``: hot-path events live, as Server-Sent Events.

Each client gets its own bus subscription with its topic prefixes (``?topic=trigger.&topic=
risk.``; default: everything but market data, which is high-volume — ask for ``md.`` by name).
Each SSE message is one event: ``event:`` the topic, ``id:`` ``<instance>:<seq>``, ``data:``
the bus envelope as JSON (docs/EVENTS.md). Lost events (a subscriber that fell behind) are
announced as ``event: gap`` with the counts, and idle streams get keep-alive comments. There is
no history: the store has that (``/triggers``).

Why SSE rather than a WebSocket: the stream is one-way, it is plain HTTP (the same key header,
proxies and ``curl -N`` work), and browsers reconnect by themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent

from tripwire.api.auth import require
from tripwire.api.errors import Unavailable
from tripwire.bus.client import AsyncSubscriber, Gap

router = APIRouter(tags=["events"])

DEFAULT_TOPICS = ("trigger.", "order.", "fill.", "position.", "decision.", "risk.", "feed.", "account")
MAX_STREAMS = 64  # each is a ZeroMQ socket and a queue on the publisher


def _gap_event(gap: Gap) -> ServerSentEvent:
    return ServerSentEvent(
        event="gap",
        data={
            "publisher": gap.publisher,
            "topic": gap.topic,
            "first_missing": gap.first_missing,
            "last_missing": gap.last_missing,
            "missed": gap.missed,
        },
    )


class Stream:
    """One client's subscription and the gaps it has seen but not yet reported."""

    def __init__(self, address: str, topics: list[str]):
        self.topics = topics
        self.gaps: list[Gap] = []
        self.sub = AsyncSubscriber(address, topics, on_gap=self.gaps.append)


async def open_stream(
    request: Request,
    topic: Annotated[
        list[str] | None,
        Query(max_length=20, description="topic prefixes, e.g. trigger. or risk.breaker.; default: all but md."),
    ] = None,
) -> AsyncIterator[Stream]:
    """Checked before the response starts (a stream that has begun can only say 200): bad
    topics are a 422, too many open streams a 503. Closed when the client goes."""
    topics = topic or list(DEFAULT_TOPICS)
    for t in topics:
        if len(t) > 200 or any(not (c.isalnum() or c in "._-:@/") for c in t):
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("query", "topic"),
                        "msg": f"not a topic prefix: {t[:40]!r}",
                        "input": t,
                    }
                ]
            )
    state = request.app.state
    if state.open_streams >= MAX_STREAMS:
        raise Unavailable(f"{MAX_STREAMS} event streams are already open; close one", code="too_many_streams")
    stream = Stream(state.config.events_address, topics)
    state.open_streams += 1
    state.metrics.event_streams.inc()
    try:
        yield stream
    finally:
        stream.sub.close()
        state.open_streams -= 1
        state.metrics.event_streams.dec()


@router.get(
    "/events",
    response_class=EventSourceResponse,
    dependencies=[Depends(require("read"))],
    responses={503: {"description": "too many open streams"}},
    summary="Live hot-path events (Server-Sent Events), filtered by topic prefix",
)
async def events(stream: Stream = Depends(open_stream)) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(comment=f"subscribed to {', '.join(stream.topics)}")
    while True:
        ev = await stream.sub.recv()
        while stream.gaps:
            yield _gap_event(stream.gaps.pop(0))
        if ev is not None:
            yield ServerSentEvent(event=ev.topic, id=f"{ev.instance}:{ev.seq}", data=ev.to_dict())
