"""Expressions built once per engine call and handed to every metric that asks again.

Building an Ibis expression is Python work that does not depend on the store's size: every
node is validated as it is made (about 20-30 microseconds each on the benchmark machine),
and the newest month of the whole catalogue makes about 10,000 of them. Many of the
catalogue's metrics build the same sub-expression (the valid orders straight from the store
with the same amounts, the orders of the same period): built once, the same object serves
every asker, which costs nothing to build again and compares equal at once wherever Ibis or
the compile cache (`clientela.kpi.compile_cache`) compares expressions.

Only pure expressions belong here: what a key names must be the same expression for the
whole call, whichever metric asks (a table the call writes out is `MetricContext.shared`'s
business). Without the engine's cache (a metric called directly) nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

T = TypeVar("T")

_PREFIX = "built|"
"""Keys of `TableCache.extras` holding built expressions (other results share that dict)."""


def once_per_call(ctx: MetricContext, key: str, make: Callable[[], T]) -> T:
    """`make()` on the first ask of `key` in this engine call, the same value on every later
    one (arrays and fits too, not only expressions: predicted CLV keeps its summaries this
    way). A metric called directly, without the engine's cache, shares nothing."""
    if ctx.cache is None:
        return make()
    extras: dict[str, Any] = ctx.cache.extras
    if key not in extras:
        extras[key] = make()
    return cast(T, extras[key])


def built_once(ctx: MetricContext, key: str, build: Callable[[], ir.Table]) -> ir.Table:
    """`build()`, built on the first ask of `key` in this engine call and the same object on
    every later one. `key` must name everything the expression depends on besides the
    call itself (the store, the slice, the carried state are the same for the whole call)."""
    return once_per_call(ctx, _PREFIX + key, build)
