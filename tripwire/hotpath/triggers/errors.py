"""The one error a bad rule file raises, and the did-you-mean helper its messages use.

A *rule* is a definition in ``config/triggers.yaml``; a *trigger* is one firing of a rule.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class RuleConfigError(ValueError):
    """A rule file (or dict) cannot be compiled.

    The message names the source file, the rule and the offending key, e.g.
    ``config/triggers.yaml: rule 'squeeze_up': unknown feature 'cvd_slop_1m' in 'cvd_slop_1m_gt'
    (did you mean 'cvd_slope_1m'?)``. The same parts are kept as attributes so a caller (the
    reload command) can report them structurally; ``line`` is set for YAML syntax errors.
    """

    def __init__(
        self,
        source: str,
        reason: str,
        *,
        rule: str | None = None,
        key: str | None = None,
        line: int | None = None,
        noun: str = "rule",
    ):
        self.source = source
        self.reason = reason
        self.rule = rule
        self.key = key
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        if rule is not None:
            where = f"{where}: {noun} {rule!r}"  # 'trigger' in a seed-dialect file, as it says
        super().__init__(f"{where}: {reason}")


def did_you_mean(word: str, candidates: Iterable[str], aliases: Mapping[str, str | None] | None = None) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``''`` when none is close.

    ``aliases`` (other spellings → the name they stand for) are matched too, and suggest the
    name they stand for: 'vwap_z1m' is closest to the alias 'vwap_z_1m', so the hint is
    'vwap_zscore_1m' rather than whatever real name happens to share the most letters.
    """
    names = list(candidates)
    pool = names + [a for a, real in (aliases or {}).items() if real is not None and a not in names]
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not match:
        return ""
    best = match[0] if match[0] in names else (aliases or {})[match[0]]
    return f" (did you mean {best!r}?)"
