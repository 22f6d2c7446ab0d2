"""Loading settings and rules for a command, turning config errors into user errors."""

from __future__ import annotations

import argparse
from pathlib import Path

from tripwire.errors import UserError


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument("--triggers", metavar="PATH", help="trigger rules (default: from settings)")


def load(args: argparse.Namespace):
    """(settings, rules) for a command, or UserError naming the file, key and reason."""
    from tripwire.config.settings import ConfigError, load_settings, resolve_path
    from tripwire.hotpath.triggers.engine import load_rules
    from tripwire.hotpath.triggers.errors import RuleConfigError
    from tripwire.sim.replay.recordings import ArchiveError

    try:
        settings = load_settings(args.config)
        rules_path = Path(args.triggers) if args.triggers else resolve_path(settings.triggers_file)
        rules = load_rules(rules_path)
    except (ConfigError, RuleConfigError, ArchiveError) as e:
        raise UserError(str(e)) from None
    return settings, rules
