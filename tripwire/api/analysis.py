"""``POST /analyze``: the seed analyzer's contract on top of the analysis engine.

The seed analyzer took ``{trigger, symbol, timestamp, features}``: a rule name, a coin, when,
and the feature vector. Here that becomes the ``TriggerFired`` event the analysis flow reads,
with the rule's side and planned bracket taken from the loaded trigger rules (a caller can give
``side`` for a rule the file does not have), and goes through the same :func:`analyze` as the
flow: the LLM or n8n when configured, the local model always, the policy over both.

Long-lived clients (the LLM's, n8n's HTTP session) are built once, not per request.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from tripwire.contracts.events import TriggerFired, TriggerFiredData
from tripwire.flows.analysis import AnalysisConfig, AnalysisResult, FallbackCounts, LocalModel, analyze
from tripwire.flows.analysis.llm import make_client
from tripwire.hotpath.triggers.dsl import RuleSet

log = logging.getLogger(__name__)


class UnknownRule(ValueError):
    """The rule is not in the loaded trigger rules and no side was given."""


def timestamp_ms(ts: int | float | datetime) -> int:
    if isinstance(ts, datetime):
        return int(ts.timestamp() * 1000)
    return int(ts)


class AnalysisService:
    def __init__(self, cfg: AnalysisConfig, model: LocalModel, rules: RuleSet | None):
        self.cfg = cfg
        self.model = model
        self.rules = rules
        self.counts = FallbackCounts()
        self._llm_client = make_client(cfg.llm) if cfg.llm.enabled else None
        self._http_session: Any = None

    def trigger_event(
        self,
        rule: str,
        coin: str,
        ts: int | float | datetime,
        features: dict[str, Any],
        side: str | None,
        trigger_id: str | None,
    ) -> TriggerFiredData:
        """The ``trigger.fired`` payload for one seed-style request; its times are all the
        request's timestamp (there was no tick)."""
        known = None
        if self.rules is not None:
            try:
                known = self.rules[rule]
            except KeyError:
                pass
        if side is None:
            if known is None:
                names = ", ".join(self.rules.names) if self.rules is not None else "none loaded"
                raise UnknownRule(
                    f"unknown rule {rule!r} (known: {names}); give 'side' "
                    f"(long|short) to analyse a rule the trigger file lacks"
                )
            side = known.side
        actions = [(n, dict(p)) for n, p in known.actions] if known else []
        ms = timestamp_ms(ts)
        ns = ms * 1_000_000
        return TriggerFired(
            trigger_id or f"api-{rule}-{coin}-{ms}", rule, coin, side, features, actions, ns, ns, ns
        ).to_dict()

    async def run(self, event: TriggerFiredData) -> AnalysisResult:
        if self.cfg.n8n.enabled and self._http_session is None:
            import aiohttp

            self._http_session = aiohttp.ClientSession()
        return await analyze(
            event,
            self.cfg,
            self.model,
            counts=self.counts,
            llm_client=self._llm_client,
            http_session=self._http_session,
        )

    async def close(self) -> None:
        if self._llm_client is not None:
            await self._llm_client.close()
        if self._http_session is not None:
            await self._http_session.close()
