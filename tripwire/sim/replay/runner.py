"""In-process replay: archive files (plus optional synthetic trades and contexts) through the
market pipeline, ending in a summary of what came in, what was refused and what fired."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripwire.config.settings import Settings
from tripwire.contracts.events import TriggerFired
from tripwire.contracts.features import BAR_CLOSE, CATALOG, CTX, TRADES
from tripwire.hotpath.pipeline import MarketPipeline
from tripwire.hotpath.triggers.engine import RuleSet
from tripwire.sim.replay.asset_ctxs import read_asset_ctxs
from tripwire.sim.replay.folders import scan
from tripwire.sim.replay.node_trades import read_node_trades
from tripwire.sim.replay.recordings import ArchiveError, exchange_time_ms, read_messages, read_timed
from tripwire.sim.replay.synthetic import SyntheticMarket

COVERAGE_SAMPLE_EVERY = 50  # messages between feature-presence samples


@dataclass
class ReplaySummary:
    files: list[str]
    messages: dict[str, int]
    faults: dict[str, dict[str, object]]
    triggers_by_rule: dict[str, int]
    triggers: list[dict[str, Any]]
    feature_coverage: dict[str, float]
    untradable: dict[str, int]
    suppressed: dict[str, int]
    exchange_span_s: float
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    # coin → channel → "file" | "asset_ctxs csv" | "synthetic"; and what the generator stood in for
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    synthetic: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "messages": self.messages,
            "messages_total": self.total_messages,
            "faults": self.faults,
            "faults_total": sum(int(v["count"]) for v in self.faults.values()),
            "triggers_by_rule": self.triggers_by_rule,
            "triggers_total": sum(self.triggers_by_rule.values()),
            "triggers": self.triggers,
            "feature_coverage": self.feature_coverage,
            "untradable": self.untradable,
            "suppressed": self.suppressed,
            "exchange_span_s": round(self.exchange_span_s, 3),
            "wall_s": round(self.wall_s, 3),
            "speed_x_realtime": round(self.exchange_span_s / self.wall_s, 1) if self.wall_s else None,
            "sources": self.sources,
            "synthetic": self.synthetic,
        }


class _Counted:
    """Counts the lines read from one file, so progress is measured in file lines."""

    def __init__(self, it: Iterable[Any]):
        self.n = 0
        self._it = it

    def __iter__(self) -> Iterator[Any]:
        for m in self._it:
            self.n += 1
            yield m


# What synthetic data stands in for: a channel, and the features it feeds (bars are built from trades).
SYNTHETIC_CHANNELS = ("trades", "activeAssetCtx")
_KINDS_OF_CHANNEL = {"trades": (TRADES, BAR_CLOSE), "activeAssetCtx": (CTX,)}


def features_fed_by(channels: Iterable[str]) -> list[str]:
    """The catalogue's features that depend on any of ``channels`` (sorted)."""
    kinds = {k for ch in channels for k in _KINDS_OF_CHANNEL.get(ch, ())}
    return sorted(name for name, spec in CATALOG.items() if kinds.intersection(spec.updated_on))


@dataclass
class StreamSources:
    """Where each coin's channels came from: ``"file"``, ``"asset_ctxs csv"`` or ``"synthetic"``."""

    by_coin: dict[str, dict[str, str]] = field(default_factory=dict)

    def set(self, coin: str, channel: str, source: str) -> None:
        self.by_coin.setdefault(coin, {})[channel] = source

    def synthetic(self) -> dict[str, dict[str, list[str]]]:
        """Per coin with anything generated: the generated channels and the features they fed."""
        out = {}
        for coin, chans in sorted(self.by_coin.items()):
            gen = sorted(ch for ch, src in chans.items() if src == "synthetic")
            if gen:
                out[coin] = {"channels": gen, "features": features_fed_by(gen)}
        return out


def _timed(messages: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    """Messages keyed by exchange time, a message without one taking the previous one's."""
    last = 0
    for m in messages:
        last = exchange_time_ms(m) or last
        yield last, m


def _only_synthetic(timed: Iterable[tuple[int, Any]], coin: str, seed: int, channels: set[str]):
    """The coin's timed stream with synthetic messages of ``channels`` merged in before each book."""
    market = SyntheticMarket(coin, seed)
    for t, msg in timed:
        if type(msg) is dict and msg.get("channel") == "l2Book":
            for ts, m in market.on_book_timed(msg):
                if m.get("channel") in channels:
                    yield ts, m
        yield t, msg


def _channels_by_coin(path: Path) -> dict[str, set[str]]:
    """Which channels each coin has in a loose file (read once, before replaying it)."""
    out: dict[str, set[str]] = {}
    for _, msg in read_timed(path):
        if type(msg) is not dict:
            continue
        data = msg.get("data")
        if type(data) is list:
            data = data[0] if data else None
        coin = data.get("coin") if type(data) is dict else None
        if type(coin) is str and type(msg.get("channel")) is str:
            out.setdefault(coin, set()).add(msg["channel"])
    return out


def _file_stream(path: Path, synthetic: bool, seed: int, counters: list[_Counted], sources: StreamSources):
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file or folder")
    counted = _Counted(read_timed(path))
    counters.append(counted)
    if not synthetic:
        return iter(counted)
    channels = _channels_by_coin(path)
    stream: Iterable[tuple[int, Any]] = counted
    for coin, have in sorted(channels.items()):
        for ch in have:
            sources.set(coin, ch, "file")
        missing = set(SYNTHETIC_CHANNELS) - have
        if "l2Book" in have and missing:
            for ch in missing:
                sources.set(coin, ch, "synthetic")
            stream = _coin_synthetic(stream, coin, seed, missing)
    return iter(stream)


def _coin_synthetic(stream: Iterable[tuple[int, Any]], coin: str, seed: int, channels: set[str]):
    """Synthetic ``channels`` for one coin inside a stream that may hold several coins."""
    market = SyntheticMarket(coin, seed)
    for t, msg in stream:
        if type(msg) is dict and msg.get("channel") == "l2Book":
            data = msg.get("data")
            if type(data) is dict and data.get("coin") == coin:
                for ts, m in market.on_book_timed(msg):
                    if m.get("channel") in channels:
                        yield ts, m
        yield t, msg


def _folder_streams(
    folder: Path,
    synthetic: bool,
    seed: int,
    counters: list[_Counted],
    coins: set[str] | None,
    sources: StreamSources,
) -> list[Iterator[tuple[int, Any]]]:
    contents = scan(folder)
    if not contents.streams and not contents.asset_ctxs and not contents.loose and not contents.node:
        raise ArchiveError(f"{folder}: no replayable files (see docs/DATA.md for the layouts read)")
    streams: list[Iterator[tuple[int, Any]]] = []
    present = {c for _, c in contents.streams if coins is None or c in coins}
    ctx_coins = coins if coins is not None else (present or None)
    csv_ctx: dict[str, list[tuple[int, Any]]] = {}
    for path in contents.asset_ctxs:
        for t, msg in read_asset_ctxs(path, ctx_coins):
            csv_ctx.setdefault(msg["data"]["coin"], []).append((t, msg))
    node_kinds = sorted({kind for kind, _ in contents.node})
    if contents.node:  # every coin's trades in one stream, in hour order (the files hold all coins)
        node_coins = coins if coins is not None else (present or None)
        streams.append(
            itertools.chain.from_iterable(read_node_trades(p, kind, node_coins) for kind, p in contents.node)
        )
    for coin in sorted(present | set(csv_ctx)):
        per_coin: dict[str, Iterator[tuple[int, Any]]] = {}
        for channel in sorted(contents.channels_of(coin)):
            counted = _Counted(itertools.chain.from_iterable(read_timed(p) for p in contents.streams[(channel, coin)]))
            counters.append(counted)
            per_coin[channel] = iter(counted)
            sources.set(coin, channel, "file")
        covered = set(per_coin)
        if "trades" not in covered and node_kinds:  # the node stream above carries them
            covered.add("trades")
            sources.set(coin, "trades", "+".join(node_kinds))
        if "activeAssetCtx" not in covered and coin in csv_ctx:
            per_coin["activeAssetCtx"] = iter(sorted(csv_ctx[coin], key=lambda tm: tm[0]))
            covered.add("activeAssetCtx")
            sources.set(coin, "activeAssetCtx", "asset_ctxs csv")
        missing = {ch for ch in SYNTHETIC_CHANNELS if ch not in covered}
        if synthetic and missing and "l2Book" in per_coin:
            per_coin["l2Book"] = _only_synthetic(per_coin["l2Book"], coin, seed, missing)
            for ch in missing:
                sources.set(coin, ch, "synthetic")
        streams += per_coin.values()
    for path in contents.loose:
        streams.append(_file_stream(path, synthetic, seed, counters, sources))
    return streams


def replay_stream(
    files: Sequence[str | Path],
    synthetic: bool,
    seed: int,
    counters: list[_Counted] | None = None,
    *,
    coins: Iterable[str] | None = None,
    sources: StreamSources | None = None,
) -> Iterator[object]:
    """All files' messages merged in time order, with synthetic trades/contexts where a coin has none.

    A path may be a file (archive ``.lz4`` or NDJSON) or a folder (the archive's or
    ``tripwire data record``'s tree, asset-context CSVs included: :mod:`tripwire.sim.replay.folders`).
    With ``synthetic``, a coin whose data has books but no ``trades`` (or no contexts, from a file or
    a CSV) gets the seeded generator's for what it lacks, and only that; ``sources`` records, per
    coin and channel, where the messages came from. ``coins`` limits folders to those coins.
    """
    counters = counters if counters is not None else []
    sources = sources if sources is not None else StreamSources()
    wanted = set(coins) if coins else None
    streams: list[Iterator[tuple[int, Any]]] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            streams += _folder_streams(p, synthetic, seed, counters, wanted, sources)
        else:
            streams.append(_file_stream(p, synthetic, seed, counters, sources))
    if len(streams) == 1:
        return (m for _, m in streams[0])
    return (m for _, m in heapq.merge(*streams, key=lambda tm: tm[0]))


def count_messages(files: Sequence[str | Path]) -> int:
    """Lines in the files (a folder: in its message files), what replay progress is measured in."""
    total = 0
    for f in files:
        p = Path(f)
        if p.is_dir():
            contents = scan(p)
            paths = [x for ps in contents.streams.values() for x in ps] + contents.loose
        else:
            paths = [p]
        total += sum(1 for x in paths for _ in read_messages(x))
    return total


def replay(
    files: Sequence[str | Path],
    settings: Settings,
    rules: RuleSet,
    *,
    synthetic: bool = True,
    seed: int = 7,
    on_fired: Callable[[TriggerFired], None] | None = None,
    progress: Callable[[int], None] | None = None,
    coins: Iterable[str] | None = None,
) -> ReplaySummary:
    """Replay files through a fresh pipeline and summarise.

    With no execution or analysis attached, nothing closes a fired trigger; it stays active
    until ``active_ttl_s`` (from triggers.yaml) passes, exactly as the concurrency cap would
    see it live. ``progress`` is called now and then with the number of file lines read so far
    (compare with :func:`count_messages`).
    """
    counters: list[_Counted] = []
    sources = StreamSources()
    stream = replay_stream(files, synthetic, seed, counters, coins=coins, sources=sources)
    # Several coins at once: the coins the data holds (known before reading for folders, and for
    # files scanned for synthetic data) are traded on, besides the configured ones.
    extra = [c for c in sources.by_coin if c not in settings.coins]
    if extra:
        settings = settings.model_copy(update={"coins": (*settings.coins, *extra)})
    pipe = MarketPipeline(settings, rules)
    clock = time.monotonic_ns
    fired_all: list[TriggerFired] = []
    samples = 0
    present: dict[str, int] = {}
    first_ms = last_ms = 0
    t0 = time.perf_counter()
    for i, msg in enumerate(stream):
        fired = pipe.on_message(msg, clock())
        if fired:
            fired_all.extend(fired)
            if on_fired:
                for ev in fired:
                    on_fired(ev)
        if i % COVERAGE_SAMPLE_EVERY == 0:
            for st in pipe.coins.values():
                samples += 1
                for name in st.features.values:
                    present[name] = present.get(name, 0) + 1
                if st.last_exch_ms:
                    first_ms = first_ms or st.last_exch_ms
                    last_ms = max(last_ms, st.last_exch_ms)
            if progress:
                progress(sum(c.n for c in counters))
    wall = time.perf_counter() - t0
    for st in pipe.coins.values():
        last_ms = max(last_ms, st.last_exch_ms)
    by_rule: dict[str, int] = {}
    for ev in fired_all:
        by_rule[ev.rule] = by_rule.get(ev.rule, 0) + 1
    coverage = {name: round(present.get(name, 0) / samples, 3) if samples else 0.0 for name in CATALOG}
    stats = pipe.triggers.stats
    return ReplaySummary(
        files=[str(f) for f in files],
        messages=dict(sorted(pipe.messages.items())),
        faults=pipe.decoder.faults.report(),
        triggers_by_rule=dict(sorted(by_rule.items())),
        triggers=[ev.to_dict() for ev in fired_all],
        feature_coverage=coverage,
        untradable=dict(pipe.untradable),
        suppressed={"cooldown": stats.suppressed_cooldown, "cap": stats.suppressed_cap},
        exchange_span_s=(last_ms - first_ms) / 1000.0,
        wall_s=wall,
        sources=sources.by_coin,
        synthetic=sources.synthetic(),
    )
