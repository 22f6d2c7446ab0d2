"""Process status event payloads: the publisher's heartbeat and the market-data feed's state."""

from __future__ import annotations

from typing_extensions import TypedDict


class HeartbeatData(TypedDict):
    """``heartbeat``: the publisher is alive; drop counts by topic root (docs/BUS.md)."""

    interval_s: float
    uptime_s: float
    published: int  # events published since start, dropped ones included
    sent: int  # of those, handed to the socket
    dropped_since_last: dict[str, int]
    dropped_total: dict[str, int]
    subscriptions: int


class FeedStatusData(TypedDict):
    """``feed.status``: the market-data connection changed state."""

    state: str  # CONNECTING, CONNECTED, RECONNECTING, FATAL, DISCONNECTED
    previous: str  # the state before
    reconnects: int  # since start
