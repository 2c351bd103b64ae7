"""Slicing: the `slice` column a metric groups by, and aggregation by slice.

An order dimension (channel, store, salesperson) comes from the row itself; a customer
dimension (acquisition channel, segment) is joined from one row per customer, so a
customer known to two sources, or active in two channels, counts once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clientela.kpi.context import (
    CUSTOMER_SLICES,
    ORDER_SLICES,
    SLICE_COLUMN,
    MetricContext,
)
from clientela.kpi.errors import KpiError

if TYPE_CHECKING:
    import ibis.expr.types as ir


def with_slice(ctx: MetricContext, table: ir.Table) -> ir.Table:
    """Add the `slice` column for ctx.by: from the row itself for order dimensions, from the
    customer for customer dimensions. A row without a value gets a null slice."""
    by = ctx.by
    if by is None:
        return table
    if by in ORDER_SLICES and by in table.columns:
        return table.mutate(**{SLICE_COLUMN: table[by].cast("string")})
    if by in CUSTOMER_SLICES or by in ("home_store_id",):
        dims = slice_dims(ctx).rename(_cid="customer_id")
        joined = table.left_join(dims, table.customer_id == dims._cid)
        return joined.drop("_cid")
    raise KpiError(f"metric {ctx.metric!r} cannot be sliced by {by!r} on this table")


def slice_dims(ctx: MetricContext) -> ir.Table:
    """customer_id -> `slice` for a customer dimension (ctx.by): the lookup `with_slice`
    joins, for a metric that slices customers it holds outside the engine."""
    by = ctx.by
    if by is None:
        raise KpiError(f"metric {ctx.metric!r} asked for slice values without a slice")
    dims = segments(ctx) if by == "segment" else customer_dim(ctx)
    return dims.select("customer_id", **{SLICE_COLUMN: dims[by].cast("string")})


def customer_dim(ctx: MetricContext) -> ir.Table:
    """One row per customer_id with its descriptive dimensions (a customer known to two
    sources counts once)."""
    customers = ctx.table("customers")

    def build() -> ir.Table:
        return customers.group_by("customer_id").aggregate(
            acquisition_channel=customers.acquisition_channel.max(),
            home_store_id=customers.home_store_id.max(),
        )

    return ctx.shared("customer_dim", build)


def segments(ctx: MetricContext) -> ir.Table:
    """customer_id -> segment as of `segment_as_of` (the `segment` slice), from the
    segmenter named by `ctx.segmenter`, looked up in the registry."""
    from clientela.plugins import lookup

    as_of = ctx.segment_as_of or ctx.as_of
    try:
        chosen = lookup("segmenter", ctx.segmenter)
    except LookupError as error:
        raise KpiError(f"--segmenter: {error}") from None

    def build() -> ir.Table:
        seg = chosen.segment(ctx.unsliced().with_period(ctx.period, as_of=as_of),
                             chosen.params())
        return seg.select("customer_id", "segment")

    return ctx.shared(f"segments|{ctx.segmenter}|{as_of.isoformat()}", build)


def summarize(table: ir.Table, ctx: MetricContext, **values: ir.Value) -> ir.Table:
    """Aggregate grouped by the slice when there is one; over the whole table otherwise."""
    if ctx.keys:
        return table.group_by(ctx.keys).aggregate(**values)
    return table.aggregate(**values)


def join_keys(left: ir.Table, right: ir.Table, keys: list[str]) -> ir.Table:
    """Join two per-slice aggregates (a cross join of two one-row tables when not slicing).
    Keys match null to null (IS NOT DISTINCT FROM): the null slice, customers without a
    value, is a slice like any other."""
    if not keys:
        return left.cross_join(right)
    renamed = right.rename({f"_{k}": k for k in keys})
    joined = left.left_join(renamed, [left[k].identical_to(renamed[f"_{k}"]) for k in keys])
    return joined.drop(*[f"_{k}" for k in keys])


def as_item(value: ir.Value) -> ir.Value:
    """Label the rows of a table-shaped answer (the engine's `item` column)."""
    return value.cast("string").name("item")
