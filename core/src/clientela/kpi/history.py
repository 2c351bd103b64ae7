"""Customer histories: per customer, orders, revenue, first and last valid order, as of an
instant or as of each period's end of a series.

Every point-in-time metric (repeat, lapsed, recency, frequency, LTV, RFM, win-back) reads
these tables, which the engine materialises once per call and shares between them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

import ibis

from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.retail import valid_orders
from clientela.kpi.series import at_each_end
from clientela.kpi.sql import MONEY, bucket_index, pick_value

if TYPE_CHECKING:
    import ibis.expr.types as ir


def customer_history(ctx: MetricContext, *, until: datetime) -> ir.Table:
    """Per customer, over valid orders before `until`: orders, revenue, first and last order.

    Shared by every point-in-time metric of a period (repeat, lapsed, recency, LTV, RFM...),
    so it is materialised once per instant and dropped when the engine moves on to later
    periods. In a warm call that carries a customer state from an earlier instant
    (`clientela.kpi.carried`), it is that state plus the orders placed since."""
    from clientela.kpi.carried import state_for

    state = state_for(ctx, until)
    if state is not None and state[1] == until:
        # the state itself (win-back's history as of the newest period's start): read in
        # place, neither aggregated again with no order since nor copied out
        return history_since(ctx, until=until, state=state)

    def build() -> ir.Table:
        return history_since(ctx, until=until, state=state)

    return ctx.shared(f"history|{until.isoformat()}", build, transient=True)


def _per_customer(orders: ir.Table) -> ir.Table:
    # count(*), not count(order_id): the same number (an order always has its id), but the
    # database then never reads the id column (at 1M orders about a tenth of RFM's query CPU)
    orders = orders.filter(orders.customer_id.notnull())
    return orders.group_by("customer_id").aggregate(
        orders=orders.count(),
        revenue=orders.revenue.sum(),
        first_at=orders.placed_at.min(),
        last_at=orders.placed_at.max(),
    )


def history_since(ctx: MetricContext, *, until: datetime,
                  state: tuple[ir.Table, datetime] | None) -> ir.Table:
    """Per customer, over valid orders before `until`: orders, revenue, first_at, last_at;
    from every order, or from `state` (the same columns as of an earlier instant, and that
    instant) combined with the orders placed between its instant and `until`.

    The two are equal exactly: a count and a DECIMAL sum add up without rounding, and the
    first and last order are the min and max of both parts (every order in the state is
    placed before every order after it). The combined columns take the full aggregate's
    types, so a metric reads the same table either way."""
    if state is None:
        return _per_customer(valid_orders(ctx, until=until, amounts=("revenue",)))
    rows, since = state
    delta = _per_customer(valid_orders(ctx, since=since, until=until, amounts=("revenue",)))
    types = delta.schema()
    rows = rows.select(*[rows[c].cast(types[c]).name(c) for c in delta.columns])
    if since == until:  # no order in between: the state's rows are the history
        return rows
    both = rows.union(delta, distinct=False)
    combined = both.group_by("customer_id").aggregate(
        orders=both.orders.sum(), revenue=both.revenue.sum(),
        first_at=both.first_at.min(), last_at=both.last_at.max())
    return combined.select(*[combined[c].cast(types[c]).name(c) for c in delta.columns])


def history_at(ctx: MetricContext, *,
               at: Literal["start", "end", "as_of"] = "end") -> ir.Table:
    """Each customer's history (orders, revenue, first_at, last_at over valid orders) as of
    the period's start (`at="start"`), its end (`at="end"`) or the as-of instant
    (`at="as_of"`), with that instant in the column `at`.

    In a series, one row per customer and period in which the customer had ordered by the
    period's end, keyed by PERIOD_COLUMN (see at_each_end): one pass over the orders, where
    asking period by period aggregates the whole history again for every period's end."""
    if at == "start":
        return _history_at_starts(ctx)
    if not ctx.periods:
        moment = ctx.end if at == "end" else ctx.as_of
        return customer_history(ctx, until=moment).mutate(at=ibis.literal(moment))
    if at == "as_of" and ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    periods = ctx.periods
    key = _series_key(ctx)

    def spread() -> ir.Table:
        from clientela.kpi.point_in_time import customer_states, states_carry_histories

        if states_carry_histories(ctx):
            # the customer states (a customer's history as of each ordering period, and
            # until which period it holds) spread over the periods: their one window over
            # the ordering periods, which the other point-in-time metrics share, serves here
            states = customer_states(ctx)
            found = states.select(
                "customer_id", "orders", "revenue", "first_at", "last_at",
                **{PERIOD_COLUMN: ibis.range(states._k, states._until).unnest()})
            return found.select(
                "customer_id", found[PERIOD_COLUMN].cast("int64").name(PERIOD_COLUMN),
                "orders", "first_at", "last_at", "revenue")
        per = history_buckets(ctx)
        found = at_each_end(ctx, per, ["customer_id"],
                            orders=lambda w: per._n.sum().over(w),
                            revenue=lambda w: per._revenue.sum().over(w),
                            first_at=lambda w: per._first.min().over(w),
                            last_at=lambda w: per.last_at)
        # narrow for the table written out: 64-bit money (a customer's revenue stays far
        # below 10^16), and `at` added on reading
        return found.select("customer_id", PERIOD_COLUMN, "orders", "first_at", "last_at",
                            revenue=found.revenue.cast(MONEY))

    # every customer x period row, shared by the eight metrics that read it in a catalogue
    rows = ctx.shared(f"history_at|{key}", spread)
    return rows.select("customer_id", PERIOD_COLUMN, "orders", "revenue", "first_at",
                       "last_at", at=pick_value(rows[PERIOD_COLUMN],
                                                [p.end_utc for p in periods]))


def _series_key(ctx: MetricContext) -> str:
    periods = ctx.periods or ()
    return f"{periods[0].start_utc.isoformat()}|{ctx.end.isoformat()}|{len(periods)}"


def history_buckets(ctx: MetricContext) -> ir.Table:
    """Per customer and series period in which the customer ordered (`_k`, the period
    index; orders before the series count in 0): `_n` valid orders, `_revenue`, `_first`
    and `last_at`. The increments the histories at each period's end are summed from
    (history_at, and the point-in-time aggregates of `clientela.kpi.point_in_time`): one
    group-by of the orders, shared by both."""
    starts = [p.start_utc for p in ctx.periods or ()]

    def build() -> ir.Table:
        orders = valid_orders(ctx, until=ctx.end, amounts=("revenue",))
        orders = orders.filter(orders.customer_id.notnull())
        orders = orders.mutate(_k=bucket_index(orders.placed_at, starts))
        return orders.group_by(["customer_id", "_k"]).aggregate(
            _n=orders.count(), _revenue=orders.revenue.sum(),
            _first=orders.placed_at.min(), last_at=orders.placed_at.max())

    return ctx.shared(f"history_buckets|{_series_key(ctx)}", build)


def _history_at_starts(ctx: MetricContext) -> ir.Table:
    """Histories as of each period's start. A series' periods are contiguous, so period k
    starts where k - 1 ends: the histories at the ends (shared with every other metric),
    moved one period on, plus the histories before the series for period 0."""
    before = customer_history(ctx, until=ctx.start).mutate(at=ibis.literal(ctx.start))
    if not ctx.periods:
        return before
    ends = history_at(ctx)
    later = ends.filter(ends[PERIOD_COLUMN] < len(ctx.periods) - 1)
    later = later.mutate(**{PERIOD_COLUMN: later[PERIOD_COLUMN] + 1})
    first = before.mutate(**{PERIOD_COLUMN: ibis.literal(0, type="int64")})
    first = first.select(*[first[c].cast(later[c].type()).name(c) for c in later.columns])
    return later.union(first, distinct=False)


def history_days(ctx: MetricContext, *, lapse_days: int,
                 at: Literal["end", "as_of"] = "end") -> ir.Table:
    """Per ctx.keys (period, slice) and `days` (whole local calendar days from the
    customer's last valid order to the instant, see calendar_days_between), over the
    customers with a valid order by the instant (see history_at): `customers`, `repeaters`
    (2+ orders), `lapsed` (last order more than `lapse_days` days before the instant) and
    `orders` (their valid orders).

    One table answers every point-in-time aggregate that needs no customer-level join:
    the totals of repeat_rate, lapsed_customers and avg_frequency (`history_totals`,
    summed over the days) and recency_days' mean, median and histogram (from the customers
    per day). A few thousand rows per period, where the history has one per customer. In a
    series it is added up from the customers' ordering periods
    (`clientela.kpi.point_in_time`), not from every customer x period row."""
    from clientela.kpi.localtime import calendar_days_between
    from clientela.kpi.slicing import with_slice
    from clientela.kpi.sql import indicator

    def build() -> ir.Table:
        if ctx.periods:
            from clientela.kpi.point_in_time import history_days_by_states

            if at == "as_of" and ctx.as_of_fixed:
                raise SeriesUnsupported(ctx.metric)  # one instant for every period
            return history_days_by_states(ctx, lapse_days=lapse_days)
        h = with_slice(ctx, history_at(ctx, at=at))
        h = h.mutate(days=calendar_days_between(ctx, h.last_at, h.at))
        return h.group_by([*ctx.keys, "days"]).aggregate(
            customers=h.count(), repeaters=indicator(h.orders >= 2).sum(),
            lapsed=indicator(h.last_at < h.at - ibis.interval(days=lapse_days)).sum(),
            orders=h.orders.sum())

    # one period too (the warm call's newest month): repeat_rate, lapsed_customers,
    # avg_frequency and recency_days then scan the history once between them, not once
    # each; dropped with the period
    return ctx.shared(f"history_days|{_totals_key(ctx, lapse_days, at)}", build,
                      transient=not ctx.periods)


def _totals_key(ctx: MetricContext, lapse_days: int, at: str) -> str:
    return "|".join(str(part) for part in (
        # in a series the as-of instants are the period ends: one table for both
        ctx.start.isoformat(), ctx.end.isoformat(), len(ctx.periods or ()),
        at if ctx.as_of_fixed else "end",
        ctx.by, ctx.segmenter, ctx.segment_as_of, lapse_days))


def history_totals(ctx: MetricContext, *, lapse_days: int,
                   at: Literal["end", "as_of"] = "end") -> ir.Table:
    """Per ctx.keys (period, slice), over the customers with a valid order by the instant
    (see history_at): `customers`, `repeaters` (2+ orders), `lapsed` (last order more than
    `lapse_days` days before the instant) and `orders` (their valid orders).

    repeat_rate, lapsed_customers and avg_frequency read these few rows, summed from
    `history_days` (which recency_days reads too): in a series the customer x period
    history is scanned once for the four of them, not once each. (The counts are sums of
    `indicator`, null over no row, as each metric's own aggregate was; `customers` is 0
    there, as a count is.)"""
    from clientela.kpi.slicing import summarize

    def build() -> ir.Table:
        d = history_days(ctx, lapse_days=lapse_days, at=at)
        return summarize(d, ctx, customers=d.customers.sum().coalesce(0),
                         repeaters=d.repeaters.sum(), lapsed=d.lapsed.sum(),
                         orders=d.orders.sum())

    return ctx.shared(f"history_totals|{_totals_key(ctx, lapse_days, at)}", build,
                      transient=not ctx.periods)
