"""The hot path's bus commands: validated arguments in, :class:`~.service.HotPath` calls, answers out.

Each command's arguments are checked by its contract model before its handler runs (the
:class:`~tripwire.bus.commands.CommandServer` does that), and a handler refuses
(:class:`~tripwire.bus.commands.CommandRefused`, with the code a caller can act on) before
anything changes, so an invalid command is never half-applied. Reading files (trigger rules,
the model) happens here, at the edge; the hot path only ever gets checked values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tripwire.bus.commands import CommandRefused, CommandServer
from tripwire.contracts.events import (
    CoinScopeArgs,
    Decision,
    FireRuleArgs,
    NoArgs,
    PauseArgs,
    ReloadArgs,
    SetFeatureArgs,
)
from tripwire.hotpath.service import HotPath, MaybeAwaitable, StaleDecision
from tripwire.hotpath.triggers.engine import load_rules
from tripwire.hotpath.triggers.errors import RuleConfigError

COMMANDS = (
    "status",
    "pause",
    "resume",
    "cancel_all",
    "flatten",
    "apply_decision",
    "set_feature",
    "reload_triggers",
    "reload_model",
    "fire_rule",
)


class HotPathCommands:
    """One handler per command in :data:`COMMANDS` (``cmd_<name>``), all over one hot path."""

    def __init__(self, hp: HotPath) -> None:
        self.hp = hp

    def register(self, server: CommandServer) -> None:
        for name in COMMANDS:
            server.register(name, getattr(self, "cmd_" + name))

    def cmd_status(self, _args: NoArgs) -> dict[str, Any]:
        return self.hp.status()

    def cmd_pause(self, args: PauseArgs) -> dict[str, Any]:
        return {"state": self.hp.pause(args.reason or "command")}

    def cmd_resume(self, _args: NoArgs) -> dict[str, Any]:
        return {"state": self.hp.resume("command")}

    def cmd_cancel_all(self, args: CoinScopeArgs) -> MaybeAwaitable:
        return self.hp.cancel_all(self._traded(args.coin))

    def cmd_flatten(self, args: CoinScopeArgs) -> MaybeAwaitable:
        return self.hp.flatten(self._traded(args.coin))

    def _traded(self, coin: str | None) -> str | None:
        """``coin`` if this hot path trades it (None: every coin); a typo must not answer "done"
        having done nothing, so any other coin is refused."""
        if coin is not None and coin not in self.hp.settings.coins:
            raise CommandRefused(
                "invalid_args", f"unknown coin {coin!r}: this hot path trades {', '.join(self.hp.settings.coins)}"
            )
        return coin

    def cmd_apply_decision(self, d: Decision) -> MaybeAwaitable:
        try:
            return self.hp.apply_decision(d)
        except StaleDecision as e:
            raise CommandRefused("stale_decision", str(e)) from None

    def cmd_fire_rule(self, args: FireRuleArgs) -> dict[str, Any]:
        """Fire a rule by hand; its protective orders go through the same risk checks."""
        try:
            ev = self.hp.fire_rule(args.rule, args.coin, args.side)
        except ValueError as e:
            raise CommandRefused("refused", str(e)) from None
        return {"trigger_id": ev.trigger_id, "rule": ev.rule, "coin": ev.coin, "side": ev.side}

    def cmd_set_feature(self, args: SetFeatureArgs) -> dict[str, Any]:
        value = float(args.value)
        try:
            self.hp.set_external_feature(args.coin, args.name, value)
        except (KeyError, ValueError) as e:
            raise CommandRefused("invalid_args", str(e)) from None
        return {"coin": args.coin, "name": args.name, "value": value}

    def cmd_reload_triggers(self, args: ReloadArgs) -> dict[str, Any]:
        path = Path(args.path) if args.path else self.hp.triggers_path
        try:
            rules = load_rules(path)
        except RuleConfigError as e:
            raise CommandRefused("invalid_config", str(e)) from None
        except OSError as e:
            raise CommandRefused("invalid_config", f"{path}: {e.strerror or e}") from None
        self.hp.replace_rules(rules, path)
        return {"path": str(path), "rules": [r.name for r in rules.rules]}

    def cmd_reload_model(self, args: ReloadArgs) -> dict[str, Any]:
        """Load the retrained local model's file (JSON); a bad file is refused, the old stays.

        The hot path keeps the model's identity for status and events; scoring runs in the
        analysis flows, which read the same file.
        """
        if not args.path:
            raise CommandRefused("invalid_args", "reload_model needs the model file's path")
        path = Path(args.path)
        try:
            model = orjson.loads(path.read_bytes())
        except OSError as e:
            raise CommandRefused("invalid_config", f"{path}: {e.strerror or e}") from None
        except orjson.JSONDecodeError as e:
            raise CommandRefused("invalid_config", f"{path}: not JSON ({e})") from None
        if not isinstance(model, dict) or "families" not in model:
            raise CommandRefused("invalid_config", f"{path}: not a tripwire model file (no 'families')")
        self.hp.set_model(model, str(path))
        return {"path": str(path), "version": model.get("version")}
