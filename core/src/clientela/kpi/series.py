"""Period-series machinery: one query answers every period of a series.

A metric that cuts time only through `in_period` (or `period_orders`) and groups by
`ctx.keys` answers a 36-month series in one query: each row carries the index of its
period (PERIOD_COLUMN). `at_each_end` turns per-period increments into the state as of
each period's end; `with_prior` prepends the period before the first (retention).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ibis

from clientela.kpi.built import built_once
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.localtime import first_day
from clientela.kpi.periods import Period, make_period, previous, zone
from clientela.kpi.retail import valid_orders
from clientela.kpi.slicing import with_slice
from clientela.kpi.sql import bucket_index

if TYPE_CHECKING:
    import ibis.expr.types as ir


def _periods(ctx: MetricContext) -> tuple[Period, ...]:
    return ctx.periods or (ctx.period,)


def in_period(ctx: MetricContext, table: ir.Table, column: str) -> ir.Table:
    """The rows of `table` whose `column` (a naive UTC timestamp) falls in the context's
    period.

    For a series (ctx.periods) that is the whole span, with the period index added as
    PERIOD_COLUMN, which `ctx.keys` (and so `summarize`) groups by: a metric that cuts time
    only through this function answers every period of a series in one query."""
    return _cut(ctx, table, column, [p.start_utc for p in _periods(ctx)], ctx.end)


def in_period_days(ctx: MetricContext, table: ir.Table, column: str) -> ir.Table:
    """in_period for a DATE column of local days (traffic, spend): a period covers the days
    that start inside it."""
    return _cut(ctx, table, column, [first_day(p.start) for p in _periods(ctx)],
                first_day(ctx.period.end))


def _cut(ctx: MetricContext, table: ir.Table, column: str, starts: list[Any],
         end: Any) -> ir.Table:
    """The cut, built once per engine call for a table (the very object: the shared valid
    orders or the store's, see `built_once`), column and span: the period's orders are cut
    alike for most of the catalogue's metrics. The entry holds `table`, so no other table
    can take its id while the entry lives."""
    key = f"in_period|{id(table.op())}|{column}|{starts}|{end}|{bool(ctx.periods)}"
    return built_once(ctx, key, lambda: _cut_built(ctx, table, column, starts, end))


def _cut_built(ctx: MetricContext, table: ir.Table, column: str, starts: list[Any],
               end: Any) -> ir.Table:
    value = table[column]
    table = table.filter((value >= ibis.literal(starts[0])) & (value < ibis.literal(end)))
    if ctx.periods:
        table = table.mutate(**{PERIOD_COLUMN: bucket_index(table[column], starts)})
    return table


def with_prior(ctx: MetricContext) -> MetricContext:
    """The context over its period(s) preceded by the period just before the first (same
    length, calendar-aware), always as a series: row index k of the answer's periods is
    period k - 1 of the request, so a metric comparing each period with its predecessor
    (retention) pairs index k with k + 1. A series whose periods are not each other's
    predecessors (a clipped first or last bucket) raises SeriesUnsupported."""
    tz = zone(ctx.timezone)
    periods = _periods(ctx)
    for earlier, later in itertools.pairwise(periods):
        before = previous(later, tz)
        if (before.start_utc, before.end_utc) != (earlier.start_utc, earlier.end_utc):
            raise SeriesUnsupported(ctx.metric)
    prior = previous(periods[0], tz)
    span = make_period(prior.start, periods[-1].end, tz)
    return replace(ctx, period=span, periods=(prior, *periods))


def at_each_end(ctx: MetricContext, per: ir.Table, group: list[str],
                **running: Callable[[Any], ir.Value]) -> ir.Table:
    """State as of each series period's end, from per-period increments.

    `per` has one row per `group` and bucket `_k`: the period index of the rows it
    aggregates (rows before the series belong in 0, since they count for every period).
    Each `running` value is built over a cumulative window (buckets up to this one); the
    rows are then spread with range + unnest over the periods until the group's next
    bucket: one row per group and period from its first bucket on, keyed by PERIOD_COLUMN.
    (A join with a periods table would need an Ibis memtable, which outlives the call.)"""
    n = len(ctx.periods or ())
    keys = [per[g] for g in group]
    window = ibis.cumulative_window(group_by=keys, order_by=per._k)
    following = per._k.lead().over(ibis.window(group_by=keys, order_by=per._k))
    state = per.select(*group, **{name: make(window) for name, make in running.items()},
                       _k=per._k, _until=following.coalesce(n))
    # unnest in the select list: Ibis's Table.unnest is a lateral join, which DuckDB runs
    # through a correlated-subquery rewrite about ten times slower than this
    spread = state.select(*group, *running,
                          **{PERIOD_COLUMN: ibis.range(state._k, state._until).unnest()})
    return spread.mutate(**{PERIOD_COLUMN: spread[PERIOD_COLUMN].cast("int64")})


def period_orders(ctx: MetricContext, amounts: tuple[str, ...] = ("revenue",)) -> ir.Table:
    """Valid orders of the context's period (each tagged with its period in a series), with
    the slice column when one is asked for. A single period names its bounds to
    `valid_orders`, which then reads them from the store in a call of one period."""
    if ctx.periods:
        orders = valid_orders(ctx, amounts=amounts)
    else:
        orders = valid_orders(ctx, since=ctx.start, until=ctx.end, amounts=amounts)
    return with_slice(ctx, in_period(ctx, orders, "placed_at"))


def period_customers(ctx: MetricContext) -> ir.Table:
    """Distinct customers with a valid order in the context's period(s), with ctx.keys."""
    orders = period_orders(ctx, amounts=())
    orders = orders.filter(orders.customer_id.notnull())
    return orders.select("customer_id", *ctx.keys).distinct()
