"""``tripwire backtest``: replay recorded market data through the hot path, send each trigger's
protective orders to the in-process simulator after a modelled latency, and report."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import orjson

from tripwire.commands.backtest_funding import add_funding_arguments, run_funding
from tripwire.commands.common import add_config_arguments, add_fee_arguments, load
from tripwire.errors import UserError

DEFAULT_OUT = "run/backtest"
DEFAULT_RISK = Path("config/risk.yaml")
DEFAULT_QUOTING = Path("config/quoting.yaml")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="archive files (.lz4) or NDJSON of WebSocket messages, or folders of them (docs/DATA.md; "
        "default: the bundled real BTC hour)",
    )
    lat = p.add_mutually_exclusive_group()
    lat.add_argument(
        "--latency-ms",
        type=float,
        default=None,
        metavar="N",
        help="constant delay from a trigger's tick to its orders reaching the exchange (default 0)",
    )
    lat.add_argument(
        "--latency-dist",
        metavar="SPEC",
        help="sampled delay instead: lognormal:MEDIAN_MS,SIGMA or empirical:PATH (one latency in ms per line)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"where summary.json and report.html go (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the synthetic market and of sampled latencies (default: settings)",
    )
    p.add_argument(
        "--no-synthetic", action="store_true", help="replay only what the files hold (no synthetic trades/contexts)"
    )
    p.add_argument(
        "--equity", default="10000", metavar="USDC", help="starting balance of the simulated account (default 10000)"
    )
    p.add_argument("--risk", metavar="PATH", default=None, help=f"risk limits and breakers (default {DEFAULT_RISK})")
    p.add_argument("--json", action="store_true", help="also print the summary JSON on stdout")
    p.add_argument(
        "--strategy",
        choices=("rules", "quoting", "funding"),
        default="rules",
        help="rules: the trigger rules alone (default); quoting: the rules and the quoting strategy of "
        "--quoting, compared in the report against the same hour without quoting; funding: the funding "
        "carry of --carry alone (spot against the perp, docs/CARRY.md)",
    )
    add_funding_arguments(p)
    p.add_argument(
        "--quoting",
        metavar="PATH",
        default=None,
        help=f"quoting settings for --strategy quoting (default {DEFAULT_QUOTING})",
    )
    p.add_argument(
        "--gamma-policy",
        metavar="ppo:PATH",
        default=None,
        help="with --strategy quoting: also run the hour with γ scaled by this policy (tripwire alpha ppo; "
        "needs .[alpha]) and compare no quoting, fixed γ and the policy's γ",
    )
    p.add_argument(
        "--predictions",
        metavar="MODEL",
        default=None,
        help="with --strategy quoting: an alpha model file (tripwire alpha train) whose predicted move, made "
        "book by book, the quoter's alpha_skew and the γ policy see (default: none)",
    )
    p.add_argument(
        "--queue",
        choices=("risk_averse", "probabilistic", "none"),
        default="risk_averse",
        help="queue position of resting orders (default risk_averse; none: filled when a trade prints at the price)",
    )
    # the simulator's defaults (Hyperliquid's base tier), without importing it for --help
    add_fee_arguments(p, Decimal("0.00045"), Decimal("0.00015"))
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    from tripwire.config.settings import resolve_path
    from tripwire.hotpath.quoting.config import QuotingConfigError, load_quoting_config
    from tripwire.hotpath.risk.config import RiskConfigError, load_risk_config
    from tripwire.sim.backtest import BacktestConfig, LatencySpecError, parse_latency, run_backtest, write_report
    from tripwire.sim.exchange.engine import Fees
    from tripwire.sim.exchange.queue import QueueModel
    from tripwire.sim.replay.recordings import ArchiveError

    settings, rules = load(args)
    if args.strategy == "funding":
        return run_funding(args, settings)
    if args.carry or args.scenario:
        raise UserError("--carry and --scenario are read only with --strategy funding")
    files = args.files or [str(resolve_path(f)) for f in settings.replay.files]
    seed = settings.replay.seed if args.seed is None else args.seed
    synthetic = settings.replay.synthetic and not args.no_synthetic
    try:
        equity = Decimal(args.equity)
        if not equity.is_finite() or equity <= 0:
            raise InvalidOperation
    except InvalidOperation:
        raise UserError(f"--equity {args.equity!r}: expected a positive amount of USDC") from None
    try:
        risk = load_risk_config(Path(args.risk) if args.risk else resolve_path(DEFAULT_RISK))
        latency = parse_latency(args.latency_ms, args.latency_dist, seed)
        quoting = None
        if args.strategy == "quoting":
            quoting = load_quoting_config(
                Path(args.quoting) if args.quoting else resolve_path(DEFAULT_QUOTING), tuple(settings.coins)
            )
            if not quoting.enabled():
                raise UserError(f"--strategy quoting: no coin is enabled in {args.quoting or DEFAULT_QUOTING}")
        elif args.quoting:
            raise UserError("--quoting is read only with --strategy quoting")
        gamma = _gamma_control(args, quoting)
        predictions = _predictions(args, files, quoting)
        cfg = BacktestConfig(
            latency=latency,
            seed=seed,
            synthetic=synthetic,
            equity_usd=equity,
            fees=Fees(taker=args.taker_fee, maker=args.maker_fee),
            queue=None if args.queue == "none" else QueueModel(args.queue),
            predictions=predictions,
        )
        baseline = None
        if quoting is not None:
            # the same hour, seed and latency samples without quoting, for the comparison
            baseline = run_backtest(
                files,
                settings,
                rules,
                risk,
                dataclasses.replace(cfg, latency=parse_latency(args.latency_ms, args.latency_dist, seed)),
            )
            cfg = dataclasses.replace(cfg, quoting=quoting)
        result = run_backtest(files, settings, rules, risk, cfg)
        others = {}
        if gamma is not None:  # the same hour once more, γ set by the policy
            others[f"quoting_{gamma.name}_gamma"] = run_backtest(
                files,
                settings,
                rules,
                risk,
                dataclasses.replace(cfg, latency=parse_latency(args.latency_ms, args.latency_dist, seed), gamma=gamma),
            )
    except (RiskConfigError, LatencySpecError, ArchiveError, QuotingConfigError) as e:
        raise UserError(str(e)) from None
    json_path, html_path, summary = write_report(result, args.out, baseline, others)
    if args.json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_summary(summary, json_path, html_path)
    return 0


def _predictions(args: argparse.Namespace, files: list[str], quoting):  # type: ignore[no-untyped-def]
    """``--predictions MODEL``: the model's predicted move over the hour's books, per quoting coin."""
    if args.predictions is None:
        return None
    if quoting is None:
        raise UserError("--predictions is read only with --strategy quoting")
    from tripwire.commands.alpha import require_alpha

    require_alpha()
    from tripwire.flows.alpha.predict import predict_files
    from tripwire.flows.alpha.transformer import ModelFileError

    try:
        return {coin: predict_files(files, coin, args.predictions) for coin in quoting.enabled()}
    except ModelFileError as e:
        raise UserError(str(e)) from None


def _gamma_control(args: argparse.Namespace, quoting):  # type: ignore[no-untyped-def]
    """``--gamma-policy ppo:PATH`` as the backtest's GammaControl (None without it)."""
    if args.gamma_policy is None:
        return None
    if quoting is None:
        raise UserError("--gamma-policy is read only with --strategy quoting")
    kind, _, path = args.gamma_policy.partition(":")
    if kind != "ppo" or not path:
        raise UserError(f"--gamma-policy {args.gamma_policy!r}: expected ppo:PATH (a policy from tripwire alpha ppo)")
    from tripwire.commands.alpha import require_alpha

    require_alpha()
    from tripwire.flows.alpha.ppo import PpoGammaPolicy
    from tripwire.sim.backtest.gamma import GammaControl

    try:
        policy = PpoGammaPolicy(path)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    except ValueError as e:  # stable-baselines3's answer to a file that is not its zip
        raise UserError(f"--gamma-policy {path}: not a PPO policy file: {e}") from None
    return GammaControl(policy, 10_000, name="ppo")


def print_summary(s: dict, json_path: Path, html_path: Path) -> None:
    r = s["replay"]
    print(
        f"backtest: {r['messages_total']:,} messages, {r['exchange_span_s']:,.0f} s of market in "
        f"{r['wall_s']:.2f} s ({r['speed_x_realtime'] or 0:,.0f}x real time); latency "
        + ", ".join(f"{k} {v}" for k, v in s["latency"].items())
    )
    win = "–" if s["win_rate"] is None else f"{s['win_rate']:.0%}"
    print(
        f"PnL {s['pnl_usd']:+,.6f} USD ({s['return_pct']:+.4f} %): realized {s['realized_usd']:+,.6f}, "
        f"unrealized {s['unrealized_usd']:+,.6f}; fees {s['fees_paid_usd']:,.6f}, rebates "
        f"{s['rebates_usd']:,.6f}, funding "
        f"{s['funding_usd']:+,.6f}; max drawdown {s['max_drawdown_usd']:,.2f} USD"
    )
    print(
        f"triggers {s['triggers']}, filled {s['filled']}, win rate {win}, TP {s['tp_hits']}, "
        f"SL {s['sl_hits']}, open at end {s['open_at_end']}"
    )
    q = s.get("quoting")
    if q:
        print(
            f"quoting: PnL {q['pnl_usd']:+,.6f} USD over {q['fills']} fills (fees {q['fees_usd']:+,.6f}); actions "
            + ", ".join(f"{k} {v}" for k, v in q["actions"].items())
            + f"; inventory at end {q['inventory_at_end'] or 'flat'}"
        )
    for name, v in (s.get("comparison") or {}).items():
        print(
            f"  {name:<12} PnL {v['pnl_usd']:+,.6f}  fees paid {v['fees_paid_usd']:,.6f}  rebates "
            f"{v['rebates_usd']:,.6f}  funding {v['funding_usd']:+,.6f}  fills {v['fills']}"
            + (f"  quoting alone {v['quoting_pnl_usd']:+,.6f}" if v.get("quoting_pnl_usd") is not None else "")
        )
    for rule, v in s["per_rule"].items():
        print(
            f"  {rule:<30} triggers {v['triggers']:>3}  filled {v['filled']:>3}  TP {v['tp_hits']:>3}  "
            f"SL {v['sl_hits']:>3}  open {v['open_at_end']:>3}  PnL {v['pnl_usd']:+,.4f}"
        )
    for coin, gen in r.get("synthetic", {}).items():
        print(f"synthetic for {coin} (the data has no {' or '.join(gen['channels'])}): " + ", ".join(gen["features"]))
    if s["breaker_trips"]:
        print("breaker trips: " + ", ".join(f"{t['breaker']} ({t['action']})" for t in s["breaker_trips"]))
    print(f"wrote {json_path} and {html_path}")
