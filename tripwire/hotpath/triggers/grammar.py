"""The rule language's keywords, shared by the native compiler (dsl) and the seed dialect."""

from __future__ import annotations

# Longer suffixes first: 'mid_gt_pct' must parse as mid + _gt_pct, not as 'mid_gt' + ...
OPERATORS = ("_gt_pct", "_lt_pct", "_gt", "_lt", "_ge", "_le", "_eq")
PCT_OPS = ("_gt_pct", "_lt_pct")
COMBINATORS = ("when_all", "when_any", "quorum", "when_present")
TOP_KEYS = ("max_active_triggers", "active_ttl_s", "defaults", "rules", "allow_empty")
RULE_KEYS = ("description", "side", "on", "cooldown_s", "coins", "enabled", *COMBINATORS, "actions")
