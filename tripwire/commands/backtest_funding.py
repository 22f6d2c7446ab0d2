"""``tripwire backtest --strategy funding``: the funding carry (docs/CARRY.md) on recorded data or
on a scenario built for it, with its report of carry earned vs fees."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from tripwire.errors import UserError

DEFAULT_CARRY = Path("config/carry.yaml")
DEFAULT_RISK = Path("config/risk.yaml")


def add_funding_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--carry", metavar="PATH", default=None, help=f"carry settings for --strategy funding (default {DEFAULT_CARRY})"
    )
    p.add_argument(
        "--scenario",
        choices=("funding_spike",),
        default=None,
        help="with --strategy funding: replay a synthetic market built for the carry instead of the files "
        "(funding_spike: 10 h, six of them at 6–12 bps/h funding; the bundled hour's funding is ~0.1 bps/h)",
    )


def run_funding(args: argparse.Namespace, settings: Any) -> int:
    from tripwire.config.settings import resolve_path
    from tripwire.hotpath.carry.config import CarryConfigError, load_carry_config
    from tripwire.hotpath.risk.config import RiskConfigError, load_risk_config
    from tripwire.sim.backtest import LatencySpecError, parse_latency
    from tripwire.sim.backtest.carry import run_carry_backtest
    from tripwire.sim.backtest.carry_report import write_carry_report
    from tripwire.sim.exchange.engine import Fees
    from tripwire.sim.exchange.markets import DEFAULT_UNIVERSE
    from tripwire.sim.replay.recordings import ArchiveError
    from tripwire.sim.replay.runner import replay_stream
    from tripwire.sim.replay.scenarios import funding_spike

    if args.quoting:
        raise UserError("--quoting is read only with --strategy quoting")
    if args.scenario and args.files:
        raise UserError("--scenario replaces the files: give one or the other")
    seed = settings.replay.seed if args.seed is None else args.seed
    try:
        equity = Decimal(args.equity)
        if not equity.is_finite() or equity <= 0:
            raise InvalidOperation
    except InvalidOperation:
        raise UserError(f"--equity {args.equity!r}: expected a positive amount of USDC") from None
    files = [] if args.scenario else (args.files or [str(resolve_path(f)) for f in settings.replay.files])
    try:
        risk = load_risk_config(Path(args.risk) if args.risk else resolve_path(DEFAULT_RISK))
        carry = load_carry_config(
            Path(args.carry) if args.carry else resolve_path(DEFAULT_CARRY), tuple(n for n, _, _ in DEFAULT_UNIVERSE)
        )
        if not carry.enabled():
            raise UserError(f"--strategy funding: no coin is enabled in {args.carry or DEFAULT_CARRY}")
        latency = parse_latency(args.latency_ms, args.latency_dist, seed)
        if args.scenario:
            messages: Any = funding_spike(next(iter(carry.enabled())), seed)
        else:
            synthetic = settings.replay.synthetic and not args.no_synthetic
            messages = replay_stream(files, synthetic, seed)
        result = run_carry_backtest(
            messages,
            files,
            carry,
            risk,
            Fees(taker=args.taker_fee, maker=args.maker_fee),
            latency,
            equity,
            scenario=args.scenario,
        )
    except (RiskConfigError, CarryConfigError, LatencySpecError, ArchiveError, ValueError) as e:
        raise UserError(str(e)) from None
    json_path, html_path, summary = write_carry_report(result, args.out)
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_funding_summary(summary, json_path, html_path)
    return 0


def print_funding_summary(s: dict[str, Any], json_path: Path, html_path: Path) -> None:
    m = s["money"]
    where = f"scenario {s['scenario']} (synthetic, built for the carry)" if s["scenario"] else "the recorded files"
    print(f"funding carry backtest on {where}: {s['span_hours']} h of market, {s['messages']:,} messages")
    print(
        f"carry earned {m['funding_earned_usd']:+,.6f} USD over {m['funding_payments']} payments; fees "
        f"{m['fees_usd']['total']:,.6f} (perp {m['fees_usd']['perp']:,.6f}, spot {m['fees_usd']['spot']:,.6f}); "
        f"carry − fees {m['carry_minus_fees_usd']:+,.6f}; trading {m['trading_pnl_usd']['total']:+,.6f}; "
        f"net {m['net_usd']:+,.6f} (accounting gap {m['accounting_gap_usd']:+.6f})"
    )
    for coin, c in s["coins"].items():
        seen = c["funding_bps_per_hour_seen"]
        print(
            f"  {coin} vs {c['spot']}: opens {c['opens']}, closes {c['closes']}, held {c['hours_held']} h; "
            f"hurdle {c['hurdle_bps_per_hour']} bps/h, entry {c['entry_bps_per_hour']}, exit {c['exit_bps_per_hour']}; "
            f"funding seen {seen} bps/h" + (f"; stayed flat: {c['stayed_flat']}" if c["stayed_flat"] else "")
        )
    if s["breaker_trips"]:
        print("breaker trips: " + ", ".join(f"{t['breaker']} ({t['action']})" for t in s["breaker_trips"]))
    print(f"wrote {json_path} and {html_path}")
