"""Several coins from one recording: other coins as scaled, time-rotated copies of it.

The bundled recording is BTC only, and no public multi-coin capture is bundled. To replay several
coins at once (the demo, the multi-coin benchmarks) each extra coin is made from the same
messages, changed in three ways:

- **renamed**: every ``coin`` field says the copy's name;
- **scaled**: prices divided by ``10**price_exp`` and sizes (and open interest) multiplied by it,
  by moving the decimal point of the wire strings, so notional per fill is unchanged, no float
  rounding enters, and distinct price levels stay distinct. A copy with ``price_exp`` 3 of a
  42,000 BTC book trades at 42.000 with sizes 1,000× larger (its ``szDecimals`` is BTC's − 3);
- **rotated in time**: the copy starts ``phase_ms`` into the recording and wraps around, so at any
  instant each coin shows a different stretch of the hour (its bars, bursts and triggers happen
  at other times). At the wrap the copy's price jumps from where the hour ended back to where it
  began, once per hour of replay; that seam is the one unrealistic thing a copy does.

It is a made-up market with real microstructure: books, spreads and fills are BTC's, just
renamed, rescaled and shifted. It is not a correlated multi-asset market (no cross-coin moves),
and the docs say so wherever it is used (docs/REPLAY.md).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Msg = dict[str, Any]  # one WebSocket message, as parsed

# activeAssetCtx fields that are prices (scaled down) and sizes (scaled up); the rest (funding,
# premium, day notional volume) are unchanged by a change of units.
_CTX_PRICES = ("oraclePx", "markPx", "midPx", "prevDayPx")
_CTX_SIZES = ("openInterest", "dayBaseVlm")
# Gap between the end of the recording and its start again in a rotated copy.
WRAP_GAP_MS = 1_000


@dataclass(frozen=True)
class CoinCopy:
    """One derived coin: ``coin`` trades at the base price / 10**``price_exp``, ``phase_ms`` into
    the recording."""

    coin: str
    price_exp: int = 0
    phase_ms: int = 0


def plan_copies(coins: Sequence[str], span_ms: int, sz_decimals: dict[str, int] | None = None) -> list[CoinCopy]:
    """Copies for ``coins`` (the first is the recording's own coin and stays as recorded).

    Phases spread the copies evenly over the recording. ``sz_decimals``, when given, fixes each
    copy's ``price_exp`` as the base coin's szDecimals minus its own (so its prices and sizes fit
    the market's rules, e.g. ETH:4 from BTC:5 → ÷10); coins not in it cycle through 0..4.
    """
    if not coins:
        return []
    base, *others = coins
    out = [CoinCopy(base)]
    base_szd = (sz_decimals or {}).get(base)
    for k, coin in enumerate(others, 1):
        szd = (sz_decimals or {}).get(coin)
        exp = base_szd - szd if base_szd is not None and szd is not None else k % 5
        out.append(CoinCopy(coin, exp, k * span_ms // len(coins)))
    return out


def sz_decimals_of(copy: CoinCopy, base_sz_decimals: int) -> int:
    """The szDecimals a copy's market needs (sizes are 10**price_exp times the base's)."""
    return max(0, base_sz_decimals - copy.price_exp)


_shift_cache: dict[tuple[str, int], str] = {}


def shift(text: str, exp: int) -> str:
    """The decimal string ``text`` × 10**exp, exact, without an exponent (``"42727.0"``, -3 →
    ``"42.727"``). Cached: a recording repeats its prices and sizes."""
    if exp == 0:
        return text
    key = (text, exp)
    out = _shift_cache.get(key)
    if out is None:
        out = format(Decimal(text).scaleb(exp).normalize(), "f")
        if len(_shift_cache) < 1_000_000:
            _shift_cache[key] = out
    return out


def _time(msg: Msg) -> int | None:
    data = msg.get("data")
    if type(data) is dict:
        t = data.get("time")
    elif type(data) is list and data and type(data[0]) is dict:
        t = data[0].get("time")
    else:
        return None
    return t if type(t) is int else None


def copy_message(msg: Msg, copy: CoinCopy, dt_ms: int) -> Msg:
    """``msg`` as the copy's: renamed, scaled, its times moved by ``dt_ms``. New dicts; the
    original is not changed (the same base messages feed every copy)."""
    ch, data = msg.get("channel"), msg.get("data")
    e = copy.price_exp
    if ch == "l2Book" and type(data) is dict:
        levels = [
            [{**lv, "px": shift(lv["px"], -e), "sz": shift(lv["sz"], e)} for lv in side] for side in data["levels"]
        ]
        return {"channel": ch, "data": {**data, "coin": copy.coin, "time": data["time"] + dt_ms, "levels": levels}}
    if ch == "trades" and type(data) is list:
        return {
            "channel": ch,
            "data": [
                {**t, "coin": copy.coin, "px": shift(t["px"], -e), "sz": shift(t["sz"], e), "time": t["time"] + dt_ms}
                for t in data
            ],
        }
    if ch == "activeAssetCtx" and type(data) is dict:
        ctx = dict(data["ctx"])
        for k in _CTX_PRICES:
            if type(ctx.get(k)) is str:
                ctx[k] = shift(ctx[k], -e)
        for k in _CTX_SIZES:
            if type(ctx.get(k)) is str:
                ctx[k] = shift(ctx[k], e)
        if type(ctx.get("impactPxs")) is list:
            ctx["impactPxs"] = [shift(p, -e) if type(p) is str else p for p in ctx["impactPxs"]]
        return {"channel": ch, "data": {**data, "coin": copy.coin, "ctx": ctx}}
    if ch == "bbo" and type(data) is dict:
        bbo = [
            None if lv is None else {**lv, "px": shift(lv["px"], -e), "sz": shift(lv["sz"], e)} for lv in data["bbo"]
        ]
        return {"channel": ch, "data": {**data, "coin": copy.coin, "time": data["time"] + dt_ms, "bbo": bbo}}
    return msg


def timed(messages: Iterable[Msg]) -> list[tuple[int, Msg]]:
    """``(time, message)`` pairs; an untimed message (activeAssetCtx) takes the time of the
    timed message before it, so it stays where it was when streams are merged by time."""
    out: list[tuple[int, Msg]] = []
    last = 0
    for m in messages:
        t = _time(m)
        if t is not None:
            last = t
        out.append((last, m))
    return out


def rotated(base: Sequence[tuple[int, Msg]], copy: CoinCopy) -> Iterator[tuple[int, Msg]]:
    """The copy's stream: ``base`` from ``phase_ms`` in to its end, then its start again; times
    rebased so the copy runs from the recording's first time, in order."""
    if not base:
        return
    t0, t1 = base[0][0], base[-1][0]
    period = t1 - t0 + WRAP_GAP_MS
    phase = copy.phase_ms % period
    cut = t0 + phase
    k = next((i for i, (t, _) in enumerate(base) if t >= cut), len(base))
    for t, m in base[k:]:
        yield t - phase, copy_message(m, copy, -phase)
    for t, m in base[:k]:
        yield t + period - phase, copy_message(m, copy, period - phase)


def merged(base: Sequence[tuple[int, Msg]], copies: Sequence[CoinCopy]) -> Iterator[Msg]:
    """Every copy's stream merged in time order (ties: the order of ``copies``)."""
    streams = [_keyed(rotated(base, c), i) for i, c in enumerate(copies)]
    for _, _, m in heapq.merge(*streams):
        yield m


def _keyed(stream: Iterator[tuple[int, Msg]], i: int) -> Iterator[tuple[int, int, Msg]]:
    for t, m in stream:
        yield t, i, m


def base_coin(messages: Iterable[Msg]) -> str | None:
    """The coin of the first message that names one (the recording's coin)."""
    for m in messages:
        data = m.get("data") if type(m) is dict else None
        if type(data) is list and data and type(data[0]) is dict:
            data = data[0]
        if type(data) is dict and type(data.get("coin")) is str:
            return str(data["coin"])
    return None


def multi_coin(
    messages: Iterable[Msg], coins: Sequence[str], sz_decimals: dict[str, int] | None = None
) -> Iterator[Msg]:
    """The recording as ``coins``: its own coin (if listed) as recorded, every other one a copy
    (:func:`plan_copies`), merged in time order. The recording is held in memory (the bundled
    hour: about 18,000 messages); the copies are made as they are read."""
    base = timed(messages)
    if not base:
        return iter(())
    own = base_coin(m for _, m in base)
    span = base[-1][0] - base[0][0]
    names = [own, *(c for c in coins if c != own)] if own is not None else list(coins)
    copies = plan_copies(names, span, sz_decimals)
    if own is not None and own not in coins:
        copies = copies[1:]
    return merged(base, copies)
