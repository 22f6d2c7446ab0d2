"""A real simulator on 127.0.0.1 (ephemeral port) and the unmodified SDK pointed at it."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import eth_account
import pytest

from tripwire.sim.exchange.engine import SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.server import RunningServer, SimServer, start_in_thread

KEY_A = "0x" + "a1" * 32
KEY_B = "0x" + "b2" * 32
ETH = 1  # asset id of ETH in the default universe


def book_msg(coin: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], time_ms: int) -> dict:
    level = lambda px, sz: {"px": px, "sz": sz, "n": 1}
    return {
        "channel": "l2Book",
        "data": {"coin": coin, "time": time_ms, "levels": [[level(*b) for b in bids], [level(*a) for a in asks]]},
    }


def eth_book(time_ms: int) -> dict:
    """The starting ETH book: mid 1999.5, 1 / 2 / 5 ETH a side at 1 USD steps."""
    return book_msg(
        "ETH",
        [("1999.0", "1.0"), ("1998.0", "2.0"), ("1997.0", "5.0")],
        [("2000.0", "1.0"), ("2001.0", "2.0"), ("2002.0", "5.0")],
        time_ms,
    )


def later(running: RunningServer, ms: int) -> int:
    """A market time ``ms`` after the simulator's current one."""
    return running.call(running.server.clock.now_ms) + ms


@pytest.fixture(autouse=True)
def unique_sdk_nonces(monkeypatch):
    """The SDK uses the wall-clock ms as nonce; back-to-back calls in one ms would collide."""
    import hyperliquid.exchange as sdk_exchange

    counter = itertools.count()
    last = [0]

    def next_ms() -> int:
        last[0] = max(int(time.time() * 1000), last[0] + 1)
        next(counter)
        return last[0]

    monkeypatch.setattr(sdk_exchange, "get_timestamp_ms", next_ms)


def start_funded_sim(address: str, usdc: int = 10_000):
    """A running simulator with an ETH book (mid 1999.5) and ``address`` funded."""
    engine = SimEngine()
    server = SimServer(engine, ExchangeApi(engine))
    running = start_in_thread(server)
    now = running.call(server.clock.now_ms)
    running.call(lambda: server.ingest(eth_book(now), now))
    running.call(lambda: engine.fund(address, Decimal(usdc)))
    return running


@pytest.fixture
def sim():
    """A running simulator with an ETH book and account A funded with 10,000 USDC."""
    running = start_funded_sim(eth_account.Account.from_key(KEY_A).address)
    yield running
    running.stop()


def exchange_for(running: RunningServer, key: str = KEY_A):
    from hyperliquid.exchange import Exchange

    return Exchange(eth_account.Account.from_key(key), running.url)


def info_for(running: RunningServer):
    from hyperliquid.info import Info

    return Info(running.url, skip_ws=True)


def address(key: str = KEY_A) -> str:
    return eth_account.Account.from_key(key).address.lower()


def state_fingerprint(running: RunningServer) -> str:
    """Everything a refused request must leave alone: accounts (balances, positions, leverage,
    fills), orders and their statuses, nonces, books, marks, scheduled cancels, the next oid."""
    import json

    e = running.server.engine

    def snap() -> str:
        return json.dumps(
            {
                "accounts": {a: acct.to_json() for a, acct in e.accounts.items()},
                "open": sorted(e.open),
                "waiting": sorted(e.waiting_children),
                "orders": {oid: [o.status, str(o.sz)] for oid, o in e.orders.items()},
                "nonces": {a: e.nonces.kept(a) for a in e.nonces.signers()},
                "books": {coin: book.levels_wire() for coin, book in e.books.items()},
                "marks": e.marks,
                "schedule": e.schedule,
                "schedule_count": e.schedule_count,
                "next_oid": e._oid,
            },
            sort_keys=True,
            default=str,
        )

    return running.call(snap)
