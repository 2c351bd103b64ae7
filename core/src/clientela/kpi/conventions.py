"""The conventions of docs/metrics.md, written once and reused by every metric.

Valid orders, revenue in the reporting currency, a customer's first valid
order, active customers, slicing and null-on-empty-denominator division all
live here, so a metric reads like its one-line definition and a fix to a
convention reaches every metric at once. Everything is plain Ibis: nothing
engine-specific.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.datatypes as dt

from clientela.kpi.context import (
    CUSTOMER_SLICES,
    ORDER_SLICES,
    PERIOD_COLUMN,
    SLICE_COLUMN,
    MetricContext,
)
from clientela.kpi.errors import KpiError, SeriesUnsupported
from clientela.kpi.periods import Period, buckets, from_utc, make_period, previous, zone
from clientela.model import INVALID_ORDER_STATUSES

if TYPE_CHECKING:
    import ibis.expr.types as ir

MONEY = dt.Decimal(18, 2)
SECONDS_PER_DAY = 86400


def _rate(orders: ir.Table) -> ir.Value:
    """Reporting-currency units per order-currency unit. An order in the reporting currency
    has no rate (1); an order in another currency always has one: the import refuses a
    foreign order without it, so nothing foreign is ever summed at 1 by accident."""
    return orders.fx_rate.coalesce(ibis.literal(1, type=dt.Decimal(18, 8)))


def to_money(value: ir.NumericValue) -> ir.DecimalValue:
    """Round a converted amount to cents and keep it DECIMAL, so sums are exact on every engine."""
    return value.round(2).cast(MONEY)


AMOUNTS: dict[str, tuple[str, ...]] = {
    "revenue": ("total", "-refunded_amount"),
    "gross": ("subtotal",),
    "order_discount": ("discount",),
    "loyalty_value": ("loyalty_discount",),
    "discount_value": ("discount", "loyalty_discount"),
}
"""Converted amounts valid_orders can add: name -> the order columns summed (a leading '-'
subtracts) before conversion."""


ORDER_COLUMNS: tuple[str, ...] = (
    "order_id", "customer_id", "placed_at", "channel", "store_id", "salesperson_id", "coupon",
    "loyalty_points_earned", "loyalty_points_redeemed",
)
"""The order columns valid_orders carries besides the converted amounts: what metrics read.
The raw money columns, status, currency and store bookkeeping stay out, so the table every
metric shares is about half as wide (it is held in memory for a whole engine call); a
metric needing another column reads ctx.table("orders")."""


def valid_orders(ctx: MetricContext, *, since: datetime | None = None,
                 until: datetime | None = None,
                 amounts: tuple[str, ...] | None = None) -> ir.Table:
    """Valid orders placed in [since, until), with amounts in the reporting currency.

    `amounts` picks the converted DECIMAL(18,2) columns to add (see AMOUNTS): `revenue`
    (total - refunded), `gross` (subtotal), `order_discount`, `loyalty_value`,
    `discount_value` (order discount plus loyalty discount); all of them by default.

    Inside an engine call the valid orders with every amount are computed once, sorted by
    time (so a period's filter skips most of the table on DuckDB), and each metric and
    period filters that table: Ibis compiles far less, and the conversions run once.
    """
    if ctx.cache is None or not ctx.cache.materialise:
        return _valid_orders(ctx, since=since, until=until, amounts=amounts)
    columns = ORDER_COLUMNS

    def build() -> ir.Table:
        every = _valid_orders(ctx, since=None, until=None, amounts=None)
        return every.order_by("placed_at")

    def direct() -> ir.Table:
        return _valid_orders(ctx, since=since, until=until, amounts=amounts)

    base = ctx.shared("valid_orders", build, once=direct)
    if since is not None:
        base = base.filter(base.placed_at >= since)
    if until is not None:
        base = base.filter(base.placed_at < until)
    wanted = tuple(AMOUNTS) if amounts is None else amounts
    return base.select(*columns, *[name for name in AMOUNTS if name in wanted])


def _valid_orders(ctx: MetricContext, *, since: datetime | None, until: datetime | None,
                  amounts: tuple[str, ...] | None) -> ir.Table:
    """valid_orders straight from the store table. Ask for only the amounts you use: Ibis
    compiles every column, and compilation is most of the cost of a query on a small store."""
    orders = ctx.table("orders")
    orders = orders.filter(~orders.status.isin(list(INVALID_ORDER_STATUSES)))
    if since is not None:
        orders = orders.filter(orders.placed_at >= since)
    if until is not None:
        orders = orders.filter(orders.placed_at < until)
    if amounts is None:
        amounts = tuple(AMOUNTS)
    if not amounts:
        return orders.select(*ORDER_COLUMNS)
    rate = _rate(orders)
    added: dict[str, ir.Value] = {}
    for name in amounts:
        if name == "discount_value":
            continue
        parts = AMOUNTS[name]
        value = orders[parts[0]]
        for part in parts[1:]:
            value = value - orders[part[1:]] if part.startswith("-") else value + orders[part]
        added[name] = to_money(value * rate)
    if "discount_value" in amounts:
        added["discount_value"] = (
            added.get("order_discount", to_money(orders.discount * rate))
            + added.get("loyalty_value", to_money(orders.loyalty_discount * rate))
        ).cast(MONEY)
    return orders.select(*ORDER_COLUMNS, **{name: added[name] for name in amounts})


def bucket_index(value: ir.Value, starts: list[Any]) -> ir.IntegerValue:
    """The index of the contiguous period whose start is the last of `starts` at or before
    `value` (a value inside the span): a binary search written as nested CASEs, a handful of
    comparisons per row on every engine, where a range join against a periods table costs a
    join."""

    def search(lo: int, hi: int) -> ir.IntegerValue:
        if hi - lo == 1:
            return ibis.literal(lo, type="int64")
        mid = (lo + hi) // 2
        return ibis.ifelse(value < ibis.literal(starts[mid]), search(lo, mid), search(mid, hi))

    return search(0, len(starts))


def count_at_or_before(value: ir.Value, instants: list[Any]) -> ir.IntegerValue:
    """How many of the sorted `instants` are at or before `value` (0 to len(instants)), as a
    binary search of nested CASEs. With a series' period ends, that is the index of the first
    period whose end is after `value` (len when none is): from which period on a row counts.
    A null `value` counts them all, so callers map nulls (never expiring, still open) first
    or rely on that."""

    def search(lo: int, hi: int) -> ir.IntegerValue:  # the count is in [lo, hi]
        if lo == hi:
            return ibis.literal(lo, type="int64")
        mid = (lo + hi) // 2
        return ibis.ifelse(value < ibis.literal(instants[mid]), search(lo, mid),
                           search(mid + 1, hi))

    return search(0, len(instants))


def pick_value(index: ir.IntegerValue, values: list[Any]) -> ir.Value:
    """values[index] for an index in range, as nested CASEs (the inverse of `bucket_index`)."""

    def pick(lo: int, hi: int) -> ir.Value:
        if hi - lo == 1:
            return ibis.literal(values[lo])
        mid = (lo + hi) // 2
        return ibis.ifelse(index < mid, pick(lo, mid), pick(mid, hi))

    return pick(0, len(values))


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


def first_day(local: datetime) -> date:
    """The first local day whose midnight is at or after the local wall time `local`."""
    day = local.date()
    return day if local == datetime(day.year, day.month, day.day) else day + timedelta(days=1)


def _periods(ctx: MetricContext) -> tuple[Period, ...]:
    return ctx.periods or (ctx.period,)


def _cut(ctx: MetricContext, table: ir.Table, column: str, starts: list[Any],
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


def period_orders(ctx: MetricContext, amounts: tuple[str, ...] = ("revenue",)) -> ir.Table:
    """Valid orders of the context's period (each tagged with its period in a series), with
    the slice column when one is asked for."""
    orders = valid_orders(ctx, amounts=amounts)
    return with_slice(ctx, in_period(ctx, orders, "placed_at"))


def period_customers(ctx: MetricContext) -> ir.Table:
    """Distinct customers with a valid order in the context's period(s), with ctx.keys."""
    orders = period_orders(ctx, amounts=())
    orders = orders.filter(orders.customer_id.notnull())
    return orders.select("customer_id", *ctx.keys).distinct()


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
    from clientela.plugins import registry

    as_of = ctx.segment_as_of or ctx.as_of
    try:
        chosen = registry().get("segmenter", ctx.segmenter)
    except LookupError as error:
        raise KpiError(f"--segmenter: {error}") from None

    def build() -> ir.Table:
        seg = chosen.segment(ctx.unsliced().with_period(ctx.period, as_of=as_of),
                             chosen.params())
        return seg.select("customer_id", "segment")

    return ctx.shared(f"segments|{ctx.segmenter}|{as_of.isoformat()}", build)


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


def first_orders(ctx: MetricContext, *, until: datetime | None = None) -> ir.Table:
    """Each customer's first valid order ever (before `until`): customer_id, first_at and the
    first order's channel, store and salesperson (so new customers slice by where they began).

    The first order before `until` is the first order ever when that one is before `until`
    (and there is none otherwise), so the table is computed once over the whole history and
    filtered per period."""

    def build() -> ir.Table:
        orders = valid_orders(ctx, amounts=())
        orders = orders.filter(orders.customer_id.notnull())
        ranked = orders.mutate(
            _n=ibis.row_number().over(group_by=orders.customer_id,
                                      order_by=[orders.placed_at, orders.order_id])
        )
        first = ranked.filter(ranked._n == 0)
        return first.select(
            "customer_id", "channel", "store_id", "salesperson_id", "order_id",
            first_at=first.placed_at,
        )

    first = ctx.shared("first_orders", build)
    return first if until is None else first.filter(first.first_at < until)


def customer_history(ctx: MetricContext, *, until: datetime) -> ir.Table:
    """Per customer, over valid orders before `until`: orders, revenue, first and last order.

    Shared by every point-in-time metric of a period (repeat, lapsed, recency, LTV, RFM...),
    so it is materialised once per instant and dropped when the engine moves on to later
    periods."""

    def build() -> ir.Table:
        orders = valid_orders(ctx, until=until, amounts=("revenue",))
        orders = orders.filter(orders.customer_id.notnull())
        return orders.group_by("customer_id").aggregate(
            orders=orders.order_id.count(),
            revenue=orders.revenue.sum(),
            first_at=orders.placed_at.min(),
            last_at=orders.placed_at.max(),
        )

    return ctx.shared(f"history|{until.isoformat()}", build, transient=True)


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
    starts = [p.start_utc for p in periods]

    def build() -> ir.Table:
        orders = valid_orders(ctx, until=ctx.end, amounts=("revenue",))
        orders = orders.filter(orders.customer_id.notnull())
        orders = orders.mutate(_k=bucket_index(orders.placed_at, starts))
        return orders.group_by(["customer_id", "_k"]).aggregate(
            _n=orders.count(), _revenue=orders.revenue.sum(),
            _first=orders.placed_at.min(), last_at=orders.placed_at.max())

    key = f"{starts[0].isoformat()}|{ctx.end.isoformat()}|{len(periods)}"

    def spread() -> ir.Table:
        per = ctx.shared(f"history_buckets|{key}", build)
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


def epoch(moment: ir.TimestampValue) -> ir.IntegerValue:
    """Whole epoch seconds: engines disagree on sub-second parts (DuckDB keeps them, Spark
    drops them), so they are dropped everywhere."""
    return moment.epoch_seconds().cast("float64").floor().cast("int64")


def days_between(earlier: ir.TimestampValue, later: ir.TimestampValue | datetime) -> ir.Value:
    """Whole days elapsed from `earlier` to `later` (floor), computed from epoch seconds so
    that every engine agrees."""
    later_expr = ibis.literal(later) if isinstance(later, datetime) else later
    seconds = epoch(later_expr) - epoch(earlier)
    return (seconds.cast("float64") / SECONDS_PER_DAY).floor().cast("int64")


def calendar_days_between(ctx: MetricContext, earlier: ir.TimestampValue,
                          later: ir.TimestampValue | datetime) -> ir.IntegerValue:
    """Calendar days from the local date of `earlier` to the local date of `later`, both in
    the workspace time zone: an order placed yesterday, at any hour, is 1 day ago, one
    placed today 0 (recency, RFM's R). Whole local days since 1970 subtracted, so every
    engine agrees."""
    from clientela.kpi.localtime import offset_intervals, utc_offset

    later_expr = ibis.literal(later, type="timestamp") if isinstance(later, datetime) else later
    intervals = offset_intervals(ctx.timezone, *_order_span(ctx))

    def day(moment: ir.TimestampValue) -> ir.IntegerValue:
        # whole epoch seconds as float before dividing: PostgreSQL truncates integer division
        local = (epoch(moment) + utc_offset(moment, intervals)).cast("float64")
        return (local / SECONDS_PER_DAY).floor().cast("int64")

    return day(later_expr) - day(earlier)


def first_order_at(ctx: MetricContext) -> datetime | None:
    """The instant (naive UTC) of the store's first order of any status, or None: where a
    metric that looks at the whole history starts, whatever the year (CDNOW begins in 1997)."""
    orders = ctx.table("orders")
    found = orders.aggregate(lo=orders.placed_at.min()).to_pyarrow()["lo"][0].as_py()
    return found.replace(tzinfo=None) if found is not None else None


def _order_span(ctx: MetricContext) -> tuple[datetime, datetime]:
    """From the first order in the store to the latest instant the context looks at: the
    range a zone's offset changes must cover for local days to be exact. Asked of the engine
    only for a zone that has ever changed its offset."""
    from clientela.kpi.localtime import is_fixed

    hi = max(ctx.end, ctx.as_of)
    if is_fixed(ctx.timezone):
        return hi, hi
    lo = first_order_at(ctx) or hi
    return min(lo, hi), hi


def indicator(condition: ir.BooleanValue) -> ir.IntegerValue:
    """1 where `condition` holds, 0 where it does not, null where it is null (as a CAST
    gives): a boolean to add up or keep as a 0/1 column. Written as a CASE because
    PostgreSQL refuses CAST(boolean AS BIGINT); it casts a boolean to INTEGER only."""
    return ibis.cases((condition, 1), (~condition, 0)).cast("int64")


def ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator as float64, null when the denominator is zero or null.

    Both sides are cast first: PostgreSQL truncates integer division."""
    den = denominator.cast("float64")
    return ibis.ifelse(den.isnull() | (den == 0), ibis.null("float64"),
                       numerator.cast("float64") / den)


def money_sum(column: ir.NumericValue) -> ir.Value:
    """Sum of money that is 0, not null, over no rows."""
    return column.sum().coalesce(ibis.literal(0, type=MONEY))


def summarize(table: ir.Table, ctx: MetricContext, **values: ir.Value) -> ir.Table:
    """Aggregate grouped by the slice when there is one; over the whole table otherwise."""
    if ctx.keys:
        return table.group_by(ctx.keys).aggregate(**values)
    return table.aggregate(**values)


def as_item(value: ir.Value) -> ir.Value:
    """Label the rows of a table-shaped answer (the engine's `item` column)."""
    return value.cast("string").name("item")


def median_of(table: ir.Table, column: str, keys: list[str]) -> ir.Table:
    """Exact median of `column` per key group (the mean of the two middle values for an even
    count), from row numbers: engines' own median functions differ (PySpark's is approximate)."""
    table = table.filter(table[column].notnull())
    group = ibis.window(group_by=keys) if keys else ibis.window()
    ordered = ibis.window(group_by=keys, order_by=table[column]) if keys else \
        ibis.window(order_by=table[column])
    ranked = table.mutate(_i=ibis.row_number().over(ordered),
                          _n=table[column].count().over(group))
    lower = ((ranked._n - 1).cast("float64") / 2).floor().cast("int64")
    upper = (ranked._n.cast("float64") / 2).floor().cast("int64")
    middle = ranked.filter((ranked._i == lower) | (ranked._i == upper))
    value = middle[column].cast("float64").mean()
    if keys:
        return middle.group_by(keys).aggregate(median=value)
    return middle.aggregate(median=value)


def join_keys(left: ir.Table, right: ir.Table, keys: list[str]) -> ir.Table:
    """Join two per-slice aggregates (a cross join of two one-row tables when not slicing).
    Keys match null to null (IS NOT DISTINCT FROM): the null slice, customers without a
    value, is a slice like any other."""
    if not keys:
        return left.cross_join(right)
    renamed = right.rename({f"_{k}": k for k in keys})
    joined = left.left_join(renamed, [left[k].identical_to(renamed[f"_{k}"]) for k in keys])
    return joined.drop(*[f"_{k}" for k in keys])


def local_months(ctx: MetricContext, start: datetime, end: datetime) -> list[Period]:
    """The calendar months (cut in the workspace time zone) covering [start, end) in UTC,
    whole: the first begins on the 1st of start's local month."""
    tz = zone(ctx.timezone)
    local_start = from_utc(start, tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return buckets(local_start, from_utc(end, tz), "month", tz)


def month_number(month: Period) -> int:
    """A running month index (year * 12 + month - 1): consecutive months differ by one."""
    return month.start.year * 12 + month.start.month - 1


def with_month(table: ir.Table, column: str, months: list[Period]) -> ir.Table:
    """Add `month` (month_number) and `label` ('YYYY-MM') of the local calendar month of
    `column`; rows outside `months` are dropped. A binary search over the months' UTC starts
    gives a timestamp its local month with no engine-specific time-zone function (and no
    range join)."""
    value = table[column]
    table = table.filter((value >= months[0].start_utc) & (value < months[-1].end_utc))
    month = bucket_index(table[column], [m.start_utc for m in months]) + month_number(months[0])
    return table.mutate(month=month, label=month_label(month))


def month_label(month: ir.IntegerValue) -> ir.StringValue:
    """'YYYY-MM' of a month_number, by arithmetic (a lookup written as CASEs would repeat the
    expression of `month` in every branch)."""
    number = (month % 12 + 1).cast("string")
    year = ((month - month % 12).cast("float64") / 12).cast("int64")  # exact: a multiple of 12
    return year.cast("string") + "-" + ibis.ifelse(month % 12 < 9, "0" + number, number)
