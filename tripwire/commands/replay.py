"""``tripwire replay``: replay archive files through the hot path and summarise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from tripwire.commands.common import add_config_arguments, load
from tripwire.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="archive files (.lz4), NDJSON in the same line format, or folders of them "
        "(the archive's tree or `tripwire data record`'s, asset_ctxs CSVs included; "
        "default: the bundled real BTC hour)",
    )
    p.add_argument("--coins", nargs="+", metavar="COIN", help="replay only these coins of the folders given")
    p.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout (no progress bar)"
    )
    p.add_argument(
        "--no-synthetic", action="store_true", help="replay only what the files hold (no synthetic trades/contexts)"
    )
    p.add_argument("--seed", type=int, default=None, help="synthetic generator seed")
    p.add_argument("--show-triggers", action="store_true", help="print each trigger as it fires")
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    from tripwire.config.settings import resolve_path
    from tripwire.sim.replay.recordings import ArchiveError
    from tripwire.sim.replay.runner import count_messages, replay

    settings, rules = load(args)
    files = args.files or [str(resolve_path(f)) for f in settings.replay.files]
    seed = settings.replay.seed if args.seed is None else args.seed
    synthetic = settings.replay.synthetic and not args.no_synthetic
    try:
        bar = None if args.json else _progress_bar(count_messages(files))
        summary = replay(
            files,
            settings,
            rules,
            synthetic=synthetic,
            seed=seed,
            on_fired=_print_fired if args.show_triggers else None,
            progress=bar.update_to if bar else None,
            coins=args.coins,
        )
    except ArchiveError as e:
        raise UserError(str(e)) from None
    if bar:
        bar.close()
    out = summary.to_dict()
    if args.json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_summary(out)
    return 0


class _Bar:
    """A tqdm bar over the files' own lines; synthetic messages ride along uncounted."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self._t = tqdm(total=total, unit="line", file=sys.stderr, desc="replay", leave=False)

    def update_to(self, lines_read: int) -> None:
        self._t.update(lines_read - self._t.n)

    def close(self) -> None:
        self._t.update(self._t.total - self._t.n)
        self._t.close()


def _progress_bar(total: int) -> _Bar:
    return _Bar(total)


def _print_fired(ev: Any) -> None:
    f = ev.features
    print(f"  fired {ev.rule:<28} {ev.coin:<5} side={ev.side:<5} mid={f.get('mid', 0):,.1f} id={ev.trigger_id}")


def print_summary(s: dict[str, Any]) -> None:
    speed = s["speed_x_realtime"]
    print(
        f"replayed {len(s['files'])} file(s): {s['messages_total']:,} messages in "
        f"{s['wall_s']:.2f} s, {s['exchange_span_s']:,.0f} s of exchange time"
        + (f" ({speed:,.0f}x real time)" if speed else "")
    )
    print("messages: " + ", ".join(f"{k} {v:,}" for k, v in s["messages"].items()))
    if s["faults"]:
        print("faults: " + ", ".join(f"{k} {v['count']}" for k, v in s["faults"].items()))
    else:
        print("faults: none")
    if s["untradable"]:
        print("not traded on (book): " + ", ".join(f"{k} {v}" for k, v in s["untradable"].items()))
    print(
        f"triggers fired: {s['triggers_total']} (suppressed by cooldown "
        f"{s['suppressed']['cooldown']}, by the concurrency cap {s['suppressed']['cap']})"
    )
    for rule, n in s["triggers_by_rule"].items():
        print(f"  {rule:<30} {n}")
    for coin, gen in s.get("synthetic", {}).items():
        print(f"synthetic for {coin} (the data has no {' or '.join(gen['channels'])}): " + ", ".join(gen["features"]))
    cov = s["feature_coverage"]
    warm = sorted(k for k, v in cov.items() if v > 0)
    cold = sorted(k for k, v in cov.items() if v == 0)
    print(f"feature coverage: {len(warm)} of {len(cov)} features warmed up")
    for k in warm:
        print(f"  {k:<30} {cov[k]:6.1%}")
    if cold:
        print("  never present: " + ", ".join(cold))
