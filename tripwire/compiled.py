"""The optional compiled hot-path core: which modules it covers, and how to run without it.

``make compile`` compiles :data:`CORE` with mypyc into extension modules next to their sources
(``*.so``, never committed). Python then imports the extension instead of the ``.py``, so the
same code runs compiled. ``TRIPWIRE_PURE=1`` in the environment makes every ``tripwire`` module
load from its source even when a compiled one sits beside it (``tripwire/__init__.py`` calls
:func:`prefer_source` first thing), which is how the tests run both and compare them.
"""

from __future__ import annotations

import importlib.machinery as machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# The pure core, in the order the Makefile hands it to mypyc. Decode, book, features, triggers
# and the pipeline that ties them: what runs on every market message.
CORE = (
    "tripwire/hotpath/feed/records.py",
    "tripwire/hotpath/feed/decode.py",
    "tripwire/hotpath/book/order_book.py",
    "tripwire/hotpath/book/market_clock.py",
    "tripwire/hotpath/features/windows.py",
    "tripwire/hotpath/features/bars.py",
    "tripwire/hotpath/features/engine.py",
    "tripwire/hotpath/features/custom.py",
    "tripwire/hotpath/triggers/engine.py",
    "tripwire/hotpath/pipeline.py",
)
PURE_ENV = "TRIPWIRE_PURE"


def core_modules() -> list[str]:
    return [p.removesuffix(".py").replace("/", ".") for p in CORE]


def compiled_modules() -> list[str]:
    """The core modules that are imported from a compiled extension in this process."""
    out = []
    for name in core_modules():
        __import__(name)
        mod: ModuleType = sys.modules[name]
        if (getattr(mod, "__file__", "") or "").endswith(tuple(machinery.EXTENSION_SUFFIXES)):
            out.append(name)
    return out


class _SourceFirst:
    """A finder that hands out a ``tripwire`` module's source where an extension shadows it."""

    @classmethod
    def find_spec(
        cls, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> machinery.ModuleSpec | None:
        if not name.startswith("tripwire."):
            return None
        spec = machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not isinstance(spec.loader, machinery.ExtensionFileLoader) or spec.origin is None:
            return None
        src = os.path.join(os.path.dirname(spec.origin), name.rpartition(".")[2] + ".py")
        if not os.path.exists(src):
            return None
        return machinery.ModuleSpec(name, machinery.SourceFileLoader(name, src), origin=src)


def prefer_source() -> None:
    """Load every ``tripwire`` module from source from now on (idempotent)."""
    if _SourceFirst not in sys.meta_path:
        sys.meta_path.insert(0, _SourceFirst)  # a finder class, as importlib allows
