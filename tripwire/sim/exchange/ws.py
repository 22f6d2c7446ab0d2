"""WebSocket subscriptions: validation, keys and the registry of who listens to what. No I/O.

A subscription is keyed by what selects its messages — ``("l2Book", coin)``,
``("candle", coin, interval)``, ``("allMids",)``, ``("orderUpdates", user)`` — so publishing a
message is one dict lookup. ``userEvents`` is published on channel ``"user"``, as on the exchange.
"""

from __future__ import annotations

from collections.abc import Hashable

from tripwire.sim.exchange.parse import is_address, shown

COIN_TYPES = ("trades", "l2Book", "bbo", "activeAssetCtx")
USER_TYPES = ("orderUpdates", "userFills", "userEvents")
CHANNEL_OF_USER_TYPE = {"orderUpdates": "orderUpdates", "userFills": "userFills", "userEvents": "user"}
TYPE_OF_USER_CHANNEL = {v: k for k, v in CHANNEL_OF_USER_TYPE.items()}
MAX_SUBSCRIPTIONS_PER_CONNECTION = 1000


class InvalidSubscription(ValueError):
    """The message is the error frame's ``data``."""


def subscription_key(sub: object, coins: set[str], spot_coins: frozenset[str] = frozenset()) -> tuple:
    """Validate a subscription object and return its key; raises InvalidSubscription.
    ``spot_coins`` (``@index``) may be subscribed for ``l2Book`` only: the simulator streams the
    pairs' synthetic books, and has no spot trades or spot contexts to send."""
    if not isinstance(sub, dict) or not isinstance(sub.get("type"), str):
        raise InvalidSubscription(f"Invalid subscription {shown(sub)}")
    kind = sub["type"]
    if kind in COIN_TYPES or kind == "candle":
        coin = sub.get("coin")
        if kind == "l2Book" and isinstance(coin, str) and coin in spot_coins:
            return (kind, coin)
        if not isinstance(coin, str) or coin not in coins:
            raise InvalidSubscription(f"Invalid subscription: unknown coin {shown(coin)}")
        if kind == "candle":
            from tripwire.sim.exchange.candles import INTERVAL_MS

            interval = sub.get("interval")
            if not isinstance(interval, str) or interval not in INTERVAL_MS:  # a list is unhashable
                raise InvalidSubscription(f"Invalid subscription: unknown interval {shown(interval)}")
            return (kind, coin, interval)
        return (kind, coin)
    if kind == "allMids":
        return (kind,)
    if kind in USER_TYPES:
        user = sub.get("user")
        if not is_address(user):
            raise InvalidSubscription(f"Invalid subscription: bad user {shown(user)}")
        return (kind, user.lower())
    raise InvalidSubscription(f"Invalid subscription type {shown(kind)}")


def echo(sub: dict) -> dict:
    """The subscription as the ack echoes it (l2Book adds nSigFigs and mantissa, null by default)."""
    if sub.get("type") == "l2Book":
        return {**sub, "nSigFigs": sub.get("nSigFigs"), "mantissa": sub.get("mantissa")}
    return sub


class Registry:
    """Which connections (any hashable handle) hold which subscription keys."""

    def __init__(self) -> None:
        self._by_key: dict[tuple, set[Hashable]] = {}
        self._by_conn: dict[Hashable, set[tuple]] = {}

    def add(self, conn: Hashable, key: tuple) -> None:
        keys = self._by_conn.setdefault(conn, set())
        if key in keys:
            raise InvalidSubscription(f"Already subscribed: {key!r}")
        if len(keys) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise InvalidSubscription("Too many subscriptions")
        keys.add(key)
        self._by_key.setdefault(key, set()).add(conn)

    def remove(self, conn: Hashable, key: tuple) -> None:
        keys = self._by_conn.get(conn, set())
        if key not in keys:
            raise InvalidSubscription(f"Not subscribed: {key!r}")
        keys.discard(key)
        listeners = self._by_key.get(key)
        if listeners is not None:
            listeners.discard(conn)
            if not listeners:
                del self._by_key[key]

    def drop(self, conn: Hashable) -> None:
        for key in self._by_conn.pop(conn, set()):
            listeners = self._by_key.get(key)
            if listeners is not None:
                listeners.discard(conn)
                if not listeners:
                    del self._by_key[key]

    def listeners(self, key: tuple) -> set[Hashable]:
        return self._by_key.get(key, set())

    def keys_with_prefix(self, *prefix: object) -> list[tuple]:
        n = len(prefix)
        return [k for k in self._by_key if k[:n] == prefix]
