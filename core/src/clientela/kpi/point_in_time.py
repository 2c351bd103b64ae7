"""Point-in-time aggregates of a series without the customer x period history.

Each customer's state as of a period's end (valid orders so far, last valid order) changes
only in the periods in which the customer orders: the state reached in period k holds
until the customer's next ordering period. So the counts the point-in-time metrics ask
for (customers, repeaters, lapsed, their orders, per day of recency) can be added up from
one row per customer and ordering period (`history_buckets`), grouped by what decides
each count (the last order's local day, from which period on it is lapsed, whether it is a
repeat customer), and only those few groups are spread over the periods they hold for.

That replaces a scan of every customer x period row (one per customer and period from
the first order on: 15M at 10M orders) with a scan of the ordering periods and a spread
of a few hundred thousand groups. The answers are the same numbers exactly: every count
is a count of the same customers, every day an integer computed by the same function.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt

from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.history import history_buckets
from clientela.kpi.localtime import calendar_days_between
from clientela.kpi.slicing import with_slice
from clientela.kpi.sql import MONEY, count_at_or_before, indicator, pick_value

if TYPE_CHECKING:
    import ibis.expr.types as ir


def customer_states(ctx: MetricContext) -> ir.Table:
    """Per customer and series period `_k` in which the customer ordered: `orders` (valid
    orders up to that period's end), `revenue` (their revenue), `first_at` and `last_at`
    (the first and last of them) and `_until`, the index of the customer's next ordering
    period (the number of periods when none): the state holds as of the ends of periods
    _k .. _until - 1. With the period's own `_revenue` and `_before`, the customer's last
    order before the period (null for the first).

    One window over `history_buckets`, written out once per call: recency, repeat, lapsed,
    win-back and the open gaps of return_probability all read it. `revenue` and `first_at`
    are there only in a call answering many metrics (`states_carry_histories`), where the
    customer x period histories of RFM (`history_at`) are these rows spread over the periods
    they hold for."""
    def build() -> ir.Table:
        per = history_buckets(ctx)
        n = len(ctx.periods or ())
        upto = ibis.cumulative_window(group_by=per.customer_id, order_by=per._k)
        order = ibis.window(group_by=per.customer_id, order_by=per._k)
        histories = {
            # 64-bit money, as history_at writes it (a customer's revenue stays far below
            # 10^16)
            "revenue": per._revenue.sum().over(upto).cast(MONEY),
            "first_at": per._first.min().over(upto),
        } if states_carry_histories(ctx) else {}
        return per.select("customer_id", "_k", "last_at", "_revenue",
                          orders=per._n.sum().over(upto), **histories,
                          _until=per._k.lead().over(order).coalesce(n),
                          # nullable: Ibis would carry last_at's NOT NULL into the table
                          _before=per.last_at.lag().over(order).cast(
                              dt.Timestamp(nullable=True)))

    return ctx.shared(f"customer_states|{ctx.start.isoformat()}|{ctx.end.isoformat()}|"
                      f"{len(ctx.periods or ())}", build)


def states_carry_histories(ctx: MetricContext) -> bool:
    """Whether `customer_states` carries each customer's running revenue and first order,
    so that `history_at` spreads the states instead of running its own window over the
    ordering periods: in a call answering many metrics (the catalogue, `MANY_METRICS`, as
    for the shared valid orders), where the states are written out once and RFM reads them
    too. Asked alone, repeat rate, recency and the others read the states inside their own
    query, and the database computes every window aggregate of it whether read or not
    (about a fifth more CPU for repeat_rate alone at 1M orders)."""
    from clientela.kpi.retail import MANY_METRICS

    return ctx.cache is not None and ctx.cache.materialise and \
        ctx.cache.metrics >= MANY_METRICS


def history_days_by_states(ctx: MetricContext, *, lapse_days: int) -> ir.Table:
    """`history_days` of a series (per ctx.keys and `days`: customers, repeaters, lapsed,
    orders) from `customer_states`, as of each period's end.

    The states are grouped by slice, ordering period, next ordering period, the local day
    of the last order (as whole days to the series' end, `_to_end`), `_lapsed_from` and
    whether the customer has 2+ orders. `_lapsed_from` is the number of lapse thresholds
    (period end - lapse_days, ascending) at or before the last order: the last order is
    before period p's threshold exactly when p >= _lapsed_from, which is the history's
    `last_at < at - lapse_days` for that period. The days to period p's end are _to_end
    minus the days from p's end to the series' end: calendar_days_between subtracts whole
    local days, so this is its value for the customer and p."""
    periods = ctx.periods or ()
    ends = [p.end_utc for p in periods]
    thresholds = [end - timedelta(days=lapse_days) for end in ends]
    states = with_slice(ctx, customer_states(ctx))
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    states = states.mutate(
        _to_end=calendar_days_between(ctx, states.last_at, ctx.end),
        _lapsed_from=count_at_or_before(states.last_at, thresholds),
        _repeat=indicator(states.orders >= 2))
    groups = states.group_by(
        [*slices, "_k", "_until", "_to_end", "_lapsed_from", "_repeat"]
    ).aggregate(_customers=states.count(), _orders=states.orders.sum())
    spread = groups.select(
        *slices, "_to_end", "_lapsed_from", "_repeat", "_customers", "_orders",
        **{PERIOD_COLUMN: ibis.range(groups._k, groups._until).unnest()})
    period = spread[PERIOD_COLUMN].cast("int64")
    end_to_series_end = calendar_days_between(
        ctx, pick_value(period, ends), ibis.literal(ctx.end, type="timestamp"))
    spread = spread.mutate(**{PERIOD_COLUMN: period},
                           days=spread._to_end - end_to_series_end)
    lapsed = ibis.ifelse(spread[PERIOD_COLUMN] >= spread._lapsed_from, spread._customers, 0)
    return spread.group_by([*ctx.keys, "days"]).aggregate(
        customers=spread._customers.sum(),
        repeaters=(spread._customers * spread._repeat).sum(),
        lapsed=lapsed.sum(), orders=spread._orders.sum())


def winback_counts(ctx: MetricContext, *, lapse_days: int) -> ir.Table:
    """Per ctx.keys of a series with customers lapsed at the period's start: `lapsed`
    (customers whose last valid order before the start is more than lapse_days before it),
    `won` (those of them with a valid order in the period) and `revenue` (those orders'
    revenue).

    From period 1 on no customer x period row is read. A customer lapsed at period p's
    start and back in it has an ordering period p whose previous ordering period's last
    order is before that start's threshold: one lag over `history_buckets`, whose row p
    holds exactly the period's orders and revenue. The lapsed at p's start are the lapsed
    at p - 1's end (`history_totals`; a series' periods are contiguous). Period 0 starts
    after orders that bucket 0 also holds, so it is answered from the histories as of the
    series' start and the period's own orders, as a single period would be."""
    from clientela.kpi.history import customer_history, history_totals
    from clientela.kpi.retail import valid_orders
    from clientela.kpi.sql import money_sum

    periods = ctx.periods or ()
    ends = [p.end_utc for p in periods]
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    zero = ibis.literal(0, type="int64")
    money = ibis.literal(0, type="decimal(38, 2)")

    # period p's start is period p - 1's end; index 0 of the thresholds is never read
    thresholds = [ends[0] - timedelta(days=lapse_days)] + [
        end - timedelta(days=lapse_days) for end in ends[:-1]]
    back = customer_states(ctx)
    back = back.filter((back._k >= 1) & back._before.notnull()
                       & (back._before < pick_value(back._k, thresholds)))
    back = with_slice(ctx, back)
    later_won = back.group_by([*slices, back._k.cast("int64").name(PERIOD_COLUMN)]).aggregate(
        _won=back.count(), _revenue=back._revenue.sum())

    totals = history_totals(ctx, lapse_days=lapse_days)
    totals = totals.filter(totals[PERIOD_COLUMN] < len(periods) - 1)
    later_lapsed = totals.select(*slices, **{PERIOD_COLUMN: totals[PERIOD_COLUMN] + 1},
                                 _lapsed=totals.lapsed.coalesce(0))

    start = ctx.start
    h = customer_history(ctx, until=start)
    first = with_slice(ctx, h.filter(h.last_at < start - timedelta(days=lapse_days)))
    o = valid_orders(ctx, since=start, until=periods[0].end_utc, amounts=("revenue",))
    o = o.filter(o.customer_id.notnull())
    o = o.group_by(_cid=o.customer_id).aggregate(_rev=o.revenue.sum())
    joined = first.left_join(o, first.customer_id == o._cid)
    first_counts = joined.group_by(slices).aggregate(
        _lapsed=joined.count(), _won=indicator(joined._cid.notnull()).sum(),
        _revenue=joined._rev.sum()) if slices else joined.aggregate(
        _lapsed=joined.count(), _won=indicator(joined._cid.notnull()).sum(),
        _revenue=joined._rev.sum())

    def conform(t: ir.Table, *, period: ir.Value | None = None, **values: ir.Value
                ) -> ir.Table:
        cols = {"_lapsed": zero, "_won": zero, "_revenue": money}
        cols.update(values)
        return t.select(*slices, **{PERIOD_COLUMN: (period if period is not None
                                                     else t[PERIOD_COLUMN]).cast("int64")},
                        **{k: v.cast("decimal(38, 2)" if k == "_revenue" else "int64")
                           for k, v in cols.items()})

    parts = ibis.union(
        conform(later_won, _won=later_won._won, _revenue=later_won._revenue),
        conform(later_lapsed, _lapsed=later_lapsed._lapsed),
        conform(first_counts, period=ibis.literal(0, type="int64"),
                _lapsed=first_counts._lapsed, _won=first_counts._won.coalesce(0),
                _revenue=first_counts._revenue.coalesce(money)),
        distinct=False)
    found = parts.group_by(ctx.keys).aggregate(
        lapsed=parts._lapsed.sum(), won=parts._won.sum(), revenue=money_sum(parts._revenue))
    return found.filter(found.lapsed > 0)


def open_gap_reaches(ctx: MetricContext, *, window_days: int, max_months: int) -> ir.Table:
    """Per ctx.keys and `reach`: `_n`, the open gaps (from a customer's last valid order to
    a period's end) that reach that month, as of each period's end (return_probability's
    open episodes; `_ret` is 0, an open gap has not returned).

    The whole days from the last order to period p's end are days_between's floor of
    (epoch(end_p) - epoch(last_at)) / 86400. With the last order's epoch seconds written
    as 86400 a + b and the end's as 86400 A_p + B_p (0 <= b, B_p < 86400) that is
    A_p - a, less one when b > B_p. So the states are grouped by UTC day a and by `_past`,
    how many of the period ends' distinct times of day B are before b (b > B_p exactly when
    B_p's rank among them is below _past), and those groups are spread over the periods."""
    from clientela.kpi.localtime import epoch

    periods = ctx.periods or ()
    day = 86400
    seconds = [int((p.end_utc - datetime(1970, 1, 1)).total_seconds()) for p in periods]
    times = sorted({s % day for s in seconds})
    states = with_slice(ctx, customer_states(ctx))
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    s = epoch(states.last_at)
    a = (s.cast("float64") / day).floor().cast("int64")
    b = s - a * day
    past = sum((indicator(b > t) for t in times[1:]), indicator(b > times[0]))
    states = states.select(*slices, "_k", "_until", _a=a, _past=past)
    groups = states.group_by([*slices, "_k", "_until", "_a", "_past"]).aggregate(
        _c=states.count())
    spread = groups.select(*slices, "_a", "_past", "_c",
                           **{PERIOD_COLUMN: ibis.range(groups._k, groups._until).unnest()})
    period = spread[PERIOD_COLUMN].cast("int64")
    end_day = pick_value(period, [s // day for s in seconds])
    end_rank = pick_value(period, [times.index(s % day) for s in seconds])
    days = end_day - spread._a - indicator(end_rank < spread._past)
    months = (days.cast("float64") / window_days).floor().cast("int64")
    spread = spread.mutate(**{PERIOD_COLUMN: period},
                           reach=ibis.least(months - 1, max_months))
    spread = spread.filter(spread.reach >= 0)
    return spread.group_by([*ctx.keys, "reach"]).aggregate(
        _n=spread._c.sum(), _ret=ibis.literal(0, type="int64"))
