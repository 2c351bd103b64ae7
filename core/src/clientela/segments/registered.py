"""Segmenters by name, from the registry: the one way every command segments customers.

`segment_table` is the Ibis table a segmenter gives for a context;
`score` is that table for a store as of an instant, as Arrow, which
`clientela segments`, a push and a script all use; `save_segments` scores and
replaces the store's `<name>_scores` table, what `clientela segments <name>`
does; `summarize` is what the command prints, the segmenter's own or a
generic one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from clientela.errors import NotFound
from clientela.segments.api import Segmenter, SegmentSummary
from clientela.store import derived

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext
    from clientela.store import Store


class UnknownSegmenter(NotFound):
    """No segmenter of that name is installed; the message lists those that are."""


def segmenter(name: str) -> Segmenter:
    from clientela.plugins import registry

    try:
        found: Segmenter = registry().get("segmenter", name)
    except LookupError as error:
        raise UnknownSegmenter(str(error)) from None
    return found


def segment_table(ctx: MetricContext, name: str,
                  params: Mapping[str, Any] | None = None) -> ir.Table:
    """customer_id, segment and the segmenter's scores, as of `ctx.as_of`."""
    chosen = segmenter(name)
    table: ir.Table = chosen.segment(ctx, chosen.params.model_validate(dict(params or {})))
    return table


def score(store: object, name: str, as_of: datetime, timezone: str, currency: str,
          params: Mapping[str, Any] | None = None) -> pa.Table:
    """Customer-level segments as Arrow, ordered by customer_id, with an `as_of` column."""
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.engine import backend_of
    from clientela.kpi.periods import Period

    backend = backend_of(store)
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    ctx = MetricContext(backend=backend, period=period, as_of=as_of, timezone=timezone,
                        currency=currency, metric=name, cache=TableCache(backend))
    scored = segment_table(ctx, name, params).order_by("customer_id").to_pyarrow()
    return scored.append_column("as_of", pa.array([as_of] * scored.num_rows, pa.timestamp("us")))


def scores_table(name: str) -> str:
    """The store table `save` replaces: `<segmenter>_scores` (`rfm_scores`, ...)."""
    return derived.segment_scores(name).name


def save(store: Store, name: str, scored: pa.Table) -> str:
    """Replace the segmenter's scores table in one transaction (destinations and reports
    read one current version); returns the table's name."""
    table = derived.segment_scores(name)
    derived.replace(store, table, scored)
    return table.name


def save_segments(store: Store, name: str, as_of: datetime, timezone: str, currency: str,
                  params: Mapping[str, Any] | None = None, *, engine: object = None
                  ) -> pa.Table:
    """Score every customer with segmenter `name` as of `as_of` (naive UTC) and replace the
    store's `<name>_scores` with the result, which is returned: `clientela segments <name>`
    as a function, so a script gets the same table the command saves.

    `engine` is where the scores are computed: an Ibis backend holding the canonical tables
    (Spark reading an export, PostgreSQL; see `clientela.agency.engines`), default the store
    itself. The segmenter's definition is the same everywhere; only its result, one row per
    customer, travels back, and it always lands in the workspace's store."""
    scored = score(store if engine is None else engine, name, as_of, timezone, currency,
                   params)
    save(store, name, scored)
    return scored


def summarize(name: str, scored: pa.Table) -> SegmentSummary:
    chosen = segmenter(name)
    if chosen.summarize is not None:
        return chosen.summarize(scored)
    return generic_summary(scored)


def generic_summary(scored: pa.Table) -> SegmentSummary:
    """Customers and share per segment, largest first, and revenue when the table has it."""
    total = scored.num_rows or 1
    has_revenue = "revenue" in scored.column_names
    counts = scored.group_by("segment").aggregate(
        [("segment", "count"), *([("revenue", "sum")] if has_revenue else [])])
    rows = sorted(counts.to_pylist(), key=lambda r: (-r["segment_count"], str(r["segment"])))
    columns = ("segment", "customers", "share", *(("revenue",) if has_revenue else ()))
    formatted = [(str(r["segment"]), f"{r['segment_count']:,}", f"{r['segment_count'] / total:.1%}",
                  *((f"{float(r['revenue_sum']):,.2f}",) if has_revenue else ()))
                 for r in rows]
    return SegmentSummary(columns, formatted)
