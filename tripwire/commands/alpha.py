"""``tripwire alpha``: the learned side of market making (docs/ALPHA.md; needs ``pip install
'.[alpha]'``).

* ``train``: walk-forward the order-book transformer against the logistic and no-skill
  baselines on recorded books, save it, promote it only if it is better;
* ``serve``: the promoted model, fed by the hot path's books on the bus, sends
  ``pred_move_bps`` back with ``set_feature``;
* ``ppo``: train a PPO policy for the quoter's γ on the first part of the data and compare it
  with fixed γ and no quoting on the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

from tripwire.commands.common import add_config_arguments, load
from tripwire.errors import UserError

INSTALL_HINT = "the alpha extra is not installed: pip install '.[alpha]' (PyTorch CPU, gymnasium, stable-baselines3)"
DEFAULT_POLICY = "data/models/gamma_ppo.zip"


def require_alpha() -> None:
    """UserError with the install line when torch / gymnasium / stable-baselines3 are missing."""
    import importlib.util

    missing = [m for m in ("torch", "gymnasium", "stable_baselines3") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="alpha_command", metavar="ALPHA_COMMAND", required=True)
    t = sub.add_parser("train", help="walk-forward, save and (if better) promote the order-book transformer")
    t.add_argument(
        "files", nargs="*", metavar="FILE", help="recorded l2Book files or folders (default: settings.replay)"
    )
    t.add_argument("--coin", default=None, help="default: flows.retrain_model.alpha.coin")
    t.add_argument("--models-dir", default=None, metavar="DIR")
    t.add_argument("--model-file", default=None, metavar="PATH", help="the promoted model (default from settings)")
    t.add_argument("--epochs", type=int, default=None)
    add_config_arguments(t)

    s = sub.add_parser("serve", help="serve the promoted model to the hot path as the feature pred_move_bps")
    s.add_argument("--model-file", default=None, metavar="PATH")
    s.add_argument("--coins", default=None, help="comma-separated (default: the model's coin)")
    s.add_argument("--events", default=None, metavar="ADDR", help="the hot path's event bus (default from settings)")
    s.add_argument("--commands", default=None, metavar="ADDR", help="the hot path's commands (default from settings)")
    add_config_arguments(s)

    q = sub.add_parser("ppo", help="train a PPO γ policy on the hour's first part; compare on the rest")
    q.add_argument("files", nargs="*", metavar="FILE", help="recorded data (default: settings.replay)")
    q.add_argument("--out", default=DEFAULT_POLICY, metavar="PATH", help=f"the policy file (default {DEFAULT_POLICY})")
    q.add_argument("--coin", default="BTC")
    q.add_argument("--timesteps", type=int, default=3000, help="decisions to train on (default 3000)")
    q.add_argument("--train-share", type=float, default=2 / 3, help="share of the data's time trained on")
    q.add_argument("--interval-s", type=float, default=10.0, help="seconds of exchange time between decisions")
    q.add_argument("--inventory-penalty", type=float, default=0.005, help="USD per step at full inventory")
    q.add_argument(
        "--predictions", default=None, metavar="MODEL", help="an alpha model file: its predicted move is in the state"
    )
    q.add_argument("--quoting", default=None, metavar="PATH", help="default config/quoting.yaml")
    q.add_argument("--latency-ms", type=float, default=50.0)
    q.add_argument("--seed", type=int, default=7)
    add_config_arguments(q)


def run(args: argparse.Namespace) -> int:
    require_alpha()
    return {"train": _train, "serve": _serve, "ppo": _ppo}[args.alpha_command](args)


def _alpha_cfg(settings, args):  # type: ignore[no-untyped-def]
    from tripwire.config.settings import ConfigError
    from tripwire.flows.scheduled.config import load_flow_config

    try:
        cfg = load_flow_config(settings, "retrain_model").alpha
    except ConfigError as e:
        raise UserError(str(e)) from None
    updates = {
        k: v
        for k, v in {
            "coin": getattr(args, "coin", None),
            "models_dir": Path(args.models_dir) if getattr(args, "models_dir", None) else None,
            "model_file": Path(args.model_file) if args.model_file else None,
            "epochs": getattr(args, "epochs", None),
        }.items()
        if v is not None
    }
    return cfg.model_copy(update=updates)


def _files(settings, given: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    from tripwire.config.settings import resolve_path

    return given or [str(resolve_path(f)) for f in settings.replay.files]


def _train(args: argparse.Namespace) -> int:
    from tripwire.flows.alpha import evaluate
    from tripwire.flows.alpha.books import read_snapshots
    from tripwire.flows.scheduled.retrain_model import model_version
    from tripwire.sim.replay.recordings import ArchiveError

    settings, _ = load(args)
    cfg = _alpha_cfg(settings, args)
    try:
        s = read_snapshots(_files(settings, args.files), cfg.coin, cfg.levels, cfg.book_every_ms)
    except ArchiveError as e:
        raise UserError(str(e)) from None
    if not len(s):
        raise UserError(f"no {cfg.coin} l2Book in the files")
    r = evaluate.train_and_promote(s, cfg, model_version(int(time.time() * 1000)))
    print(f"{len(s)} books, {r.samples} labelled windows, folds {r.folds}")
    print(evaluate.result_markdown(r))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tripwire.bus.addresses import BusAddressError, configured_addresses
    from tripwire.flows.alpha import transformer
    from tripwire.flows.alpha.serve import AlphaServer

    settings, _ = load(args)
    cfg = _alpha_cfg(settings, args)
    try:
        model = transformer.load(cfg.model_file)
        events, commands = configured_addresses(settings.bus, args.events, args.commands)
    except (transformer.ModelFileError, BusAddressError) as e:
        raise UserError(str(e)) from None
    coins = args.coins.split(",") if args.coins else [str(model.meta["coin"])]
    server = AlphaServer(model, events, commands, coins)
    print(
        f"alpha serve: {cfg.model_file} ({model.meta.get('version', '?')}) on {', '.join(coins)}; books from {events}"
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop.set)
        stats = await server.run()
        print(f"alpha serve: stopped; {stats.to_dict()}")

    asyncio.run(main())
    return 0


def _ppo(args: argparse.Namespace) -> int:
    from tripwire.config.settings import resolve_path
    from tripwire.flows.alpha import ppo
    from tripwire.flows.alpha.env import GammaEnv, split_ms
    from tripwire.flows.alpha.predict import predict_files
    from tripwire.flows.alpha.transformer import ModelFileError
    from tripwire.hotpath.quoting.config import QuotingConfigError, load_quoting_config
    from tripwire.hotpath.risk.config import RiskConfigError, load_risk_config
    from tripwire.sim.backtest import BacktestConfig
    from tripwire.sim.backtest.latency import Constant

    if not 0.1 <= args.train_share <= 0.9:
        raise UserError(f"--train-share {args.train_share}: expected 0.1 … 0.9 (the rest is the test)")
    settings, rules = load(args)
    files = _files(settings, args.files)
    try:
        risk = load_risk_config(resolve_path(Path("config/risk.yaml")))
        quoting = load_quoting_config(
            Path(args.quoting) if args.quoting else resolve_path(Path("config/quoting.yaml")), tuple(settings.coins)
        )
        preds = predict_files(files, args.coin, args.predictions) if args.predictions else None
    except (RiskConfigError, QuotingConfigError, ModelFileError) as e:
        raise UserError(str(e)) from None
    first, split, last = split_ms(files, args.train_share)
    cfg = BacktestConfig(latency=Constant(args.latency_ms), seed=args.seed)

    def env(lo: int, hi: int) -> GammaEnv:
        return GammaEnv(
            files,
            settings,
            rules,
            risk,
            quoting,
            args.coin,
            cfg,
            lo,
            hi,
            int(args.interval_s * 1000),
            args.inventory_penalty,
            preds,
        )

    try:
        train_env = env(first, split)
    except ValueError as e:
        raise UserError(str(e)) from None
    model, wall = ppo.train(train_env, args.timesteps, args.seed)
    path = ppo.save(model, args.out)
    policy = ppo.PpoGammaPolicy(path)
    print(f"PPO: {args.timesteps} decisions in {wall:.1f} s; saved {path}")
    print(f"test: the last {(last - split) / 60000:.1f} min (trained on the first {(split - first) / 60000:.1f} min)")
    for name, act in (("fixed γ", ppo.fixed(1.0)), ("PPO γ", policy.action)):
        ep = ppo.run_episode(env(split, last), act)
        print(f"  {name:<8} {ep.to_dict()}")
    sys.stdout.flush()
    return 0
