"""Segmenters by name, from the registry: the one way every command segments customers.

`segment_table` is the Ibis table a segmenter gives for a context;
`score` is that table for a store as of an instant, as Arrow, which
`clientela segments`, a push and a script all use; `summarize` is what
`clientela segments` prints, the segmenter's own or a generic one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from clientela.segments.api import Segmenter, SegmentSummary

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext


class UnknownSegmenter(LookupError):
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
    return f"{name}_scores"


def save(store: Any, name: str, scored: pa.Table) -> str:
    """Replace the segmenter's scores table in one transaction (destinations and reports
    read one current version); returns the table's name."""
    table = scores_table(name)
    with store.transaction() as con:
        con.register("_segments_new", scored)
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _segments_new')
        con.unregister("_segments_new")
    return table


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
