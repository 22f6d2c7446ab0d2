"""Sending the scheduled flows' results to the hot path (``set_feature``, ``reload_model``).

The hot path may be down, restarting, or refuse a command (an unknown coin, a bad file). None
of that may fail a flow whose real work — computing and storing — is done: the outcome of
every command is collected in a :class:`PushReport` that the flow shows in its artefact and
logs once. The first timeout ends the push: a hot path that did not answer one command will
not answer the next ones in time either, and waiting for each would only delay the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tripwire.bus.commands import AsyncCommandClient, CommandError, CommandTimeout

log = logging.getLogger(__name__)


@dataclass
class PushReport:
    address: str
    ok: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    not_sent: int = 0
    error: str | None = None  # why the push stopped (unreachable, timeout)

    @property
    def all_ok(self) -> bool:
        return not self.refused and not self.not_sent and self.error is None

    def summary(self) -> str:
        if self.all_ok:
            return f"hot path ({self.address}): {len(self.ok)} commands applied"
        parts = [f"hot path ({self.address}): {len(self.ok)} applied"]
        if self.refused:
            first = self.refused[0]
            parts.append(f"{len(self.refused)} refused (first: {first['cmd']} {first.get('args')}: {first['error']})")
        if self.not_sent:
            parts.append(f"{self.not_sent} not sent")
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "ok": len(self.ok),
            "refused": self.refused,
            "not_sent": self.not_sent,
            "error": self.error,
            "all_ok": self.all_ok,
        }


async def push_commands(address: str, commands: list[tuple[str, dict[str, Any]]], timeout_s: float = 2.0) -> PushReport:
    """Send ``commands`` in order; never raises for the hot path's sake (see module doc)."""
    report = PushReport(address)
    client = AsyncCommandClient(address, timeout_s)
    try:
        for i, (cmd, args) in enumerate(commands):
            try:
                result = await client.call(cmd, args)
            except CommandError as e:
                report.refused.append({"cmd": cmd, "args": args, "error": str(e)})
            except CommandTimeout as e:
                report.error = f"stopped: {e}"
                report.not_sent = len(commands) - i
                break
            else:
                report.ok.append({"cmd": cmd, "args": args, "result": result})
    finally:
        client.close()
    if not report.all_ok:
        log.warning("%s", report.summary())
    return report
