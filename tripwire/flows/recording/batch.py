"""Pending writes, and writing them to the store without losing or doubling any.

Inserts keep arrival order per collection; upserts are coalesced per ``(collection, _id)``
(only an order's latest state needs writing). ``write_batch`` removes what it wrote from the
batch as it goes, so after a transient failure (``StoreUnavailable``) the caller retries the
same batch and nothing is written twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tripwire.flows.store.base import DuplicateIdError, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


class Batch:
    """Documents waiting to be written (a :class:`~tripwire.flows.recording.rules.Sink`)."""

    __slots__ = ("inserts", "upserts", "size", "first_ns", "events")

    def __init__(self) -> None:
        self.inserts: dict[str, list[dict[str, Any]]] = {}
        self.upserts: dict[tuple[str, str], dict[str, Any]] = {}
        self.size = 0
        self.first_ns = 0  # monotonic time of the oldest pending document (0: empty)
        # Events whose documents are in here (the caller counts them; the recorder's
        # received = stored + filtered + invalid + lost is kept in events, not documents).
        self.events = 0

    def insert(self, collection: str, doc: dict[str, Any]) -> None:
        docs = self.inserts.get(collection)
        if docs is None:
            docs = self.inserts[collection] = []
        docs.append(doc)
        self.size += 1

    def upsert(self, collection: str, doc: dict[str, Any]) -> None:
        key = (collection, doc["_id"])
        if key not in self.upserts:
            self.size += 1
        self.upserts[key] = doc

    def __len__(self) -> int:
        return self.size


@dataclass
class WriteResult:
    """What one ``write_batch`` did, per collection."""

    written: dict[str, int] = field(default_factory=dict)  # inserted, or upserts that changed
    unchanged: dict[str, int] = field(default_factory=dict)  # upserts identical to the stored
    duplicates: dict[str, int] = field(default_factory=dict)  # _id already stored: skipped
    rejected: dict[str, int] = field(default_factory=dict)  # the store refused the document

    def add(self, kind: str, collection: str, n: int = 1) -> None:
        d = getattr(self, kind)
        d[collection] = d.get(collection, 0) + n


def write_batch(store: Store, batch: Batch, result: WriteResult | None = None) -> WriteResult:
    """Write ``batch`` (emptying it). A :class:`StoreUnavailable` propagates with the unwritten
    part still in ``batch``; other refusals are isolated to the documents that caused them."""
    result = result or WriteResult()
    while batch.inserts:
        collection, docs = next(iter(batch.inserts.items()))
        try:
            result.add("written", collection, store.insert_many(collection, docs))
        except StoreUnavailable:
            raise
        except StoreError as e:
            # One bad or already-stored document must not cost the batch: write one at a time.
            if not isinstance(e, DuplicateIdError):
                log.warning("%s: batch of %d refused (%s); writing one by one", collection, len(docs), e)
            _one_by_one(store, batch, collection, docs, result)
        else:
            batch.size -= len(docs)
        del batch.inserts[collection]
    while batch.upserts:
        (collection, _id), doc = next(iter(batch.upserts.items()))
        try:
            changed = store.upsert(collection, {"_id": _id}, doc)
        except StoreUnavailable:
            raise
        except StoreError as e:
            log.error("%s: document %r refused: %s", collection, _id, e)
            result.add("rejected", collection)
        else:
            result.add("written" if changed else "unchanged", collection)
        del batch.upserts[(collection, _id)]
        batch.size -= 1
    batch.first_ns = 0
    return result


def _one_by_one(store: Store, batch: Batch, collection: str, docs: list[dict[str, Any]], result: WriteResult) -> None:
    done = 0
    try:
        for doc in docs:
            try:
                result.add("written", collection, store.insert_many(collection, [doc]))
            except DuplicateIdError:
                result.add("duplicates", collection)
            except StoreUnavailable:
                raise
            except StoreError as e:
                log.error("%s: document %r refused: %s", collection, doc.get("_id"), e)
                result.add("rejected", collection)
            done += 1
    finally:  # on StoreUnavailable, what was handled leaves the batch; the rest is retried
        del docs[:done]
        batch.size -= done
