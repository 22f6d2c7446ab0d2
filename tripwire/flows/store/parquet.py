"""Documents ⇄ compressed Parquet files: the archive's format.

One column per top-level field (the union over the documents, ``_id`` and ``ts`` first), typed
by pyarrow's inference so the archive is directly queryable (DuckDB, pandas, Spark). A column
whose values pyarrow cannot type as one (a number stored as a string in some documents, a
nested field of changing shape, an empty object) is written as JSON text instead and listed in
the file's ``tripwire.json_columns`` metadata, so :func:`read_docs` restores it. A field missing
from a document reads back as None.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

META_COLLECTION = b"tripwire.collection"
META_JSON_COLUMNS = b"tripwire.json_columns"


class ExportError(Exception):
    """An export could not be written or did not read back as written; says which file."""


def _writable(t: pa.DataType) -> bool:
    """Parquet cannot store a struct without fields (from ``{}``), at any depth."""
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_writable(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _writable(t.value_type)
    return True


def docs_to_table(collection: str, docs: list[dict[str, Any]]) -> pa.Table:
    fields: dict[str, None] = {"_id": None, "ts": None}
    for d in docs:
        fields.update(dict.fromkeys(d))
    arrays, names, json_columns = [], [], []
    for name in fields:
        values = [d.get(name) for d in docs]
        try:
            arr = pa.array(values)
            if not _writable(arr.type):
                raise pa.ArrowInvalid("empty struct")
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            arr = pa.array([None if v is None else orjson.dumps(v).decode() for v in values], pa.string())
            json_columns.append(name)
        arrays.append(arr)
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    return table.replace_schema_metadata(
        {META_COLLECTION: collection.encode(), META_JSON_COLUMNS: orjson.dumps(json_columns)}
    )


def write_verified(
    collection: str, docs: list[dict[str, Any]], path: Path, compression_level: int | None = None
) -> None:
    """Write ``docs`` to ``path`` (zstd), then read the file back and check every row and
    ``_id`` is there; ExportError otherwise (the file is then removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(docs_to_table(collection, docs), path, compression="zstd", compression_level=compression_level)
        fh = os.open(path, os.O_RDONLY)  # durable before anyone deletes the originals
        try:
            os.fsync(fh)
        finally:
            os.close(fh)
    except (OSError, pa.ArrowException) as e:
        path.unlink(missing_ok=True)
        raise ExportError(f"{path}: could not write {len(docs)} {collection} rows: {e}") from None
    try:
        verify(path, [d["_id"] for d in docs])
    except ExportError:
        path.unlink(missing_ok=True)
        raise


def verify(path: Path, ids: list[str] | None = None) -> list[str]:
    """Read ``path`` back: it must be readable Parquet and, when ``ids`` is given, hold exactly
    those ids in that order. Returns the file's ids."""
    try:
        got = pq.read_table(path, columns=["_id"]).column("_id").to_pylist()
    except (OSError, pa.ArrowException) as e:
        raise ExportError(f"{path}: not readable as Parquet: {e}") from None
    if ids is not None and got != ids:
        raise ExportError(f"{path}: read back {len(got)} rows, expected {len(ids)} (or the ids differ)")
    return got


def read_docs(path: Path) -> list[dict[str, Any]]:
    """The documents of an archive file (JSON columns decoded; missing fields as None)."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    json_columns = set(orjson.loads(meta.get(META_JSON_COLUMNS, b"[]")))
    rows = table.to_pylist()
    for row in rows:
        for name in json_columns:
            if row.get(name) is not None:
                row[name] = orjson.loads(row[name])
    return rows
