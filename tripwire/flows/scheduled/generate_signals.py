"""``generate_signals`` (every 5 min): tracked traders' positions → a signal per coin, stored,
then pushed to the hot path as the ``smart_money_bias`` and ``ls_ratio`` features.

Storing comes first and does not depend on the hot path: when the push fails (hot path down,
a coin it refuses), the signals are still in ``signals`` and the run completes, with the
push failure stated in its result, its artefact and the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tripwire.flows.scheduled.config import GenerateSignalsConfig, load_flow_config
from tripwire.flows.scheduled.hotpath_push import PushReport, push_commands
from tripwire.flows.scheduled.runtime import commands_address, flow_context, md_table, publish_markdown, scheduled_label
from tripwire.flows.scheduled.runtime import now_ms as wall_ms
from tripwire.flows.scheduled.signals import CoinSignal, compute_signals, no_holders, stale_cutoff_ms

log = logging.getLogger(__name__)


@dataclass
class SignalsResult:
    ts: int
    traders: int
    states: int
    signals: list[CoinSignal]
    push: PushReport | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "traders": self.traders,
            "states": self.states,
            "signals": {s.coin: s.signal for s in self.signals},
            "push": self.push.to_dict() if self.push else None,
        }


def build_signals(
    store: Any, cfg: GenerateSignalsConfig, now_ms: int, push_coins: Sequence[str] = ()
) -> tuple[list[CoinSignal], int, int]:
    """(signals, tracked traders, fresh states) from the store; every ``push_coins`` coin gets
    a signal, a NEUTRAL one when nobody holds it."""
    scores = {t["address"]: float(t.get("score", 0.0)) for t in store.find("tracked_traders")}
    states = store.find("trader_current_state", {"ts": {"$gte": stale_cutoff_ms(now_ms, cfg.stale_after_s)}})
    signals = {s.coin: s for s in compute_signals(scores, states, cfg)}
    for coin in push_coins:
        signals.setdefault(coin, no_holders(coin))
    return [signals[c] for c in sorted(signals)], len(scores), len(states)


def store_signals(store: Any, signals: list[CoinSignal], now_ms: int) -> int:
    return store.insert_many("signals", [s.to_doc(now_ms) for s in signals]) if signals else 0


def feature_commands(signals: list[CoinSignal], push_coins: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    by_coin = {s.coin: s for s in signals}
    return [
        ("set_feature", {"coin": coin, "name": name, "value": value})
        for coin in push_coins
        if coin in by_coin
        for name, value in by_coin[coin].features.items()
    ]


async def run_generate_signals(
    store: Any, commands: str | None, cfg: GenerateSignalsConfig, now_ms: int, push_coins: Sequence[str] = ()
) -> SignalsResult:
    """The flow without Prefect. ``commands``: the hot path's command address (None or
    ``cfg.push`` false: store only)."""
    signals, traders, states = build_signals(store, cfg, now_ms, push_coins)
    store_signals(store, signals, now_ms)
    push = None
    if cfg.push and commands:
        push = await push_commands(commands, feature_commands(signals, push_coins), cfg.push_timeout_s)
    return SignalsResult(now_ms, traders, states, signals, push)


def result_markdown(r: SignalsResult) -> str:
    rows = [
        (
            s.coin,
            s.signal,
            s.long_share * 100,
            s.smart_money_bias,
            s.ls_ratio,
            s.confidence,
            f"{s.n_long}/{s.n_short}",
            s.net_exposure_usd,
        )
        for s in r.signals[:60]
    ]
    push = "not pushed (push disabled or no hot path configured)" if r.push is None else r.push.summary()
    flag = "" if r.push is None or r.push.all_ok else "**Push to the hot path failed.** "
    return (
        f"{len(r.signals)} coins from {r.states} fresh positions of {r.traders} tracked "
        f"traders.\n\n{flag}{push}\n\n"
        + md_table(
            ("coin", "signal", "long %", "bias", "L/S ratio", "confidence", "longs/shorts", "net exposure $"), rows
        )
    )


# -- Prefect ---------------------------------------------------------------------------------


@task(retries=2, retry_delay_seconds=2, timeout_seconds=60, cache_policy=NO_CACHE)
async def compute_and_store(
    store: Any, cfg: GenerateSignalsConfig, now_ms: int, push_coins: list[str]
) -> tuple[list[CoinSignal], int, int]:
    signals, traders, states = build_signals(store, cfg, now_ms, push_coins)
    store_signals(store, signals, now_ms)
    return signals, traders, states


# No retries: a failed push is reported, and the next run (5 min) sends fresh values anyway.
@task(timeout_seconds=60, cache_policy=NO_CACHE)
async def push_features(address: str, commands: list[tuple[str, dict[str, Any]]], timeout_s: float) -> PushReport:
    return await push_commands(address, commands, timeout_s)


@flow(
    name="generate_signals",
    flow_run_name=lambda: f"generate_signals {scheduled_label()}",
    persist_result=False,
    log_prints=False,
    timeout_seconds=240,
)
async def generate_signals(settings_file: str | None = None) -> dict[str, Any]:
    """Compute smart-money signals, store them and set the hot path's features."""
    ctx = flow_context(settings_file)
    try:
        cfg = load_flow_config(ctx.settings, "generate_signals", source=settings_file)
        push_coins = list(cfg.push_coins if cfg.push_coins is not None else ctx.settings.coins)
        now = wall_ms()
        signals, traders, states = await compute_and_store(ctx.store, cfg, now, push_coins)
    finally:
        ctx.store.close()
    push = None
    if cfg.push:
        push = await push_features(
            commands_address(ctx.settings, cfg.commands_address),
            feature_commands(signals, push_coins),
            cfg.push_timeout_s,
        )
    result = SignalsResult(now, traders, states, signals, push)
    await publish_markdown("signals", result_markdown(result), "latest smart-money signals")
    return result.to_dict()
