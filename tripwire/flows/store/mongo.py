"""The production store: MongoDB through pymongo, with the same semantics as the SQLite store.

MongoDB-only features are used when the server has them, which the store finds out at connect by
trying them once (a wire-compatible server such as nx-27017 may accept an option and ignore it);
docs/STORE.md, "Fidelity", lists what it finds and what it does instead:

* time-series collections for the append-only market data (``MARKET_DATA_COLLECTIONS``) on
  MongoDB 7.0+ (compressed buckets; 7.0 is the first to delete time-series documents by any
  field, which archival needs). Their time field is ``_at`` (a BSON date made from ``ts``, or
  the insert time when a document has none) and ``coin`` is the meta field. MongoDB enforces no
  unique ``_id`` in a time-series collection, so there ``_id`` gets a plain index and
  ``insert_many`` looks the batch's ids up first: a repeated id is refused as on SQLite, except
  when two writers insert the same new id at the same moment (not atomic; the recorder's ids
  are deterministic and archival deletes by id, so such a twin is archived and removed with
  it). Otherwise plain collections (logged).
* TTL (``ttl_s``): documents expire by ``_at``: a TTL index where the server runs a TTL
  monitor, else the store's own sweep (:meth:`MongoStore.expire`). A TTL deletes without
  archiving: use it for collections the archival flow does not keep (see docs/STORE.md).
* the filter subset matched by the server; where it matches unlike MongoDB, the store checks
  every match itself (:func:`~tripwire.flows.store.filters.matches`).

``_at`` is reserved on MongoDB and never returned. ``insert_many`` is all-or-nothing for a
duplicate ``_id``: an ordered bulk insert stops at the first error and the documents before it
are deleted again (readers may glimpse them for that moment; a multi-document transaction would
need a replica set and is refused for time-series collections). A connection lost mid-batch
raises :class:`StoreUnavailable` with part of the batch possibly stored; retrying it reports
those as :class:`DuplicateIdError`, which the recorder handles document by document.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from tripwire.flows.store.base import (
    INDEXED_FIELDS,
    MARKET_DATA_COLLECTIONS,
    Doc,
    DuplicateIdError,
    Filter,
    Sort,
    StoreError,
    StoreUnavailable,
)
from tripwire.flows.store.filters import (
    Cond,
    check_collection,
    check_paging,
    matches,
    new_id,
    parse_filter,
    parse_sort,
    prepare_docs,
    upsert_doc,
)

log = logging.getLogger(__name__)

TIME_FIELD = "_at"
_HIDE = {TIME_FIELD: 0}
_TIMESERIES_MIN_VERSION = (7, 0)
_DUPLICATE_KEY = 11000
# How often the store sweeps a ``ttl_s`` collection itself when the server has no TTL monitor:
# MongoDB's monitor runs every 60 s, so documents outlive their TTL by about as much either way.
SWEEP_INTERVAL_S = 60.0


def redact(uri: str) -> str:
    """The URI without its password, for messages and logs."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", uri)


def _normalise(collection: str, doc: Doc) -> Doc:
    # Store exactly what the SQLite backend stores (JSON semantics: tuples become lists, NaN
    # becomes null), and refuse what is not JSON-like on both backends alike.
    try:
        out = orjson.loads(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))
    except TypeError as e:
        raise StoreError(f"{collection}: document {doc.get('_id')!r} is not JSON-like: {e}") from None
    # JSON takes integers up to 2**64 - 1; BSON only 64-bit signed ones. Refused here, before
    # anything of the batch is sent, rather than by the driver part-way through encoding it.
    for field, v in out.items():
        if _too_big(v):
            raise StoreError(
                f"{collection}: document {doc.get('_id')!r}: field {field!r} holds an integer "
                f"outside MongoDB's 64-bit range (-2**63 .. 2**63-1); store it as a float or a string"
            )
    return out


def _too_big(v: Any) -> bool:
    if isinstance(v, int) and not isinstance(v, bool):
        return not -(2**63) <= v < 2**63
    if isinstance(v, list):
        return any(_too_big(x) for x in v)
    if isinstance(v, dict):
        return any(_too_big(x) for x in v.values())
    return False


def _version(info: Mapping[str, Any]) -> tuple[int, int]:
    """(major, minor) from ``buildInfo``: ``versionArray`` where the server sends it, else the
    ``version`` string (some wire-compatible servers send only that)."""
    parts = info.get("versionArray") or re.findall(r"\d+", str(info.get("version", "")))
    nums = [int(p) for p in parts[:2]] + [0, 0]
    return (nums[0], nums[1])


def _at(doc: Doc) -> datetime:
    ts = doc.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return datetime.fromtimestamp(ts / 1000, tz=UTC)
    return datetime.now(UTC)


class MongoStore:
    """:class:`~tripwire.flows.store.base.Store` on MongoDB database ``db_name`` (default: the URI's
    database, else ``tripwire``). Connects at construction so a wrong URI fails at start.

    ``timeseries``: use time-series collections for market data when the server supports them.
    ``ttl_s``: collection → seconds after ``ts`` at which MongoDB deletes a document.
    """

    def __init__(
        self,
        uri: str,
        db_name: str | None = None,
        *,
        timeseries: bool = True,
        ttl_s: Mapping[str, int] | None = None,
        server_selection_timeout_ms: int = 5_000,
    ):
        import pymongo
        from pymongo.errors import ConfigurationError, PyMongoError

        self.uri = redact(uri)
        self.timeseries = timeseries
        self.ttl_s = dict(ttl_s or {})
        try:
            self._client: Any = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=server_selection_timeout_ms, tz_aware=True
            )
            self._db = self._client[db_name] if db_name else self._client.get_default_database(default="tripwire")
            self._client.admin.command("ping")
            self.server_version = _version(self._client.server_info())
            # What the server can do, asked once here (a wire-compatible server such as
            # nx-27017 may accept an option and ignore it): see docs/STORE.md, "Fidelity".
            self.has_timeseries = timeseries and self._probe_timeseries()
            self.has_ttl_monitor = bool(self.ttl_s) and self._probe_ttl_monitor()
            self.exact_filters = self._probe_filters()
        except ConfigurationError as e:
            raise StoreError(f"mongodb store {self.uri}: {e}") from None
        except PyMongoError as e:
            raise self._error(e, "connect") from None
        self._lock = threading.Lock()
        self._kinds: dict[str, bool] = {}  # collection → is a time-series collection
        self._swept: dict[str, float] = {}  # collection → monotonic time of our last expiry sweep

    def _probe_timeseries(self) -> bool:
        """Create a throw-away time-series collection and look at what the server made of it."""
        from pymongo.errors import OperationFailure

        if self.server_version < _TIMESERIES_MIN_VERSION:
            log.info(
                "%s: MongoDB %s has no usable time-series collections; using plain ones", self.uri, self.server_version
            )
            return False
        name = f"_tripwire_probe_{new_id()}"
        try:
            self._db.create_collection(
                name, timeseries={"timeField": TIME_FIELD, "metaField": "coin", "granularity": "seconds"}
            )
            made = self._kind_of(name)
        except OperationFailure as e:
            log.warning("%s: time-series collection refused (%s); using plain collections", self.uri, e)
            return False
        finally:
            self._db.drop_collection(name)
        if not made:
            log.warning(
                "%s: the server accepted a time-series collection but made a plain one; using plain collections",
                self.uri,
            )
        return bool(made)

    def _probe_ttl_monitor(self) -> bool:
        """Whether the server runs a TTL monitor (MongoDB answers ``getParameter``); without one
        the store expires ``ttl_s`` collections itself (:meth:`expire`)."""
        from pymongo.errors import OperationFailure

        try:
            answer = self._client.admin.command({"getParameter": 1, "ttlMonitorEnabled": 1})
        except OperationFailure as e:
            log.warning("%s: no TTL monitor to ask (%s); the store expires documents itself", self.uri, e)
            return False
        if answer.get("ttlMonitorEnabled") is not True:
            log.warning("%s: the server's TTL monitor is off; the store expires documents itself", self.uri)
            return False
        return True

    def _probe_filters(self) -> bool:
        """Whether the server matches the filter subset as MongoDB does (type bracketing, true is
        not 1, null is null or missing, the same in ``count`` as in ``find``). Asked once with a
        throw-away collection; when not, the store sends the server only the conditions it
        cannot get too narrow and decides the rest itself (:func:`matches`)."""
        from pymongo.errors import PyMongoError

        coll = self._db[f"_tripwire_probe_{new_id()}"]
        docs = [{"_id": "n", "x": 1}, {"_id": "s", "x": "2"}, {"_id": "t", "x": True}, {"_id": "m"}]
        cases: list[tuple[Filter, set[str]]] = [
            ({"x": {"$gt": 0}}, {"n"}),
            ({"x": True}, {"t"}),
            ({"x": 1}, {"n"}),
            ({"x": {"$ne": None}}, {"n", "s", "t"}),
            ({"x": None}, {"m"}),
            ({"_id": {"$ne": None}}, {"n", "s", "t", "m"}),
        ]
        wrong = []
        try:
            coll.insert_many(docs)
            for flt, want in cases:
                got = {d["_id"] for d in coll.find(flt, {"_id": 1})}
                if got != want or coll.count_documents(flt) != len(want):
                    wrong.append(flt)
        except PyMongoError as e:
            log.warning("%s: filter probe failed (%s); the store checks every match itself", self.uri, e)
            return False
        finally:
            coll.drop()
        if wrong:
            log.warning(
                "%s: the server matches %s unlike MongoDB; the store checks matches itself",
                self.uri,
                ", ".join(map(repr, wrong)),
            )
        return not wrong

    def __repr__(self) -> str:
        return f"MongoStore({self.uri!r}, {self._db.name!r})"

    def _error(self, e: Exception, what: str) -> StoreError:
        from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

        msg = f"mongodb store {self.uri}: {what}: {e}"
        if isinstance(e, (ConnectionFailure, ExecutionTimeout, WTimeoutError)):
            return StoreUnavailable(msg)
        return StoreError(msg)

    # -- collections ----------------------------------------------------------------------------

    def _coll(self, collection: str) -> tuple[Any, bool]:
        """The collection (created with its indexes on first use) and whether it is time-series."""
        kind = self._kinds.get(collection)
        if kind is None:
            check_collection(collection)
            with self._lock:
                kind = self._kinds.get(collection)
                if kind is None:
                    kind = self._kinds[collection] = self._create(collection)
        return self._db[collection], kind

    def _kind_of(self, collection: str) -> bool | None:
        info = next(iter(self._db.list_collections(filter={"name": collection})), None)
        return None if info is None else info.get("type") == "timeseries"

    def _create(self, collection: str) -> bool:
        from pymongo.errors import CollectionInvalid, OperationFailure, PyMongoError

        try:
            kind = self._kind_of(collection)
            if kind is None:
                kind = False
                ttl = self.ttl_s.get(collection)
                if self.has_timeseries and collection in MARKET_DATA_COLLECTIONS:
                    opts: dict[str, Any] = {
                        "timeseries": {"timeField": TIME_FIELD, "metaField": "coin", "granularity": "seconds"}
                    }
                    if ttl and self.has_ttl_monitor:
                        opts["expireAfterSeconds"] = int(ttl)
                    try:
                        self._db.create_collection(collection, **opts)
                        kind = True
                    except CollectionInvalid:  # another process created it meanwhile
                        kind = bool(self._kind_of(collection))
                    except OperationFailure as e:
                        log.warning("%s: time-series collection refused (%s); using a plain collection", collection, e)
                if not kind:
                    try:
                        self._db.create_collection(collection)
                    except CollectionInvalid:
                        pass
            self._indexes(collection, kind)
        except PyMongoError as e:
            raise self._error(e, f"{collection}: create") from None
        return kind

    def _indexes(self, collection: str, timeseries: bool) -> None:
        from pymongo.errors import OperationFailure

        coll = self._db[collection]
        specs: list[tuple[list[tuple[str, int]], dict[str, Any]]] = [([("ts", 1)], {})]
        if timeseries:  # no built-in _id index there; insert_many's duplicate check needs one
            specs.append(([("_id", 1)], {}))
        specs += [([(f, 1), ("ts", 1)], {}) for f in INDEXED_FIELDS.get(collection, ())]
        ttl = self.ttl_s.get(collection)
        if ttl and not timeseries:
            # Without a TTL monitor the index only serves the store's own sweep (:meth:`expire`),
            # which is then the one thing that expires documents (a server that honours the
            # option some other way would make two mechanisms of one).
            specs.append(([(TIME_FIELD, 1)], {"expireAfterSeconds": int(ttl)} if self.has_ttl_monitor else {}))
        for keys, opts in specs:
            try:
                coll.create_index(keys, **opts)
            except OperationFailure as e:  # an old server's time-series limits: not fatal
                log.warning("%s: index %s not created: %s", collection, keys, e)

    def expire(self, now: datetime | None = None) -> dict[str, int]:
        """Delete what in each ``ttl_s`` collection is older than its TTL (by ``_at``, as a TTL
        index would); collection → documents deleted. Writes call this at most every
        ``SWEEP_INTERVAL_S`` per collection when the server has no TTL monitor of its own."""
        from pymongo.errors import PyMongoError

        now = now or datetime.now(UTC)
        deleted = {}
        for collection, ttl in self.ttl_s.items():
            coll, _ = self._coll(collection)
            cutoff = datetime.fromtimestamp(now.timestamp() - ttl, tz=UTC)
            try:
                deleted[collection] = coll.delete_many({TIME_FIELD: {"$lt": cutoff}}).deleted_count
            except PyMongoError as e:
                raise self._error(e, f"{collection}: expire") from None
            self._swept[collection] = time.monotonic()
        return deleted

    def _sweep_due(self, collection: str) -> None:
        if self.has_ttl_monitor or collection not in self.ttl_s:
            return
        last = self._swept.get(collection)
        if last is None or time.monotonic() - last >= SWEEP_INTERVAL_S:
            self._swept[collection] = time.monotonic()
            ttl = self.ttl_s[collection]
            cutoff = datetime.fromtimestamp(time.time() - ttl, tz=UTC)
            self._db[collection].delete_many({TIME_FIELD: {"$lt": cutoff}})

    def _prepare(self, collection: str, doc: Doc, stamped: bool) -> Doc:
        d = _normalise(collection, doc)
        if stamped:
            d[TIME_FIELD] = _at(d)
        return d

    def _stamped(self, collection: str, timeseries: bool) -> bool:
        return timeseries or bool(self.ttl_s.get(collection))

    # -- the Store interface --------------------------------------------------------------------

    def insert_many(self, collection: str, docs: Iterable[Doc]) -> int:
        from pymongo.errors import BulkWriteError, PyMongoError

        coll, timeseries = self._coll(collection)
        stamped = self._stamped(collection, timeseries)
        prepared = [self._prepare(collection, d, stamped) for d in prepare_docs(collection, docs)]
        if not prepared:
            return 0
        try:
            self._sweep_due(collection)
            if timeseries:
                self._refuse_stored_ids(collection, coll, prepared)
            coll.insert_many(prepared, ordered=True)
        except BulkWriteError as e:
            done = prepared[: e.details.get("nInserted", 0)]
            if done:  # undo the prefix an ordered insert stored before the error
                coll.delete_many({"_id": {"$in": [d["_id"] for d in done]}})
            errors = e.details.get("writeErrors", [])
            dups = tuple(prepared[err["index"]]["_id"] for err in errors if err.get("code") == _DUPLICATE_KEY)
            if dups:
                raise DuplicateIdError(
                    f"{collection}: _id already stored: "
                    f"{', '.join(map(repr, dups))}; nothing of this batch "
                    f"of {len(prepared)} was inserted",
                    dups,
                ) from None
            raise StoreError(
                f"{collection}: insert_many: {errors[:1] or e}; nothing of this batch of {len(prepared)} was inserted"
            ) from None
        except PyMongoError as e:
            raise self._error(e, f"{collection}: insert_many") from None
        return len(prepared)

    @staticmethod
    def _refuse_stored_ids(collection: str, coll: Any, docs: list[Doc]) -> None:
        stored = [d["_id"] for d in coll.find({"_id": {"$in": [d["_id"] for d in docs]}}, {"_id": 1}).limit(5)]
        if stored:
            raise DuplicateIdError(
                f"{collection}: _id already stored: "
                f"{', '.join(map(repr, stored))}; nothing of this batch of "
                f"{len(docs)} was inserted",
                tuple(stored),
            )

    def upsert(self, collection: str, key: Filter, doc: Doc) -> bool:
        from pymongo.errors import DuplicateKeyError, PyMongoError

        coll, timeseries = self._coll(collection)
        conds, full = upsert_doc(collection, key, doc)
        full = _normalise(collection, full)
        flt = {c.field: c.value for c in conds}
        stamped = self._stamped(collection, timeseries)
        try:
            self._sweep_due(collection)
            for _ in range(3):  # a concurrent insert of the same _id: look again
                prev = coll.find_one(flt, _HIDE)
                new = dict(full)
                if prev is None:
                    new.setdefault("_id", new_id())
                    if stamped:
                        new[TIME_FIELD] = _at(new)
                    try:
                        coll.insert_one(new)
                    except DuplicateKeyError:
                        continue
                    return True
                if new.setdefault("_id", prev["_id"]) != prev["_id"]:
                    raise StoreError(
                        f"{collection}: upsert would change _id {prev['_id']!r} to {new['_id']!r} (ids are immutable)"
                    )
                if new == prev:
                    return False
                if stamped:
                    new[TIME_FIELD] = _at(new)
                if timeseries:  # no replace on time-series collections: delete, insert
                    coll.delete_one({"_id": prev["_id"]})
                    coll.insert_one(new)
                else:
                    coll.replace_one({"_id": prev["_id"]}, new)
                return True
        except PyMongoError as e:
            raise self._error(e, f"{collection}: upsert") from None
        raise StoreUnavailable(f"{collection}: upsert of {key!r} raced with other writers three times; retry")

    def find(
        self,
        collection: str,
        filter: Filter | None = None,
        *,
        sort: Sort | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> list[Doc]:
        from pymongo.errors import PyMongoError

        conds = parse_filter(collection, filter)
        order = parse_sort(collection, sort)
        check_paging(collection, limit, skip)
        if limit == 0:
            return []
        coll, _ = self._coll(collection)
        if not self.exact_filters and not _all_exact(conds):
            return self._find_checked(collection, coll, conds, order, limit, skip)
        try:
            cursor = coll.find(_mongo_filter(filter), _HIDE)
            if order:
                cursor = cursor.sort(order)
            if skip:
                cursor = cursor.skip(skip)
            if limit:
                cursor = cursor.limit(limit)
            return list(cursor)
        except PyMongoError as e:
            raise self._error(e, f"{collection}: find") from None

    def _find_checked(
        self, collection: str, coll: Any, conds: list[Cond], order: list[tuple[str, int]], limit: int | None, skip: int
    ) -> list[Doc]:
        """find on a server whose matching is not faithful: it gets the conditions that can only
        widen its answer; the full filter, skip and limit are applied here."""
        from pymongo.errors import PyMongoError

        try:
            cursor = coll.find(_pushdown(conds), _HIDE)
            if order:
                cursor = cursor.sort(order)
            found = [d for d in cursor if matches(conds, d)]
        except PyMongoError as e:
            raise self._error(e, f"{collection}: find") from None
        return found[skip:] if limit is None else found[skip : skip + limit]

    def find_one(self, collection: str, filter: Filter | None = None, *, sort: Sort | None = None) -> Doc | None:
        found = self.find(collection, filter, sort=sort, limit=1)
        return found[0] if found else None

    def count(self, collection: str, filter: Filter | None = None) -> int:
        from pymongo.errors import PyMongoError

        conds = parse_filter(collection, filter)
        coll, _ = self._coll(collection)
        if not self.exact_filters:
            return len(self._find_checked(collection, coll, conds, [], None, 0))
        try:
            return coll.count_documents(_mongo_filter(filter))
        except PyMongoError as e:
            raise self._error(e, f"{collection}: count") from None

    def delete_many(self, collection: str, filter: Filter) -> int:
        from pymongo.errors import PyMongoError

        check_collection(collection)
        if not filter:
            raise StoreError(
                f"{collection}: delete_many with an empty filter is refused; to "
                "delete everything say {'_id': {'$ne': None}}"
            )
        conds = parse_filter(collection, filter)
        coll, _ = self._coll(collection)
        try:
            if not self.exact_filters and not _all_exact(conds):
                ids = [d["_id"] for d in self._find_checked(collection, coll, conds, [], None, 0)]
                return sum(
                    coll.delete_many({"_id": {"$in": ids[i : i + 5_000]}}).deleted_count
                    for i in range(0, len(ids), 5_000)
                )
            return coll.delete_many(_mongo_filter(filter)).deleted_count
        except PyMongoError as e:
            raise self._error(e, f"{collection}: delete_many") from None

    def close(self) -> None:
        self._client.close()


def _mongo_filter(flt: Filter | None) -> Filter:
    """The validated filter as pymongo wants it ($in lists, not tuples)."""
    out: Filter = {}
    for field, spec in (flt or {}).items():
        if isinstance(spec, dict) and "$in" in spec:
            spec = {**spec, "$in": list(spec["$in"])}
        out[field] = spec
    return out


def _exact(c: Cond) -> bool:
    """Equality (or $in) on strings only: matched alike by every server we have met."""
    values = c.value if c.op == "in" else (c.value,)
    return c.op in ("eq", "in") and all(isinstance(v, str) for v in values)


def _all_exact(conds: list[Cond]) -> bool:
    return all(_exact(c) for c in conds)


def _pushdown(conds: list[Cond]) -> Filter:
    """The conditions a server whose matching is not faithful may still be sent: string
    equality (exact) and number ranges (such a server may add strings or bools, never drop a
    number); everything else is left to :func:`matches`."""
    out: Filter = {}
    for c in conds:
        if _exact(c):
            spec: Any = list(c.value) if c.op == "in" else c.value
            out[c.field] = {"$in": spec} if c.op == "in" else spec
        elif c.op in ("gt", "gte", "lt", "lte") and not isinstance(c.value, str):
            out.setdefault(c.field, {})
            if isinstance(out[c.field], dict):
                out[c.field][f"${c.op}"] = c.value
    return out
