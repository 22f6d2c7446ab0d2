"""archive_data: expired documents move to verified Parquet parts, and only then leave the store;
any re-run, including after a crash, neither loses nor doubles a row."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.store.conftest import store  # noqa: F401  (both backends: SQLite and MongoDB)
from tripwire.config.settings import ConfigError, load_settings
from tripwire.flows.scheduled import archive_data as archive_mod
from tripwire.flows.scheduled.archive_data import ArchiveConfig, ArchiveError, archive, archive_config, archive_lock
from tripwire.flows.store.parquet import read_docs
from tripwire.flows.store.sqlite import SqliteStore

DAY = 86_400_000
NOW = 1_709_251_200_000  # 2024-03-01 00:00 UTC
JAN_30 = NOW - 31 * DAY  # 2024-01-30
FEB_02 = NOW - 28 * DAY  # 2024-02-02


def cfg(tmp_path, **kw) -> ArchiveConfig:
    return ArchiveConfig(archive_dir=tmp_path / "archive", **kw)


def minutes(start: int, n: int, coin: str = "BTC") -> list[dict]:
    return [
        {"_id": f"{coin}:1m:{start + i * 60_000}", "ts": start + i * 60_000, "coin": coin, "o": 1.0 + i, "c": 2.0}
        for i in range(n)
    ]


def archived(root: Path, collection: str) -> list[dict]:
    rows = []
    for part in sorted((root / collection).glob("*/part-*.parquet")):
        rows += read_docs(part)
    return rows


def test_expired_rows_move_to_monthly_parts_and_leave_the_store(store, tmp_path):
    old = minutes(JAN_30, 3) + minutes(FEB_02, 2)
    recent = minutes(NOW - DAY, 4)
    store.insert_many("candles_1m", old + recent)
    report = archive(store, cfg(tmp_path), NOW)
    root = tmp_path / "archive"
    parts = sorted(p.relative_to(root).as_posix() for p in root.glob("**/*.parquet"))
    assert parts == [
        f"candles_1m/2024-01/part-{JAN_30}-{JAN_30 + 120_000}.parquet",
        f"candles_1m/2024-02/part-{FEB_02}-{FEB_02 + 60_000}.parquet",
    ]
    assert archived(root, "candles_1m") == old
    assert [d["_id"] for d in store.find("candles_1m", sort=[("ts", 1)])] == [d["_id"] for d in recent]
    by = {c.collection: c for c in report.collections}
    assert by["candles_1m"].rows == 5 and len(by["candles_1m"].files) == 2
    assert by["trades"].rows == 0 and by["trades"].cutoff_ts == NOW - 90 * DAY
    assert not list(root.glob("**/*.tmp")) and not list(root.glob("**/pending.json"))


def test_each_collection_keeps_its_own_retention_and_others_are_kept(store, tmp_path):
    store.insert_many("candles_5m", minutes(NOW - 10 * DAY, 2))  # 30 days: kept
    store.insert_many("trades", minutes(NOW - 91 * DAY, 2))  # 90 days: archived
    store.insert_many("triggers", minutes(NOW - 900 * DAY, 2))  # no retention: kept
    archive(store, cfg(tmp_path), NOW)
    assert (store.count("candles_5m"), store.count("trades"), store.count("triggers")) == (2, 0, 2)


def test_a_second_run_finds_nothing_more_to_do(store, tmp_path):
    store.insert_many("candles_1m", minutes(JAN_30, 10))
    archive(store, cfg(tmp_path), NOW)
    again = archive(store, cfg(tmp_path), NOW)
    assert again.rows == 0
    assert len(list((tmp_path / "archive").glob("**/*.parquet"))) == 1


class CrashOnDelete:
    """The store, except that the first ``delete_many`` dies (the process 'crashes')."""

    def __init__(self, inner):
        self.inner, self.crashed = inner, False

    def delete_many(self, collection, flt):
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed")
        return self.inner.delete_many(collection, flt)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_crash_between_export_and_delete_is_finished_by_the_next_run_without_duplicates(store, tmp_path):
    store.insert_many("candles_1m", minutes(JAN_30, 6))
    c = cfg(tmp_path)
    with pytest.raises(RuntimeError):
        archive(CrashOnDelete(store), c, NOW)
    assert store.count("candles_1m") == 6  # exported, not yet deleted
    assert (tmp_path / "archive" / "candles_1m" / "pending.json").exists()
    # the re-run is later: more rows have expired meanwhile, so a fresh export would differ
    store.insert_many("candles_1m", minutes(JAN_30 + 6 * 60_000, 4))
    report = archive(store, c, NOW + DAY)
    rows = archived(tmp_path / "archive", "candles_1m")
    ids = [d["_id"] for d in rows]
    assert len(ids) == len(set(ids)) == 10
    assert store.count("candles_1m") == 0
    one = report.collections[0]
    assert (one.recovered, one.rows) == (6, 4)


def test_a_crash_before_the_part_is_renamed_is_finished_from_the_verified_tmp(store, tmp_path, monkeypatch):
    store.insert_many("candles_1m", minutes(JAN_30, 5))
    real_replace = archive_mod.os.replace

    def crash_on_part(src, dst):
        if str(dst).endswith(".parquet"):
            raise RuntimeError("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(archive_mod.os, "replace", crash_on_part)
    with pytest.raises(RuntimeError):
        archive(store, cfg(tmp_path), NOW)
    monkeypatch.setattr(archive_mod.os, "replace", real_replace)
    assert store.count("candles_1m") == 5
    report = archive(store, cfg(tmp_path), NOW)
    assert report.collections[0].recovered == 5
    assert len(archived(tmp_path / "archive", "candles_1m")) == 5
    assert store.count("candles_1m") == 0


def test_chunks_with_the_same_time_range_never_overwrite_each_other(store, tmp_path):
    old = NOW - 100 * DAY  # past the trades' 90 days
    same_ts = [{"_id": f"t{i}", "ts": old, "coin": "BTC", "px": 1.0} for i in range(7)]
    store.insert_many("trades", same_ts)
    archive(store, cfg(tmp_path, batch_rows=3), NOW)
    files = sorted(p.name for p in (tmp_path / "archive" / "trades").glob("*/*.parquet"))
    assert files == [f"part-{old}-{old}-1.parquet", f"part-{old}-{old}-2.parquet", f"part-{old}-{old}.parquet"]
    assert sorted(d["_id"] for d in archived(tmp_path / "archive", "trades")) == sorted(d["_id"] for d in same_ts)


def test_fields_of_mixed_types_survive_the_round_trip(store, tmp_path):
    docs = [
        {"_id": "a", "ts": JAN_30, "coin": "BTC", "mid": 1.5, "bids": [[1.0, 2.0]], "meta": {}, "px": 100},
        {"_id": "b", "ts": JAN_30 + 1, "coin": "BTC", "mid": None, "bids": [], "meta": {"k": [1, "x"]}, "px": "100.5"},
    ]
    store.insert_many("orderbook_snapshots", docs)
    archive(store, cfg(tmp_path), NOW)
    assert archived(tmp_path / "archive", "orderbook_snapshots") == docs


def test_a_second_run_while_one_holds_the_lock_is_refused(store, tmp_path):
    c = cfg(tmp_path)
    with archive_lock(c.archive_dir), pytest.raises(ArchiveError, match="another archival run"):
        archive(store, c, NOW)


def test_retention_settings_merge_over_the_defaults_and_null_keeps_forever(tmp_path):
    f = tmp_path / "settings.yaml"
    f.write_text(
        "flows:\n  archive:\n    archive_dir: /tmp/a\n    retention_days: {trades: 30, candles_1m: null, signals: 60}\n"
    )
    c = archive_config(load_settings(f), f)
    assert c.retention_days["trades"] == 30 and c.retention_days["candles_5m"] == 30
    assert dict(c.expiring())["signals"] == 60 and "candles_1m" not in dict(c.expiring())


def test_bad_archive_settings_name_the_file_the_key_and_the_reason(tmp_path):
    f = tmp_path / "settings.yaml"
    f.write_text("flows:\n  archive:\n    retention_days: {trade: 30}\n    batch_rows: 0\n")
    with pytest.raises(ConfigError) as e:
        archive_config(load_settings(f), f)
    msg = str(e.value)
    assert f"{f}: flows.archive.retention_days: Value error, unknown collection 'trade' (did you mean 'trades'?)" in msg
    assert f"{f}: flows.archive.batch_rows: Input should be greater than or equal to 1" in msg
    f.write_text("flows:\n  archive:\n    retention_days: {trades: -1}\n")
    with pytest.raises(ConfigError, match="days must be positive"):
        archive_config(load_settings(f), f)


def test_the_prefect_flow_archives_and_publishes_a_markdown_artifact(tmp_path, prefect_harness, store, monkeypatch):
    from tripwire.flows.scheduled.archive_data import archive_data
    from tripwire.flows.store import MONGODB_URI_ENV

    store.insert_many("candles_1m", minutes(JAN_30, 4) + minutes(NOW - DAY, 2))
    if isinstance(store, SqliteStore):
        uri = f"sqlite:///{store.path}"
        monkeypatch.delenv(MONGODB_URI_ENV, raising=False)
    else:  # the flow opens the store by URI, as a deployment does
        base = store._client.address
        uri = f"mongodb://{base[0]}:{base[1]}/{store._db.name}"
        monkeypatch.setenv(MONGODB_URI_ENV, uri)
    result = archive_data(store_uri=uri, now_ms=NOW, archive_settings={"archive_dir": str(tmp_path / "archive")})
    artifact = _latest_artifact("archive-data")
    rows = {c["collection"]: c["rows"] for c in result["collections"]}
    assert rows["candles_1m"] == 4
    assert len(archived(tmp_path / "archive", "candles_1m")) == 4
    assert "| candles_1m | 7 |" in artifact and "4 rows archived" in artifact


def _latest_artifact(key: str) -> str:
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            a = await client.read_latest_artifacts()
            return next(x.data for x in a if x.key == key)

    return asyncio.run(read())
