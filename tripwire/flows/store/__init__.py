"""The store: documents in named collections, on SQLite (default) or MongoDB. See docs/STORE.md.

``open_store()`` picks the backend from a URI::

    store = open_store("sqlite:///run/tripwire.sqlite")     # relative to the working directory
    store = open_store("sqlite:////var/lib/tripwire.sqlite") # absolute
    store = open_store("mongodb://host:27017/tripwire")     # database from the path
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tripwire.flows.store.base import (
    CANDLE_INTERVALS,
    COLLECTIONS,
    MARKET_DATA_COLLECTIONS,
    Doc,
    DuplicateIdError,
    Filter,
    Sort,
    Store,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "CANDLE_INTERVALS",
    "COLLECTIONS",
    "MARKET_DATA_COLLECTIONS",
    "MONGODB_URI_ENV",
    "Doc",
    "DuplicateIdError",
    "Filter",
    "Sort",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "open_store",
    "store_from_settings",
]

MONGODB_URI_ENV = "MONGODB_URI"
_SQLITE = "sqlite:///"


def open_store(uri: str | None = None, *, env: bool = True) -> Store:
    """The store at ``uri``; the ``MONGODB_URI`` environment variable, when set and ``env`` is
    true, wins over ``uri`` (so a deployment switches every process to MongoDB in one place).

    ``sqlite:///path`` (relative to the working directory; ``sqlite:////abs/path`` absolute)
    opens a :class:`SqliteStore`, creating the file and its directory; ``mongodb://…`` or
    ``mongodb+srv://…`` a :class:`MongoStore` (database from the URI's path, else
    ``tripwire``). Anything else raises :class:`StoreError` naming the URI.
    """
    env_uri = os.environ.get(MONGODB_URI_ENV) if env else None
    chosen = env_uri or uri
    if not chosen:
        raise StoreError(f"no store URI: pass one (sqlite:///path or mongodb://…) or set {MONGODB_URI_ENV}")
    where = f" (from {MONGODB_URI_ENV})" if env_uri else ""
    if chosen.startswith(_SQLITE):
        from tripwire.flows.store.sqlite import SqliteStore

        path = chosen[len(_SQLITE) :]
        if not path or path.endswith("/"):
            raise StoreError(f"store URI {chosen!r}{where}: no file name after sqlite:///")
        return SqliteStore(Path(path))
    if chosen.startswith(("mongodb://", "mongodb+srv://")):
        from tripwire.flows.store.mongo import MongoStore

        return MongoStore(chosen)
    from tripwire.flows.store.mongo import redact

    raise StoreError(
        f"store URI {redact(chosen)!r}{where} is not supported: use "
        "sqlite:///relative/path, sqlite:////absolute/path or mongodb://host/db"
    )


def store_from_settings(settings: Any) -> Store:
    """The store ``settings.store.uri`` names (``MONGODB_URI`` still wins when set)."""
    return open_store(settings.store.uri)
