"""Per-period totals of the valid orders: one group-by that the simple sales metrics share.

orders, revenue, gross_sales, discount_total, aov, purchase_frequency, active_customers
and items_per_order are each a sum, a count or a distinct count over the valid orders of a
period (and slice). Asked one by one they scan the orders once each; `period_totals`
computes every one of those aggregates in a single group-by by `ctx.keys` (the period
index and the slice), written out once per engine call, and each metric reads its answer
from a few rows per period.

The table is keyed by the call's slice, not summed from finer rows: a distinct count
(active customers) cannot be added up across slices or channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clientela.kpi.context import MetricContext
from clientela.kpi.retail import AMOUNTS
from clientela.kpi.series import period_orders
from clientela.kpi.slicing import join_keys, summarize
from clientela.kpi.sql import money_sum

if TYPE_CHECKING:
    import ibis.expr.types as ir

TOTALS: tuple[str, ...] = ("orders", "identified_orders", "customers", "revenue", "gross",
                           "order_discount", "loyalty_value", "discount_value")
"""The columns of `period_totals` besides ctx.keys."""


def period_totals(ctx: MetricContext, *columns: str) -> ir.Table:
    """ctx.keys and `columns` (all of TOTALS when none are named), per ctx.keys over the
    valid orders of the period(s): `orders` (count), `identified_orders` (those with a
    customer; a guest checkout has none), `customers` (distinct customers), and the money
    sums `revenue`, `gross`, `order_discount`, `loyalty_value` and `discount_value` (each
    0, not null, over no order).

    A group appears when it has at least one valid order; one period unsliced is one row
    even without orders (count 0), as an aggregate over no row gives. In a series the
    table of every total is shared by the metrics of the call; a metric asking alone (or
    one period) gets a group-by of just the columns it names, so `orders` alone does not
    convert amounts or count distinct customers."""
    wanted = columns or TOTALS
    unknown = sorted(set(wanted) - set(TOTALS))
    if unknown:
        raise ValueError(f"period_totals: no total named {unknown}; expected some of {TOTALS}")

    def aggregate(names: tuple[str, ...]) -> ir.Table:
        o = period_orders(ctx, amounts=tuple(a for a in AMOUNTS if a in names))
        found = {"orders": o.count, "identified_orders": o.customer_id.count,
                 "customers": o.customer_id.nunique}
        return summarize(o, ctx, **{name: found[name]() if name in found
                                    else money_sum(o[name]) for name in names})

    if not ctx.periods:
        return aggregate(wanted)
    every = ctx.shared(f"period_totals|{_key(ctx)}", lambda: aggregate(TOTALS),
                       once=lambda: aggregate(wanted))
    return every.select(*ctx.keys, *wanted)


def period_units(ctx: MetricContext) -> ir.Table:
    """Per ctx.keys: `orders` and `units`, the quantity on the order lines of the period's
    valid orders (0 where the orders have no line).

    The lines meet the orders in one join, summed straight by period and slice; summing
    each order's lines first would build a hash table of every order in the store. The join
    is on the whole key, (source, order_id): two sources' orders "1001" each keep their own
    lines."""
    totals = period_totals(ctx, "orders")
    o = period_orders(ctx, amounts=())
    lines = ctx.table("order_lines")
    lines = lines.select(_osource=lines.source, _oid=lines.order_id, _quantity=lines.quantity)
    joined = o.inner_join(lines, (o.source == lines._osource) & (o.order_id == lines._oid))
    units = summarize(joined, ctx, _units=joined._quantity.sum())
    found = join_keys(totals.select(*ctx.keys, "orders"), units, ctx.keys)
    return found.select(*ctx.keys, "orders", units=found._units.coalesce(0))


def _key(ctx: MetricContext) -> str:
    """What the totals depend on: the span, how it is cut, and the slice."""
    return "|".join(str(part) for part in (
        ctx.start.isoformat(), ctx.end.isoformat(), len(ctx.periods or ()),
        ctx.by, ctx.segmenter, ctx.segment_as_of))
