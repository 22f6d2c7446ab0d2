"""Finding replayable files in a folder: the archive's tree, ``tripwire data record``'s, or loose files.

Recognised, anywhere under the folder:

- ``YYYYMMDD/H/<channel>/<COIN>.lz4`` (also ``<COIN>.<n>.lz4`` when a recorder restarted within an
  hour): what ``tripwire data record`` writes, and the archive's ``market_data/YYYYMMDD/H/l2Book/
  COIN.lz4`` (the ``market_data/`` prefix is just another folder level);
- ``asset_ctxs/YYYYMMDD.csv.lz4`` (or ``.csv``): the archive's daily asset contexts, all coins;
- ``node_trades|node_fills|node_fills_by_block/hourly/YYYYMMDD/H.lz4``: the node's trades or
  fills, all coins (read as ``trades`` messages: :mod:`tripwire.sim.replay.node_trades`);
- any other ``.lz4``/``.ndjson``/``.jsonl`` file: one stream of its own (a loose capture).

``.part`` files (downloads or recordings still in progress or cut) and the recorder's
``gaps.ndjson`` sidecar are left out. Each stream's
files are returned in time order (day, then hour, then restart number), so chaining them gives the
stream in order; :func:`tripwire.sim.replay.runner.replay_stream` merges the streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tripwire.sim.replay.node_trades import NODE_FILE

_HOURLY = re.compile(r"(?:^|/)(\d{8})/(\d{1,2})/([A-Za-z][A-Za-z0-9]*)/([^/]+?)(?:\.(\d+))?\.lz4$")
_CTX = re.compile(r"(?:^|/)asset_ctxs/(\d{8})\.csv(?:\.lz4)?$")
_LOOSE_SUFFIXES = (".lz4", ".ndjson", ".jsonl")
GAPS_FILE = "gaps.ndjson"  # `tripwire data record`'s sidecar: when it was not listening, not messages


@dataclass
class FolderContents:
    """What a folder holds: message streams by (channel, coin), asset-context CSVs, loose files."""

    streams: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    asset_ctxs: list[Path] = field(default_factory=list)
    node: list[tuple[str, Path]] = field(default_factory=list)  # (kind, file), in hour order
    loose: list[Path] = field(default_factory=list)

    @property
    def coins(self) -> list[str]:
        return sorted({coin for _, coin in self.streams})

    def channels_of(self, coin: str) -> set[str]:
        return {ch for ch, c in self.streams if c == coin}


def scan(folder: str | Path) -> FolderContents:
    """Every replayable file under ``folder``, grouped and ordered (see the module doc)."""
    root = Path(folder)
    out = FolderContents()
    keyed: dict[tuple[str, str], list[tuple[tuple[str, int, int], Path]]] = {}
    ctxs: list[tuple[str, Path]] = []
    node: list[tuple[tuple[str, int, str], Path]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".part") or path.name == GAPS_FILE:
            continue
        rel = path.relative_to(root).as_posix()
        m = _HOURLY.search(rel)
        if m:
            day, hour, channel, coin, n = m.groups()
            keyed.setdefault((channel, coin), []).append(((day, int(hour), int(n or 0)), path))
            continue
        c = _CTX.search(rel)
        nd = NODE_FILE.search(rel)
        if c:
            ctxs.append((c.group(1), path))
        elif nd:
            node.append(((nd.group(2), int(nd.group(3)), nd.group(1)), path))
        elif path.suffix in _LOOSE_SUFFIXES:
            out.loose.append(path)
    out.streams = {k: [p for _, p in sorted(v)] for k, v in sorted(keyed.items())}
    out.asset_ctxs = [p for _, p in sorted(ctxs)]
    out.node = [(key[2], p) for key, p in sorted(node)]
    return out
