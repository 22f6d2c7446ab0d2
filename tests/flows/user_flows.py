"""Users' own Prefect flows, as a user would write them, for the start_workflow tests.

Each takes the fired trigger event (``trigger``) and returns a verdict dict; the misbehaving ones
return nonsense, raise, or take too long. Registered in ``analysis.flows`` by import path
("tests.flows.user_flows:<name>").
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prefect import flow, task


@task
def order_flow_score(features: dict[str, Any]) -> float:
    """+1 when the one-minute CVD slope is with a long, −1 against it."""
    slope = float(features.get("cvd_slope_1m") or 0.0)
    return max(-1.0, min(1.0, slope / 500_000.0))


@flow(name="order-flow-check", persist_result=False)
async def order_flow_check(trigger: dict[str, Any]) -> dict[str, Any]:
    """Go with the order flow: a tighter target, the planned stop, half the size."""
    s = order_flow_score(trigger["features"])
    s = s if trigger["side"] == "long" else -s
    return {
        "sA": round(s, 3),
        "confA": 0.7,
        "prob_cont": round((1 + s) / 2, 3),
        "tp_atr": 1.1,
        "size_scale": 0.5,
        "reason": f"order flow {s:+.2f}",
    }


@flow(name="sync-order-flow-check", persist_result=False)
def sync_order_flow_check(trigger: dict[str, Any]) -> dict[str, Any]:
    """The same as a sync flow."""
    s = order_flow_score(trigger["features"])
    return {"go": s > 0, "sA": round(s, 3), "confA": 0.6, "prob_cont": round((1 + s) / 2, 3)}


@flow(name="sloppy-check", persist_result=False)
async def sloppy_check(trigger: dict[str, Any]) -> dict[str, Any]:
    """Out of range and a misspelt key."""
    return {"sA": 3.0, "confA": 0.7, "prob_cont": 0.9, "tp_atrr": 1.0}


@flow(name="broken-check", persist_result=False, retries=0)
async def broken_check(trigger: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("feature store unreachable")


@flow(name="slow-check", persist_result=False)
async def slow_check(trigger: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(30)
    return {"sA": 0.5, "confA": 0.5, "prob_cont": 0.75}


@flow(name="blocking-check", persist_result=False)
def blocking_check(trigger: dict[str, Any]) -> dict[str, Any]:
    time.sleep(3)
    return {"sA": 0.5, "confA": 0.5, "prob_cont": 0.75}


def not_a_flow(trigger: dict[str, Any]) -> dict[str, Any]:
    return {"sA": 0.5, "confA": 0.5, "prob_cont": 0.75}


@flow(name="no-trigger-parameter")
def no_trigger_parameter(event: dict[str, Any]) -> dict[str, Any]:
    return {"sA": 0.5, "confA": 0.5, "prob_cont": 0.75}
