"""The demo report's Prefect line: flow runs that finished, by state, apart from the runs the
scheduler has already created for later (Prefect's scheduler creates each deployment's runs
ahead of time — up to 100 per deployment — so a plain count says "99" after a minute).

:func:`flow_run_summary` asks the Prefect API (``/api/flow_runs/count`` per state type,
``/api/flow_runs/filter`` for the scheduled ones, ``/api/deployments/filter`` for their names);
:func:`format_flow_runs` is the text. Pure but for :func:`flow_run_summary`'s requests.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

FINISHED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")  # terminal state types
IN_FLIGHT = ("PENDING", "RUNNING", "CANCELLING", "PAUSED")
SCHEDULED = "SCHEDULED"  # includes Prefect's "Late": scheduled, due, not started


def flow_run_summary(api_url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """``{"finished": {state: n}, "in_flight": {state: n}, "scheduled": {deployment: {"count",
    "late", "next"}}}`` (states with no run left out)."""

    def post(path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            f"{api_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return json.loads(r.read())

    def count(state_type: str) -> int:
        return int(post("/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": [state_type]}}}}))

    finished = {s: n for s in FINISHED if (n := count(s))}
    in_flight = {s: n for s in IN_FLIGHT if (n := count(s))}
    names = {d["id"]: d["name"] for d in post("/deployments/filter", {"limit": 200})}
    scheduled: list[dict[str, Any]] = []
    while True:  # the API answers at most 200 runs at a time
        page = post(
            "/flow_runs/filter",
            {
                "flow_runs": {"state": {"type": {"any_": [SCHEDULED]}}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 200,
                "offset": len(scheduled),
            },
        )
        scheduled += page
        if len(page) < 200:
            break
    return {"finished": finished, "in_flight": in_flight, "scheduled": group_scheduled(scheduled, names)}


def group_scheduled(runs: list[dict[str, Any]], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Scheduled runs (API JSON, earliest first) per deployment name: how many, how many are
    Late, and when the next is expected."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        name = names.get(run.get("deployment_id") or "", run.get("deployment_id") or "(no deployment)")
        row = out.setdefault(name, {"count": 0, "late": 0, "next": run.get("expected_start_time")})
        row["count"] += 1
        row["late"] += (run.get("state") or {}).get("name") == "Late"
    return out


def format_flow_runs(s: dict[str, Any]) -> list[str]:
    """The report's lines for :func:`flow_run_summary`'s answer."""

    def states(d: dict[str, int]) -> str:
        return ", ".join(f"{n} {k.lower()}" for k, n in d.items()) or "none"

    lines = [f"Prefect flow runs  finished: {states(s['finished'])}"]
    if s["in_flight"]:
        lines.append(f"                   still going: {states(s['in_flight'])}")
    sched = s["scheduled"]
    if sched:
        total = sum(r["count"] for r in sched.values())
        lines.append(f"                   scheduled for later (created ahead by Prefect's scheduler, not run): {total}")
        for name, r in sorted(sched.items()):
            late = f", {r['late']} late" if r["late"] else ""
            lines.append(f"                     {name:<22} {r['count']:>3}{late}  next {short_time(r['next'])}")
    return lines


def finished_total(s: dict[str, Any]) -> int:
    return sum(s.get("finished", {}).values())


def short_time(iso: str | None) -> str:
    """``2026-12-06T00:01:00+00:00`` → ``2026-12-06 00:01:00Z`` (Prefect answers UTC)."""
    if not iso:
        return "?"
    return iso.replace("T", " ")[:19] + "Z"
