"""The trigger engine: on each coin update, evaluate the rules that update could change.

Per update kind (book, trades, ctx, bar_close_1m, external) and coin, the engine keeps the
tuple of rules worth evaluating: tick rules that read at least one feature updated on that kind,
and, on ``bar_close_1m`` only, the ``on: bar_close_1m`` rules; rules with a ``coins`` filter
are left out of other coins' tuples. The tuple is built the first time a (kind, coin) is seen,
so ``evaluate`` with nothing firing is two dict lookups plus one closure call per candidate
rule, and allocates nothing but the empty result list.

Time is exchange time (``exch_ms``) for everything that decides whether a rule fires: cooldowns
and the active-trigger TTL. A replay of the same recording therefore fires the same triggers
with the same ids whatever the machine's speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tripwire.contracts.events import TriggerFired
from tripwire.contracts.features import BAR_CLOSE
from tripwire.hotpath.triggers.dsl import TICK, Rule, RuleSet, compile_rules, load_rules

__all__ = ["Rule", "RuleSet", "TriggerEngine", "TriggerStats", "compile_rules", "load_rules"]


@dataclass(slots=True)
class TriggerStats:
    """Counters for metrics. Suppressions are counted per evaluation in which the rule's
    conditions held, so a rule held back by its cooldown for 30 ticks counts 30."""

    fired_by_rule: dict[str, int] = field(default_factory=dict)
    suppressed_cooldown: dict[str, int] = field(default_factory=dict)  # by rule
    suppressed_cap: dict[str, int] = field(default_factory=dict)  # by rule
    expired: int = 0  # TTL ran out unclosed
    closed_by_reason: dict[str, int] = field(default_factory=dict)


class TriggerEngine:
    """Evaluates a :class:`RuleSet`, applies cooldowns and the concurrency cap, emits events."""

    def __init__(self, ruleset: RuleSet):
        self.stats = TriggerStats()
        self._active: dict[str, tuple[int, TriggerFired]] = {}  # id → (expiry exch_ms, event)
        self._last_fired_ms: dict[str, dict[str, int]] = {}  # rule → coin → exch_ms
        self._seq = 0
        self._now_ms = 0  # latest exchange time seen, for `active` between evaluations
        self._install(ruleset)

    # -- rules

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    def replace_rules(self, ruleset: RuleSet) -> None:
        """Swap in a new rule set (live reload).

        Cooldowns carry over for rules that keep their name (and are measured against the new
        cooldown_s); those of removed rules are dropped. Active triggers all stay active until
        closed or expired, including those of removed rules: their protective orders are still
        out there and still count against the cap.
        """
        self._install(ruleset)
        names = {r.name for r in ruleset.rules}
        for name in list(self._last_fired_ms):
            if name not in names:
                del self._last_fired_ms[name]

    def _install(self, ruleset: RuleSet) -> None:
        self._ruleset = ruleset
        self._max_active = ruleset.max_active_triggers
        self._ttl_ms = int(ruleset.active_ttl_s * 1000)
        self._rules = tuple(r for r in ruleset.rules if r.enabled)
        self._cooldown_ms = {r.name: int(r.cooldown_s * 1000) for r in self._rules}
        kinds = {k for r in self._rules for k in r.kinds}
        # kind → coin → rules; the per-coin tuples are filled lazily by _plan_for.
        self._plans: dict[str, dict[str, tuple[Rule, ...]]] = {k: {} for k in kinds}

    def _plan_for(self, kind: str, coin: str) -> tuple[Rule, ...]:
        plan = tuple(
            r
            for r in self._rules
            if kind in r.kinds and (r.on == TICK or kind == BAR_CLOSE) and (r.coins is None or coin in r.coins)
        )
        self._plans[kind][coin] = plan
        return plan

    # -- the hot path

    def evaluate(
        self, coin: str, kind: str, values: Mapping[str, Any], exch_ms: int, recv_ns: int, now_ns: int
    ) -> list[TriggerFired]:
        """Evaluate the rules that an update of ``kind`` on ``coin`` could change.

        ``values`` is the coin's current feature values (absent while warming up). Returns the
        triggers that fired, usually none.
        """
        self._now_ms = exch_ms
        by_coin = self._plans.get(kind)
        if by_coin is None:
            return []
        rules = by_coin.get(coin)
        if rules is None:
            rules = self._plan_for(kind, coin)
        fired = []
        for rule in rules:
            if rule.condition(values):
                event = self._try_fire(rule, coin, values, exch_ms, recv_ns, now_ns)
                if event is not None:
                    fired.append(event)
        return fired

    def fire(
        self,
        name: str,
        coin: str,
        values: Mapping[str, Any],
        exch_ms: int,
        recv_ns: int,
        now_ns: int,
        side: str | None = None,
    ) -> TriggerFired:
        """Fire rule ``name`` by hand, whatever its conditions say; its cooldown and the
        active-trigger cap still apply. Raises ValueError naming why it did not fire."""
        rule = next((r for r in self._rules if r.name == name), None)
        if rule is None:
            known = ", ".join(r.name for r in self._rules)
            raise ValueError(f"no enabled rule {name!r}; enabled: {known}")
        before = (self.stats.suppressed_cooldown.get(name, 0), self.stats.suppressed_cap.get(name, 0))
        self._now_ms = max(self._now_ms, exch_ms)
        event = self._try_fire(rule, coin, values, exch_ms, recv_ns, now_ns)
        if event is None:
            why = (
                "its cooldown"
                if self.stats.suppressed_cooldown.get(name, 0) > before[0]
                else f"the cap of {self._max_active} active triggers"
            )
            raise ValueError(f"rule {name!r} on {coin} held back by {why}")
        if side is not None:
            event.side = side
        return event

    def _try_fire(
        self, rule: Rule, coin: str, values: Mapping[str, Any], exch_ms: int, recv_ns: int, now_ns: int
    ) -> TriggerFired | None:
        name = rule.name
        last_by_coin = self._last_fired_ms.get(name)
        if last_by_coin is not None:
            last = last_by_coin.get(coin)
            if last is not None and exch_ms - last < self._cooldown_ms[name]:
                _bump(self.stats.suppressed_cooldown, name)
                return None
        self._expire(exch_ms)
        if len(self._active) >= self._max_active:
            _bump(self.stats.suppressed_cap, name)
            return None
        self._seq += 1
        trigger_id = f"{name}.{coin}.{exch_ms}.{self._seq}"
        event = TriggerFired(
            trigger_id,
            name,
            coin,
            rule.side,
            dict(values),
            [(a, dict(p)) for a, p in rule.actions],
            exch_ms * 1_000_000,
            recv_ns,
            now_ns,
        )
        self._active[trigger_id] = (exch_ms + self._ttl_ms, event)
        self._last_fired_ms.setdefault(name, {})[coin] = exch_ms
        _bump(self.stats.fired_by_rule, name)
        return event

    def forget_cooldowns(self, coin: str) -> None:
        """The coin's exchange clock moved (a replay looped, the clock stepped back): cooldowns
        measured on its old times would hold its rules back for as long as the step."""
        for by_coin in self._last_fired_ms.values():
            by_coin.pop(coin, None)

    # -- active triggers

    def close(self, trigger_id: str, reason: str) -> bool:
        """Mark a trigger done (orders closed, analysis said no-go...), freeing its cap slot.

        Returns False if it was not active (unknown, already closed, or expired).
        """
        self._expire(self._now_ms)
        if self._active.pop(trigger_id, None) is None:
            return False
        _bump(self.stats.closed_by_reason, reason)
        return True

    @property
    def active(self) -> Mapping[str, TriggerFired]:
        """Active triggers by id, as of the latest exchange time seen (a read-only snapshot)."""
        self._expire(self._now_ms)
        return MappingProxyType({tid: ev for tid, (_, ev) in self._active.items()})

    def _expire(self, now_ms: int) -> None:
        # At most max_active_triggers entries, so a scan is cheaper than a heap.
        if self._active:
            expired = [tid for tid, (until, _) in self._active.items() if until <= now_ms]
            for tid in expired:
                del self._active[tid]
            self.stats.expired += len(expired)


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1
