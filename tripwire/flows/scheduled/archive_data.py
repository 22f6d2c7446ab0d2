"""``archive_data``: tiered retention. What is older than a collection's retention is exported
to compressed Parquet and only then deleted from the store.

Layout: ``<archive_dir>/<collection>/YYYY-MM/part-<first_ts>-<last_ts>.parquet`` (UTC month of
``ts``; zstd). Each part is written to a ``.tmp`` file, read back and checked (rows and ids)
before anything is deleted, and deleted by exactly the ids it holds.

Re-runs are safe. Before a part is renamed into place, ``<collection>/pending.json`` records it;
it is removed once the part's ids are deleted from the store. A run that finds a journal
finishes that part first (renames the verified ``.tmp`` if the crash came before the rename,
deletes the part's ids — a no-op if that already happened) and only then exports more, so a
crash at any point neither loses a document nor archives it twice. A lock file keeps two runs on
one archive directory from interleaving.

``archive(store, cfg, now_ms)`` is the plain function (tests, scripts); the Prefect flow
``archive_data`` wraps each collection in a task with retries and a timeout and publishes a
markdown artefact of what it archived.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tripwire.flows.sections import validate_section
from tripwire.flows.store.base import COLLECTIONS, Store
from tripwire.flows.store.parquet import ExportError, verify, write_verified

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
JOURNAL = "pending.json"
LOCK = ".lock"
DELETE_CHUNK = 5_000  # ids per delete_many

DEFAULT_RETENTION_DAYS: dict[str, float | None] = {
    "candles_1m": 7,
    "candles_5m": 30,
    "orderbook_snapshots": 7,
    "trades": 90,
    "liquidations": 90,
    "asset_ctx": 30,
}


class ArchiveError(Exception):
    """Archival stopped before deleting anything it could not prove was archived."""


class ArchiveConfig(BaseModel):
    """``flows: {archive: …}`` in config/settings.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    archive_dir: Path = Field(Path("data/archive"), description="where the Parquet parts go")
    retention_days: dict[str, float | None] = Field(
        default_factory=lambda: dict(DEFAULT_RETENTION_DAYS),
        description="collection → days kept in the store; merged over the defaults; null keeps "
        "a collection forever; collections not named are kept",
    )
    batch_rows: int = Field(10_000, ge=1, le=1_000_000, description="documents read, exported and deleted at a time")
    compression_level: int = Field(3, ge=1, le=22, description="zstd level")

    @field_validator("retention_days", mode="before")
    @classmethod
    def _merge_defaults(cls, v: Any) -> Any:
        return {**DEFAULT_RETENTION_DAYS, **v} if isinstance(v, dict) else v

    @field_validator("retention_days")
    @classmethod
    def _known_collections(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        for name, days in v.items():
            if name not in COLLECTIONS:
                close = difflib.get_close_matches(name, COLLECTIONS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown collection {name!r}{hint}")
            if days is not None and days <= 0:
                raise ValueError(f"{name}: days must be positive (or null to keep forever), got {days}")
        return v

    def expiring(self) -> list[tuple[str, float]]:
        return [(c, d) for c, d in self.retention_days.items() if d is not None]


def archive_config(settings: Any, source: str | Path | None = None) -> ArchiveConfig:
    """``settings.flows["archive"]`` validated; ConfigError names the file, the key
    (``flows.archive.retention_days``) and the reason."""
    return validate_section(ArchiveConfig, settings.flows.get("archive"), "flows.archive", source)


@dataclass
class CollectionReport:
    collection: str
    retention_days: float
    cutoff_ts: int  # documents with ts below this were due
    rows: int = 0  # archived and deleted by this run
    files: list[str] = field(default_factory=list)
    recovered: int = 0  # rows of an interrupted run's part finished by this one


@dataclass
class ArchiveReport:
    now_ms: int
    archive_dir: str
    collections: list[CollectionReport] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(c.rows + c.recovered for c in self.collections)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        when = datetime.fromtimestamp(self.now_ms / 1000, UTC)
        when = when.isoformat(timespec="seconds")
        lines = [
            f"# Archive run at {when}",
            "",
            f"Archive: `{self.archive_dir}` — {self.rows:,} rows archived.",
            "",
            "| collection | kept (days) | archived before (UTC) | rows | files | recovered |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for c in self.collections:
            cutoff = datetime.fromtimestamp(c.cutoff_ts / 1000, UTC)
            lines.append(
                f"| {c.collection} | {c.retention_days:g} | {cutoff:%Y-%m-%d %H:%M} | "
                f"{c.rows:,} | {len(c.files)} | {c.recovered:,} |"
            )
        return "\n".join(lines) + "\n"


# -- the work -------------------------------------------------------------------------------------


def _month(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m")


def _write_journal(path: Path, entry: dict[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(entry))
    os.replace(tmp, path)


def _delete_ids(store: Store, collection: str, ids: list[str]) -> int:
    deleted = 0
    for i in range(0, len(ids), DELETE_CHUNK):
        deleted += store.delete_many(collection, {"_id": {"$in": ids[i : i + DELETE_CHUNK]}})
    return deleted


def _recover(store: Store, coll_dir: Path, collection: str) -> int:
    """Finish the part an interrupted run left in the journal; rows it deleted now."""
    journal = coll_dir / JOURNAL
    if not journal.exists():
        return 0
    entry = orjson.loads(journal.read_bytes())
    part, tmp = coll_dir / entry["part"], coll_dir / entry["tmp"]
    if not part.exists():
        if not tmp.exists():  # crashed before the rename and lost the .tmp: nothing deleted
            journal.unlink()
            return 0
        os.replace(tmp, part)  # it was verified before the journal was written
    try:
        ids = verify(part)
    except ExportError as e:
        raise ArchiveError(
            f"{journal} names {part}, which no longer reads back ({e}); nothing "
            "was deleted for it after it failed: check the file, then remove the "
            "journal to export those documents again"
        ) from None
    deleted = _delete_ids(store, collection, ids)
    journal.unlink()
    log.info("%s: finished the interrupted export of %s (%d rows deleted now)", collection, part, deleted)
    return deleted


def _part_path(coll_dir: Path, month: str, first: int, last: int) -> Path:
    path = coll_dir / month / f"part-{first}-{last}.parquet"
    n = 1
    while path.exists():  # another chunk with the very same time range (equal timestamps)
        path = coll_dir / month / f"part-{first}-{last}-{n}.parquet"
        n += 1
    return path


def archive_collection(store: Store, cfg: ArchiveConfig, collection: str, now_ms: int) -> CollectionReport:
    """Export and delete what in ``collection`` is older than its retention."""
    days = cfg.retention_days[collection]
    if days is None:
        raise ArchiveError(f"{collection} is kept forever (retention_days null)")
    cutoff = now_ms - int(days * DAY_MS)
    report = CollectionReport(collection, days, cutoff)
    coll_dir = cfg.archive_dir / collection
    report.recovered = _recover(store, coll_dir, collection)
    for stale in coll_dir.glob("*/*.parquet.tmp"):  # a crash before its journal: never used
        stale.unlink()
    journal = coll_dir / JOURNAL
    while True:
        docs = store.find(collection, {"ts": {"$lt": cutoff}}, sort=[("ts", 1), ("_id", 1)], limit=cfg.batch_rows)
        if not docs:
            break
        for month, group in groupby(docs, key=lambda d: _month(d["ts"])):
            part_docs = list(group)
            ids = [d["_id"] for d in part_docs]
            part = _part_path(coll_dir, month, part_docs[0]["ts"], part_docs[-1]["ts"])
            tmp = part.with_name(part.name + ".tmp")
            write_verified(collection, part_docs, tmp, cfg.compression_level)
            _write_journal(journal, {"part": str(part.relative_to(coll_dir)), "tmp": str(tmp.relative_to(coll_dir))})
            os.replace(tmp, part)
            deleted = _delete_ids(store, collection, ids)
            if deleted != len(ids):
                left = store.count(collection, {"_id": {"$in": ids}})
                if left:
                    raise ArchiveError(
                        f"{collection}: {left} of {len(ids)} archived documents "
                        f"are still in the store after deleting them ({part})"
                    )
                log.warning(
                    "%s: %d of %d archived ids were already gone from the store",
                    collection,
                    len(ids) - deleted,
                    len(ids),
                )
            journal.unlink()
            report.rows += len(ids)
            report.files.append(str(part))
            log.info("%s: archived %d rows to %s", collection, len(ids), part)
    return report


@contextlib.contextmanager
def archive_lock(archive_dir: Path) -> Iterator[None]:
    """One archival run per archive directory at a time (this host)."""
    archive_dir.mkdir(parents=True, exist_ok=True)
    with open(archive_dir / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveError(f"another archival run holds {archive_dir / LOCK}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


CollectionRunner = Callable[[Store, ArchiveConfig, str, int], CollectionReport]


def archive(
    store: Store, cfg: ArchiveConfig, now_ms: int, *, run_collection: CollectionRunner = archive_collection
) -> ArchiveReport:
    """Archive every collection with a retention; ``run_collection`` lets the flow run each as
    a Prefect task."""
    report = ArchiveReport(now_ms, str(cfg.archive_dir))
    with archive_lock(cfg.archive_dir):
        for collection, _days in cfg.expiring():
            report.collections.append(run_collection(store, cfg, collection, now_ms))
    return report


# -- Prefect ---------------------------------------------------------------------------------------


@task(
    name="archive-collection",
    retries=2,
    retry_delay_seconds=30,
    timeout_seconds=3600,
    cache_policy=NO_CACHE,
    task_run_name="archive {collection}",
)
def archive_collection_task(store: Store, cfg: ArchiveConfig, collection: str, now_ms: int) -> CollectionReport:
    """One collection; a retry after a failure part-way resumes safely (see the journal)."""
    return archive_collection(store, cfg, collection, now_ms)


@flow(name="archive_data", persist_result=False, timeout_seconds=6 * 3600)
def archive_data(
    settings_file: str | None = None,
    store_uri: str | None = None,
    archive_settings: dict[str, Any] | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Export what outlived its retention to Parquet, then delete it from the store.

    ``settings_file``: default ``$TRIPWIRE_CONFIG`` or config/settings.yaml; ``store_uri``:
    default its ``store.uri`` (``MONGODB_URI`` wins when set); ``archive_settings``: the
    ``flows.archive`` section, default from the settings file; ``now_ms``: default now.
    """
    from tripwire.config.settings import load_settings, settings_path
    from tripwire.flows.store import open_store, store_from_settings

    settings = load_settings(settings_file)
    if archive_settings is not None:
        cfg = validate_section(
            ArchiveConfig, archive_settings, "flows.archive", "the flow's archive_settings parameter"
        )
    else:
        cfg = archive_config(settings, settings_path(settings_file))
    store = open_store(store_uri) if store_uri else store_from_settings(settings)
    try:
        report = archive(store, cfg, now_ms or int(time.time() * 1000), run_collection=archive_collection_task)
    finally:
        store.close()
    create_markdown_artifact(
        key="archive-data", markdown=report.to_markdown(), description=f"{report.rows:,} rows archived"
    )
    return report.to_dict()
