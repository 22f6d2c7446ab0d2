"""Loading settings and rules for a command, turning config errors into user errors."""

from __future__ import annotations

import argparse
import importlib
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tripwire.errors import UserError


def add_subcommands(p: argparse.ArgumentParser, dest: str, commands: dict[str, tuple[str, str]]) -> None:
    """A command group (``tripwire data …``): ``commands`` maps a name to (module with
    ``add_arguments``/``run``, one-line help); :func:`run_subcommand` runs the one chosen."""
    sub = p.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
    for name, (modname, help_text) in commands.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(modname)
        mod.add_arguments(sp)
        sp.set_defaults(_subcommand_run=mod.run)


def run_subcommand(args: argparse.Namespace) -> int:
    return int(args._subcommand_run(args) or 0)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", help="settings file (default: $TRIPWIRE_CONFIG or config/settings.yaml)")
    p.add_argument("--triggers", metavar="PATH", help="trigger rules (default: from settings)")


# Hyperliquid's schedule: taker 0.045 % at the base tier, maker 0.015 % down to a rebate of
# 0.003 % (a negative fee) at the top maker tiers. The bounds only catch typos (0.045 for 0.045 %).
MAX_FEE_RATE = Decimal("0.01")
MAX_MAKER_REBATE = Decimal("0.001")


def fee_rate(text: str, *, rebate_allowed: bool) -> Decimal:
    """A fee rate as a fraction of notional; a negative rate (a rebate) only where ``rebate_allowed``."""
    lowest = -MAX_MAKER_REBATE if rebate_allowed else Decimal(0)
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not lowest <= value <= MAX_FEE_RATE:
        why = "negative = a maker rebate" if rebate_allowed else "a taker always pays; rebates are for makers"
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a fee rate: expected a fraction of notional from {lowest} to {MAX_FEE_RATE} "
            f"(0.00045 = 0.045 %; {why})"
        )
    return value


def add_fee_arguments(p: argparse.ArgumentParser, taker: Decimal, maker: Decimal) -> None:
    """``--taker-fee`` and ``--maker-fee`` (the simulator's and the backtest's)."""
    p.add_argument(
        "--taker-fee",
        type=lambda t: fee_rate(t, rebate_allowed=False),
        default=taker,
        help=f"taker fee rate (default {taker})",
    )
    p.add_argument(
        "--maker-fee",
        type=lambda t: fee_rate(t, rebate_allowed=True),
        default=maker,
        help=f"maker fee rate (default {maker}); negative is a rebate, e.g. -0.00002",
    )


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
