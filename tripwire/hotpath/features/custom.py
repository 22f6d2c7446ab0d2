"""Your own features, computed by the engine next to the built-ins.

A custom feature is a :class:`~tripwire.contracts.features.FeatureSpec` (name, kind, the update
kinds that recompute it, description, warm-up) and a function of a :class:`FeatureContext`::

    from tripwire.contracts.features import BOOK, NUMBER, FeatureSpec
    from tripwire.hotpath.features.custom import register_custom_feature

    def spread_x_imbalance(ctx):
        v = ctx.values
        if "spread_bps" not in v or "book_imbalance" not in v:
            return None                      # absent until its inputs exist
        return v["spread_bps"] * v["book_imbalance"]

    SXI = register_custom_feature(
        FeatureSpec("spread_x_imbalance", NUMBER, (BOOK,), "spread_bps × book_imbalance"),
        spread_x_imbalance)
    features = CoinFeatures("BTC", FeatureConfig(), custom=[SXI])

``register_custom_feature`` also adds the spec to the catalog, so trigger rules may name the
feature. The engine calls ``compute`` after the built-ins of each update whose kind is in
``spec.updated_on`` (``bar_close_1m``: once per call in which a bar closed). Returning ``None``
leaves the feature absent (warm-up). An exception, or a value that is not a finite number (or a
bool for ``kind=BOOL``), leaves it absent and is counted in ``CoinFeatures.custom_errors``; the
hot path keeps running. ``compute`` runs on the hot path: keep it O(1) and never do I/O in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from tripwire.contracts import features as catalog
from tripwire.contracts.features import FeatureSpec

if TYPE_CHECKING:
    from tripwire.hotpath.book.order_book import OrderBook
    from tripwire.hotpath.features.bars import Bar


class FeatureContext:
    """What a custom feature may read: the coin's values (read-only), book and last closed bar.

    One context per coin, updated in place before each batch of custom computations.
    """

    __slots__ = ("coin", "values", "book", "last_bar", "t_ms")

    def __init__(self, coin: str, values: dict[str, float | bool]) -> None:
        self.coin = coin
        self.values: Mapping[str, float | bool] = MappingProxyType(values)
        self.book: OrderBook | None = None
        self.last_bar: Bar | None = None
        self.t_ms = 0


Compute = Callable[[FeatureContext], "float | bool | None"]


class CustomFeature:
    __slots__ = ("spec", "compute")

    def __init__(self, spec: FeatureSpec, compute: Compute) -> None:
        if not callable(compute):
            raise TypeError(f"custom feature {spec.name!r}: compute must be callable")
        if not spec.updated_on:
            raise ValueError(f"custom feature {spec.name!r}: updated_on is empty, it would never be computed")
        for kind in spec.updated_on:
            if kind not in catalog.UPDATE_KINDS:
                raise ValueError(
                    f"custom feature {spec.name!r}: unknown update kind {kind!r} "
                    f"(one of {', '.join(catalog.UPDATE_KINDS)})"
                )
        if spec.kind not in (catalog.NUMBER, catalog.BOOL):
            raise ValueError(
                f"custom feature {spec.name!r}: kind must be {catalog.NUMBER!r} or {catalog.BOOL!r}, got {spec.kind!r}"
            )
        self.spec = spec
        self.compute = compute

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"CustomFeature({self.spec.name!r}, updated_on={self.spec.updated_on})"


def register_custom_feature(spec: FeatureSpec, compute: Compute) -> CustomFeature:
    """Make a custom feature and add its spec to the catalog so trigger rules may name it.

    Raises ValueError if the name is a built-in or already registered with another spec.
    """
    builtin = {s.name for s in catalog.BUILTIN}
    if spec.name in builtin:
        raise ValueError(f"custom feature {spec.name!r}: that name is a built-in feature")
    feature = CustomFeature(spec, compute)
    catalog.register(spec)
    return feature
