"""``tripwire sim``: a local Hyperliquid on loopback, for demos, tests and paper trading.

    tripwire sim --host 127.0.0.1 --port 8099 \\
        --replay data/archive/BTC.lz4 --speed 1 --synthetic 7 \\
        --fund 0xabc…=10000 --auto-fund 10000 --accounts-file sim-accounts.json

Point the SDK at it with ``base_url="http://127.0.0.1:8099"`` (it then signs as testnet, which
is what the simulator verifies).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from decimal import Decimal, InvalidOperation

from tripwire.commands.common import add_fee_arguments
from tripwire.errors import UserError
from tripwire.sim.exchange.engine import Fees, SimEngine
from tripwire.sim.exchange.exchange import ExchangeApi
from tripwire.sim.exchange.markets import DEFAULT_UNIVERSE, Universe
from tripwire.sim.exchange.population import Population, PopulationError, PopulationSpec
from tripwire.sim.exchange.replay import ReplaySpec
from tripwire.sim.exchange.server import SimServer, start
from tripwire.sim.exchange.sessions import SessionFileError, load_session, save_session
from tripwire.sim.replay.multicoin import base_coin, plan_copies, sz_decimals_of
from tripwire.sim.replay.recordings import read_messages

log = logging.getLogger("tripwire.sim")


def _usdc(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USDC") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USDC")
    return value


def _fund(text: str) -> tuple[str, Decimal]:
    addr, sep, amount = text.partition("=")
    if not sep or not addr.startswith("0x") or len(addr) != 42:
        raise argparse.ArgumentTypeError(f"--fund {text!r}: expected 0xADDRESS=USDC, e.g. 0xabc…=10000")
    return addr.lower(), _usdc(amount)


def _market(text: str) -> tuple[str, int, int]:
    try:
        return Universe.parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _mix(text: str) -> tuple[tuple[str, float], ...]:
    try:
        mix = PopulationSpec.parse_mix(text)
        PopulationSpec(0, mix=mix)  # checks the names and weights
        return mix
    except PopulationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    """A parser of ``tripwire sim``'s options alone (tests build servers from argument lists)."""
    p = argparse.ArgumentParser(
        prog="tripwire sim", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``tripwire sim`` (shared by this module's own parser and the CLI)."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8099, help="port for /info, /exchange and /ws (default 8099)")
    p.add_argument(
        "--replay",
        nargs="+",
        metavar="FILE",
        default=[],
        help="archive .lz4 or NDJSON files of WS messages, or folders of them (docs/DATA.md), replayed in time order",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="replay speed: 1 real time, 10 ten times faster, 0 as fast as possible"
    )
    p.add_argument(
        "--synthetic",
        type=int,
        metavar="SEED",
        default=None,
        help="merge seeded synthetic trades and asset contexts into the replay",
    )
    p.add_argument("--loop", action="store_true", help="restart the replay when it ends")
    p.add_argument(
        "--coins",
        nargs="+",
        metavar="COIN",
        default=[],
        help="replay the recording as these coins: its own coin as recorded, every other one a "
        "scaled, time-rotated copy of it (docs/REPLAY.md); coins the universe lacks are added to it",
    )
    p.add_argument(
        "--wait-for-subscriber",
        action="store_true",
        help="start the replay when the first client subscribes to l2Book or trades",
    )
    p.add_argument(
        "--keep-time",
        action="store_true",
        help="keep the recorded exchange times instead of rebasing the replay to now",
    )
    p.add_argument(
        "--fund",
        type=_fund,
        action="append",
        default=[],
        metavar="ADDRESS=USDC",
        help="deposit USDC to an account at start (repeatable)",
    )
    p.add_argument(
        "--auto-fund",
        type=_usdc,
        default=None,
        metavar="USDC",
        help="fund every new signer with this much, like a testnet faucet",
    )
    p.add_argument(
        "--accounts-file",
        default=None,
        metavar="PATH",
        help="JSON file to load accounts from at start and save them to at exit",
    )
    p.add_argument("--session", default="default", help="session name inside the accounts file")
    p.add_argument(
        "--market",
        type=_market,
        action="append",
        default=[],
        metavar="NAME:SZ_DECIMALS:MAX_LEV",
        help="replace the default universe (BTC:5:50 ETH:4:50 SOL:2:20); repeatable",
    )
    p.add_argument(
        "--traders",
        type=int,
        default=0,
        metavar="N",
        help="simulated traders that trade on the replay and fill GET /leaderboard (default 0)",
    )
    p.add_argument("--traders-seed", type=int, default=7, metavar="SEED", help="their seed (default 7)")
    p.add_argument(
        "--traders-mix",
        type=_mix,
        default=PopulationSpec.mix,
        metavar="STRATEGY=WEIGHT,…",
        help="strategy weights (default momentum=1,mean_reversion=1,random=1)",
    )
    add_fee_arguments(p, Fees.taker, Fees.maker)


def _derived_markets(
    files: list[str], coins: tuple[str, ...], specs: list[tuple[str, int, int]]
) -> list[tuple[str, int, int]]:
    """Markets for the ``--coins`` the universe lacks, sized like the copies that will trade
    them (szDecimals = the recording's coin's minus the copy's price exponent)."""
    if not files:
        raise UserError("--coins needs --replay: the coins are copies of a recording")
    own = base_coin(read_messages(files[0]))
    known = {name: (szd, lev) for name, szd, lev in specs}
    if own is None or own not in known:
        raise UserError(
            f"--coins: the recording's coin {own!r} is not in the universe "
            f"({', '.join(known)}); add it with --market {own}:SZ_DECIMALS:MAX_LEVERAGE"
        )
    base_szd, base_lev = known[own]
    names = [own, *(c for c in coins if c != own)]
    copies = plan_copies(names, 0, {n: v[0] for n, v in known.items()})
    return [(c.coin, sz_decimals_of(c, base_szd), base_lev) for c in copies if c.coin not in known]


def build(args: argparse.Namespace) -> SimServer:
    """The server the arguments describe (accounts loaded and funded, nothing started)."""
    specs = list(args.market or DEFAULT_UNIVERSE)
    coins = tuple(dict.fromkeys(args.coins))
    if coins:
        specs += _derived_markets(args.replay, coins, specs)
    universe = Universe(specs)
    engine = SimEngine(universe, Fees(taker=args.taker_fee, maker=args.maker_fee))
    if args.accounts_file:
        engine.accounts.update(load_session(args.accounts_file, args.session))
    for addr, usdc in args.fund:
        engine.fund(addr, usdc)
    api = ExchangeApi(engine, auto_fund_usdc=args.auto_fund)
    _ = api.recover  # fail at start, not on the first order, if the signing module is missing
    replay = (
        ReplaySpec(
            args.replay,
            args.speed,
            args.synthetic,
            not args.keep_time,
            args.loop,
            coins=coins,
            sz_decimals={m.name: m.sz_decimals for m in universe.markets},
        )
        if args.replay
        else None
    )
    session = (args.accounts_file, args.session) if args.accounts_file else None
    if args.traders < 0:
        raise PopulationError(f"--traders {args.traders}: a count is 0 or more")
    population = (
        Population(engine, PopulationSpec(args.traders, args.traders_seed, mix=args.traders_mix))
        if args.traders
        else None
    )
    return SimServer(
        engine, api, replay, replay_on_subscribe=args.wait_for_subscriber, population=population, session=session
    )


async def _serve(args: argparse.Namespace, server: SimServer) -> None:
    runner, port = await start(server, args.host, args.port)
    print(f"tripwire sim listening on http://{args.host}:{port} (ws://{args.host}:{port}/ws)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server = build(args)
    except (SessionFileError, PopulationError, ImportError) as exc:
        raise UserError(str(exc)) from None
    try:
        asyncio.run(_serve(args, server))
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    finally:
        if args.accounts_file:
            save_session(args.accounts_file, args.session, server.engine.accounts)
            print(
                f"tripwire sim: saved {len(server.engine.accounts)} accounts to {args.accounts_file} "
                f"(session {args.session!r})",
                flush=True,
            )
    return 0
