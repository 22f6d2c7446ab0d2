"""Which metrics a Grafana dashboard queries, read from its PromQL expressions.

``dashboard_metrics("ops/grafana/tripwire.json")`` gives the series names as they appear in a
scrape (``…_total`` for counters, ``…_bucket`` for histogram quantiles and heatmaps), so a test
of the running demo can assert that each one is exported by some process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# PromQL words that look like metric names but are not.
_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")


def promql_metrics(expr: str) -> set[str]:
    """Metric names in one PromQL expression (functions, keywords and labels left out)."""
    s = _STRING.sub('""', expr)
    s = _MATCHERS.sub("", s)
    s = _RANGES.sub("", s)
    s = _GROUPING.sub("", s)
    names = set()
    for m in _IDENT.finditer(s):
        if s[m.end() :].lstrip().startswith("("):
            continue  # a function call: rate(, sum(, histogram_quantile(
        if m.group(0) not in _KEYWORDS:
            names.add(m.group(0))
    return names


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                yield v
            else:
                yield from _exprs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _exprs(v)


def dashboard_metrics(path: str | Path, prefix: str = "tripwire_") -> set[str]:
    """Every metric the dashboard at ``path`` queries whose name starts with ``prefix``
    (``""`` for all of them, including Prometheus's own ``up``)."""
    doc = json.loads(Path(path).read_text())
    out: set[str] = set()
    for expr in _exprs(doc):
        out |= {n for n in promql_metrics(expr) if n.startswith(prefix)}
    return out
