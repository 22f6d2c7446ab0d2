"""When a scheduled flow's task is retried: only for upstream failures that may heal.

An HTTP 5xx, a 429, a cut-off answer or an unreachable server can be gone a few seconds later;
a bug, a bad config or a store error will not be, and retrying would only delay the report.
"""

from __future__ import annotations

from typing import Any

from tripwire.flows.scheduled.upstream import UpstreamError


def _exception_of(state: Any) -> Any:
    data = state.data
    # A failed state holds the exception itself, or a result record wrapping it.
    return getattr(data, "result", data)


def upstream_may_heal(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(_exception_of(state), UpstreamError)


# Seconds before the 1st and 2nd retry: long enough for a 429's per-minute budget to refill.
UPSTREAM_RETRY_DELAYS_S = [10, 60]
