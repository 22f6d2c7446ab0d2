"""What the demo's live view says beyond the raw events, so a first run explains itself: why no
trigger fires early on (warm-up), what an order is worth against the account, which legs
replace the ones an ``adjust`` canceled, when the replay ended and why the ``stale_data``
breaker trips after it. Pure: strings from event payloads and rules.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from tripwire.contracts.features import CATALOG

WORKING = ("placed", "resting", "open", "waitingForTrigger")  # a leg the exchange holds
LEG_NAMES = {"tp": "take-profit", "sl": "stop", "entry": "entry", "limit": "limit", "hedge": "hedge"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(closed bars?|s\b|min\b)")


# -- warm-up ---------------------------------------------------------------------------------


def warmup_s(warmup: str) -> float:
    """Market seconds a feature's warm-up (``FeatureSpec.warmup``, e.g. "14 closed bars",
    "60 s of trades", "5 min of contexts") takes at least; 0 for "first update"."""
    m = _DURATION.search(warmup)
    if not m:
        return 0.0
    n, unit = float(m.group(1)), m.group(2)
    return n if unit == "s" else n * 60.0  # a closed 1-minute bar or a minute


def rule_warmups(rules: Any) -> dict[str, float]:
    """Per rule (a compiled ``RuleSet``'s), the market seconds until every feature it reads is
    warm: before that it cannot fire."""
    return {
        r.name: max((warmup_s(CATALOG[f].warmup) for f in r.features if f in CATALOG), default=0.0) for r in rules.rules
    }


def warmup_explanation(warmups: dict[str, float], span_ms: int | None) -> str:
    """The line printed once at start: when each group of rules can first fire."""
    by_time: dict[float, list[str]] = {}
    for name, s in warmups.items():
        by_time.setdefault(s, []).append(name)
    parts = []
    for s, names in sorted(by_time.items()):
        pct = f", {100 * s * 1000 / span_ms:.0f} % of the replay" if span_ms else ""
        parts.append(f"{', '.join(sorted(names))} after ~{s / 60:g} min{pct}")
    return (
        "warm-up: a rule cannot fire until every feature it reads has enough market history "
        "(docs/FEATURES.md: ATR needs 14 one-minute bars, the 30-minute range 30): " + "; ".join(parts) + ". "
        "After that a rule fires only when its conditions hold."
    )


def warm_status(warmups: dict[str, float], elapsed_ms: int | None) -> str:
    """The progress line's warm-up part: ``warming up`` with how many rules are warm, or ''
    once all are."""
    if not warmups or elapsed_ms is None:
        return ""
    warm = sum(1 for s in warmups.values() if s * 1000 <= elapsed_ms)
    if warm == len(warmups):
        return ""
    return f"warming up: {warm}/{len(warmups)} rules can fire | "


# -- orders ----------------------------------------------------------------------------------


def size_context(sz: float, px: float, equity: float | None) -> str:
    """``0.00466 BTC ≈ $199.51 (2.0 % of equity $10,000)``-style context for a fill."""
    notional = abs(sz) * px
    share = f" ({100 * notional / equity:.1f} % of equity ${equity:,.0f})" if equity else ""
    return f"≈ ${notional:,.2f}{share}"


def order_line(d: dict[str, Any], equity: float | None, after_adjust: bool) -> str | None:
    """The live view's line for an ``order.*`` event, or None for one not worth a line.

    A take-profit or stop the exchange now holds is shown with its trigger price and size (so
    an ``adjust`` shows its new legs, not only the canceled ones); a fill with its price and
    what it is worth against the account; a refusal or rejection with the reason."""
    state, leg, tid = d.get("state"), d.get("leg") or "-", d.get("trigger_id")
    coin, sz = d.get("coin", ""), d.get("sz") or 0.0
    if state in WORKING and leg in ("tp", "sl") and d.get("trigger_px"):
        new = "new " if after_adjust else ""
        return (
            f"  {new}{LEG_NAMES[leg]} set: {'sell' if d.get('side') == 'A' else 'buy'} {sz:g} {coin} "
            f"when the price reaches {d['trigger_px']:,.1f}  [{tid}]"
        )
    if state in WORKING and leg == "tp" and not d.get("trigger_px") and d.get("px"):
        new = "new " if after_adjust else ""
        return (
            f"  {new}{LEG_NAMES[leg]} resting: {'sell' if d.get('side') == 'A' else 'buy'} {sz:g} {coin} "
            f"at {d['px']:,.1f}, post-only (a maker exit)  [{tid}]"
        )
    if state == "filled":
        if not d.get("avg_px"):
            return None  # the same fill again, priced, follows
        what = size_context(d.get("filled_sz") or sz, d["avg_px"], equity)
        return f"  order {leg} filled {d.get('filled_sz') or sz:g} {coin} @ {d['avg_px']:,.1f} {what}  [{tid}]"
    if state in ("refused", "rejected"):
        return f"  order {leg} {state} — {d.get('error')}  [{tid}]"
    if state == "canceled":
        why = " (replaced: see the new legs)" if after_adjust and leg in ("tp", "sl") else ""
        return f"  order {leg} canceled{why}  [{tid}]"
    return None


# -- the end of the replay -------------------------------------------------------------------


def replay_end_line(market_ms: int | None, stale_after_ms: int) -> str:
    from datetime import datetime

    when = (
        datetime.fromtimestamp(market_ms / 1000, tz=UTC).strftime("%H:%M:%S UTC") if market_ms else "its last message"
    )
    return (
        f"■ replay ended (market time {when}): no more market data. In {stale_after_ms / 1000:g} s the "
        "stale_data breaker trips — expected, see below."
    )


def breaker_line(d: dict[str, Any], replay_done: bool) -> str:
    line = f"! breaker {d['breaker']}: {d['action']} → {d['state']} ({d['detail']})"
    if d.get("breaker") == "stale_data" and replay_done:
        line += (
            "\n  expected, not a failure: the replay is over, so the books stopped updating; the hot "
            "path opens nothing on old data (open positions keep their stop and take-profit)."
        )
    return line
