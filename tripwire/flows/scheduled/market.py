"""Market snapshots, pure: ``/info`` answers → store documents.

``metaAndAssetCtxs`` answers ``[meta, ctxs]``: ``meta.universe[i]`` names the perpetual whose
context is ``ctxs[i]`` (numbers as strings; ``midPx`` and ``premium`` may be null). One
snapshot gives a ``ticker`` document (mark, oracle, mid, 24 h volume, the current funding rate
and premium) and an ``open_interest`` document per coin.

``funding_history`` holds the *settled* hourly rates from ``fundingHistory``
(``[{coin, fundingRate, premium, time}]``), not the minute snapshots' current (predicted) rate,
which stays in ``ticker.funding_rate``: mixing the two would make the history lie about what
was paid.
"""

from __future__ import annotations

import math
from typing import Any

from tripwire.flows.scheduled.upstream import BadUpstreamData

Doc = dict[str, Any]


def _num(value: Any, what: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadUpstreamData(f"{what}: expected a number, got {value!r:.40}") from None
    if not math.isfinite(x):
        if optional:
            return None
        raise BadUpstreamData(f"{what}: expected a finite number, got {value!r:.40}")
    return x


def parse_meta_and_ctxs(raw: Any) -> dict[str, dict[str, Any]]:
    """coin → its raw context (delisted coins left out); BadUpstreamData if the shape is off."""
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], dict) and isinstance(raw[1], list)):
        raise BadUpstreamData(f"metaAndAssetCtxs: expected [meta, [ctx, …]], got {type(raw).__name__}")
    universe = raw[0].get("universe")
    if not isinstance(universe, list) or len(universe) != len(raw[1]):
        raise BadUpstreamData(
            f"metaAndAssetCtxs: meta.universe has "
            f"{len(universe) if isinstance(universe, list) else 'no'} entries "
            f"for {len(raw[1])} contexts"
        )
    out: dict[str, dict[str, Any]] = {}
    for asset, ctx in zip(universe, raw[1]):
        if not isinstance(asset, dict) or not isinstance(asset.get("name"), str) or not isinstance(ctx, dict):
            raise BadUpstreamData(f"metaAndAssetCtxs: malformed entry {asset!r:.60}")
        if asset.get("isDelisted"):
            continue
        out[asset["name"]] = ctx
    return out


def snapshot_docs(ctxs: dict[str, dict[str, Any]], coins: list[str] | None, ts_ms: int) -> tuple[list[Doc], list[Doc]]:
    """(ticker docs, open_interest docs) at ``ts_ms`` for ``coins`` (None: all). A configured
    coin the exchange does not list is an error: a typo must not silently record nothing."""
    if coins is None:
        coins = sorted(ctxs)
    missing = [c for c in coins if c not in ctxs]
    if missing:
        raise BadUpstreamData(
            f"metaAndAssetCtxs: the exchange lists no perpetual "
            f"{', '.join(missing)} (check flows.snapshot_market.coins / coins)"
        )
    tickers, ois = [], []
    for coin in coins:
        c = ctxs[coin]
        w = f"metaAndAssetCtxs {coin}"
        mark = _num(c.get("markPx"), f"{w}.markPx")
        impact = c.get("impactPxs") if isinstance(c.get("impactPxs"), list) else [None, None]
        prev = _num(c.get("prevDayPx"), f"{w}.prevDayPx", optional=True)
        tickers.append(
            {
                "ts": ts_ms,
                "coin": coin,
                "mark_px": mark,
                "oracle_px": _num(c.get("oraclePx"), f"{w}.oraclePx"),
                "mid_px": _num(c.get("midPx"), f"{w}.midPx", optional=True),
                "prev_day_px": prev,
                "change_24h_pct": (mark / prev - 1.0) * 100.0 if prev else None,
                "day_ntl_vlm_usd": _num(c.get("dayNtlVlm"), f"{w}.dayNtlVlm", optional=True),
                "day_base_vlm": _num(c.get("dayBaseVlm"), f"{w}.dayBaseVlm", optional=True),
                "funding_rate": _num(c.get("funding"), f"{w}.funding"),
                "premium": _num(c.get("premium"), f"{w}.premium", optional=True),
                "impact_bid_px": _num(impact[0] if impact else None, f"{w}.impactPxs[0]", optional=True),
                "impact_ask_px": _num(impact[1] if len(impact) > 1 else None, f"{w}.impactPxs[1]", optional=True),
            }
        )
        oi = _num(c.get("openInterest"), f"{w}.openInterest")
        # _num without optional=True gives a float or raises: oi and mark are never None.
        oi_usd = oi * mark  # type: ignore[operator]  # see above
        ois.append({"ts": ts_ms, "coin": coin, "open_interest": oi, "open_interest_usd": oi_usd})
    return tickers, ois


def funding_docs(coin: str, raw: Any, after_ms: int) -> list[Doc]:
    """``fundingHistory`` rows newer than ``after_ms`` as ``funding_history`` docs; the ``_id``
    is coin and time, so the same settlement can never be stored twice."""
    if not isinstance(raw, list):
        raise BadUpstreamData(f"fundingHistory {coin}: expected a list, got {type(raw).__name__}")
    out = []
    for r in raw:
        if not isinstance(r, dict) or not isinstance(r.get("time"), int):
            raise BadUpstreamData(f"fundingHistory {coin}: malformed row {r!r:.60}")
        if r["time"] <= after_ms:
            continue
        if r.get("coin", coin) != coin:
            raise BadUpstreamData(f"fundingHistory {coin}: row for {r.get('coin')!r}")
        out.append(
            {
                "_id": f"{coin}:{r['time']}",
                "ts": r["time"],
                "coin": coin,
                "funding_rate": _num(r.get("fundingRate"), f"fundingHistory {coin}.fundingRate"),
                "premium": _num(r.get("premium"), f"fundingHistory {coin}.premium", optional=True),
            }
        )
    out.sort(key=lambda d: d["ts"])
    return out


def funding_due(last_ts: int | None, now_ms: int, every_ms: int) -> bool:
    """Fetch again when the newest stored settlement is at least one period old (a run that
    was down for a day catches up on its next run; a run every minute asks once an hour)."""
    return last_ts is None or now_ms - last_ts >= every_ms
