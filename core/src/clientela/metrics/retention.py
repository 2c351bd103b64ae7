"""docs/metrics.md, "Retention and loyalty of the customer base".

Customer-level metrics: they slice by what the customer carries
(acquisition channel, RFM segment), never by an order's channel, because a
customer active in two channels would otherwise be retained twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.history import history_days
from clientela.kpi.periods import Period
from clientela.kpi.point_in_time import open_gap_reaches, winback_counts
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Retention and loyalty of the customer base"
CUSTOMER = ("acquisition_channel", "segment")
MONTH_DAYS = 30


def _retention(ctx: MetricContext) -> ir.Table:
    """Per ctx.keys, `base` and `retained` (see _retention_counts): a few rows per period,
    shared by retention_rate and churn_rate, so that asked together (the catalogue) they
    read the orders once, not once each (a single period too: the warm call's newest
    month, where the table is dropped with the period)."""
    key = "|".join(str(part) for part in (
        ctx.start.isoformat(), ctx.end.isoformat(), len(ctx.periods or ()), ctx.timezone,
        ctx.by, ctx.segmenter, ctx.segment_as_of))
    return ctx.shared(f"retention|{key}", lambda: _retention_counts(ctx),
                      transient=not ctx.periods)


def _retention_counts(ctx: MetricContext) -> ir.Table:
    """Customers active in the period before each period (the base), and how many of them
    are active again in the period itself. With the prior period prepended, the base of
    request period k is active in index k and retained when active in index k + 1."""
    wide = cv.with_prior(ctx)
    from_state = _base_from_state(ctx, wide)
    if from_state is not None:
        return from_state
    last = len(wide.periods or ()) - 1
    active = cv.period_customers(wide)
    before = active.filter(active[PERIOD_COLUMN] < last)
    now = cv.period_customers(wide.unsliced())
    now = now.select(_cid=now.customer_id, _next=now[PERIOD_COLUMN])
    joined = before.left_join(now, (before.customer_id == now._cid)
                              & (now._next == before[PERIOD_COLUMN] + 1))
    kept = cv.indicator(joined._cid.notnull()).sum()
    return cv.summarize(joined, ctx, retained=kept, base=joined.count())


def _base_from_state(ctx: MetricContext, wide: MetricContext) -> ir.Table | None:
    """_retention_counts of one period from the customer state kept as of its start (the
    warm call's newest period, `clientela.kpi.carried`), or None without one.

    A customer is active in the period before exactly when her last valid order before the
    period's start falls in it, so the base is the state's customers whose `last_at` is at
    or after the period before's start: the state's rows filtered, where the cold query
    reads the period before's orders and makes them distinct (about half the query's CPU
    at 1M orders)."""
    from clientela.kpi.carried import state_for

    if ctx.periods:
        return None
    found = state_for(ctx, ctx.start)
    if found is None or found[1] != ctx.start:
        return None
    rows = found[0]
    prior_start = (wide.periods or (ctx.period,))[0].start_utc
    base = cv.with_slice(ctx, rows.filter(rows.last_at >= prior_start).select("customer_id"))
    now = cv.period_customers(ctx.unsliced())
    now = now.select(_cid=now.customer_id)
    joined = base.left_join(now, base.customer_id == now._cid)
    kept = cv.indicator(joined._cid.notnull()).sum()
    return cv.summarize(joined, ctx, retained=kept, base=joined.count())


def retention_rate(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = _retention(ctx)
    return t.select(*ctx.keys, value=cv.ratio(t.retained, t.base),
                    retained=t.retained, previous_active=t.base)


def churn_rate(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = _retention(ctx)
    kept = cv.ratio(t.retained, t.base)
    return t.select(*ctx.keys, value=1 - kept, churned=t.base - t.retained,
                    previous_active=t.base)


def repeat_rate(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = cv.history_totals(ctx, lapse_days=LapseParams().lapse_days)
    return t.select(*ctx.keys, value=cv.ratio(t.repeaters, t.customers),
                    repeat_customers=t.repeaters, customers=t.customers)


class LapseParams(NoParams):
    lapse_days: int = Field(default=180, ge=1)


def lapsed_customers(ctx: MetricContext, params: LapseParams) -> ir.Table:
    t = cv.history_totals(ctx, lapse_days=params.lapse_days)
    return t.select(*ctx.keys, value=t.lapsed.coalesce(0), customers=t.customers,
                    share=cv.ratio(t.lapsed, t.customers))


def winback_rate(ctx: MetricContext, params: LapseParams) -> ir.Table:
    """Lapsed at a period's start, from the histories as of each period's start; back when
    the customer has a valid order in that period. A series adds these up from the
    customers' ordering periods (`winback_counts`), without the customer x period rows."""
    if ctx.periods:
        t = winback_counts(ctx, lapse_days=params.lapse_days)
        return t.select(*ctx.keys, value=cv.ratio(t.won, t.lapsed),
                        winback_customers=t.won, winback_revenue=t.revenue,
                        lapsed_at_start=t.lapsed)
    h = cv.history_at(ctx, at="start")
    lapsed = h.filter(h.last_at < h.at - ibis.interval(days=params.lapse_days))
    lapsed = cv.with_slice(ctx, lapsed.select("customer_id", *_period_key(ctx)))
    o = cv.period_orders(ctx.unsliced())
    back = o.group_by(_cid=o.customer_id, **{f"_{k}": o[k] for k in _period_key(ctx)}
                      ).aggregate(_revenue=o.revenue.sum())
    joined = lapsed.left_join(back, [lapsed.customer_id == back._cid,
                                     *(lapsed[k] == back[f"_{k}"] for k in _period_key(ctx))])
    won = cv.indicator(joined._cid.notnull()).sum()
    return cv.summarize(
        joined, ctx, value=cv.ratio(won, joined.count()), winback_customers=won.coalesce(0),
        winback_revenue=cv.money_sum(joined._revenue), lapsed_at_start=joined.count(),
    )


def _period_key(ctx: MetricContext) -> list[str]:
    return [PERIOD_COLUMN] if ctx.periods else []


def _summary_and_items(summary: ir.Table, items: ir.Table, keys: list[str],
                       columns: dict[str, str]) -> ir.Table:
    """Stack a one-row-per-slice summary (item null) on top of itemized rows, with one schema."""
    def conform(t: ir.Table) -> ir.Table:
        cols = {name: (t[name] if name in t.columns else ibis.null()).cast(kind)
                for name, kind in columns.items()}
        return t.select(*keys, **cols)

    return ibis.union(conform(summary), conform(items), distinct=False)


def recency_days(ctx: MetricContext, params: NoParams) -> ir.Table:
    """Mean, median and 30-day histogram of the days since each customer's last valid
    order. The customers x periods history is read once, into customers per whole day of
    recency (a few thousand rows per period): the mean, the exact median and the histogram
    are all taken from those counts, where ranking every customer of every period for the
    median sorts the whole history. Those counts are `history_days`, the table
    avg_frequency's totals are summed from: one scan of the history for both."""
    days = history_days(ctx, lapse_days=LapseParams().lapse_days, at="as_of")
    per_day = days.select(*ctx.keys, "days", _n=days.customers)
    # whole days summed exactly, then divided: the float mean of the customers' days
    stats = cv.summarize(per_day, ctx,
                         value=cv.ratio((per_day.days * per_day._n).sum(), per_day._n.sum()),
                         customers=per_day._n.sum().coalesce(0))
    summary = cv.join_keys(stats, _median_of_counts(per_day, "days", "_n", ctx.keys),
                           ctx.keys)
    bucket = (per_day.days.cast("float64") / MONTH_DAYS).floor().cast("int64") * MONTH_DAYS
    per_day = per_day.mutate(
        item=bucket.cast("string") + "-" + (bucket + MONTH_DAYS - 1).cast("string"))
    hist = per_day.group_by([*ctx.keys, "item"]).aggregate(customers=per_day._n.sum())
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    hist = hist.mutate(value=cv.ratio(hist.customers, hist.customers.sum().over(window)))
    return _summary_and_items(summary, hist, ctx.keys, {
        "item": "string", "value": "float64", "median": "float64", "customers": "int64"})


def _median_of_counts(counts: ir.Table, column: str, count: str, keys: list[str]
                      ) -> ir.Table:
    """The exact median (the mean of the two middle values for an even total) per key
    group, from a histogram: one row per distinct value of `column` with its `count`. The
    two middle positions of the sorted values, floor((n - 1) / 2) and floor(n / 2) from 0,
    fall in the first values whose running count passes them; a median_of over the
    expanded rows gives the same number."""
    upto = (ibis.cumulative_window(group_by=keys, order_by=counts[column]) if keys
            else ibis.cumulative_window(order_by=counts[column]))
    whole = ibis.window(group_by=keys) if keys else ibis.window()
    running = counts.mutate(_upto=counts[count].sum().over(upto),
                            _total=counts[count].sum().over(whole))
    lower = ((running._total - 1).cast("float64") / 2).floor().cast("int64")
    upper = (running._total.cast("float64") / 2).floor().cast("int64")
    value = running[column]
    at_lower = ibis.ifelse(running._upto > lower, value, ibis.null()).min()
    at_upper = ibis.ifelse(running._upto > upper, value, ibis.null()).min()
    median = (at_lower.cast("float64") + at_upper.cast("float64")) / 2
    if keys:
        return running.group_by(keys).aggregate(median=median)
    return running.aggregate(median=median)


def interpurchase_days(ctx: MetricContext, params: NoParams) -> ir.Table:
    from clientela.kpi.carried import previous_orders

    # in a warm call, the previous orders of the new ones from the carried state, if any
    o = previous_orders(ctx)
    o = _neighbours(ctx, ctx.end) if o is None else o
    gaps = cv.in_period(ctx, o.filter(o.prev_at.notnull()), "placed_at")
    # whole seconds, summed exactly: a float mean of days differs in its last bits with the
    # order an engine (or a plan) adds in
    gaps = cv.with_slice(ctx, gaps.mutate(
        seconds=cv.epoch(gaps.placed_at) - cv.epoch(gaps.prev_at)))
    stats = cv.summarize(gaps, ctx, value=cv.ratio(gaps.seconds.sum(), gaps.count()),
                         intervals=gaps.count())
    found = cv.join_keys(stats, cv.median_of(gaps, "seconds", ctx.keys), ctx.keys)
    return found.mutate(value=found.value / cv.SECONDS_PER_DAY,
                        median=found.median / cv.SECONDS_PER_DAY)


class ReturnParams(NoParams):
    max_months: int = Field(default=24, ge=0, le=120)
    window_days: int = Field(default=30, ge=1)


def return_probability(ctx: MetricContext, params: ReturnParams) -> ir.Table:
    """Each gap between consecutive valid orders (and the open gap after the last one) is an
    episode; months are 30 days. A closed gap of g days went m months without a purchase for
    every m <= g // 30 and returned at m = g // 30; an open gap counts only months whose next
    30 days are fully observed before the as-of date."""
    episodes = _series_reach(ctx, params) if ctx.periods else _reach(ctx, params)
    return _return_table(episodes, ctx.keys)


def _neighbours(ctx: MetricContext, until: datetime) -> ir.Table:
    """Valid orders of known customers before `until` (customer_id, placed_at), each with
    the time of the customer's previous and next one (null for the first and the last):
    ties at one instant are ordered by order_id, so every order but the last closes exactly
    one gap (order_id itself is not written out: no reader needs it). interpurchase_days
    reads the previous, return_probability the next: one sort of the orders by customer
    and time, built once per call and instant, serves both."""
    def build() -> ir.Table:
        o = cv.valid_orders(ctx, until=until, amounts=())
        o = o.filter(o.customer_id.notnull())
        w = ibis.window(group_by=o.customer_id, order_by=[o.placed_at, o.order_id])
        # nullable (a first order has no previous): Ibis would carry placed_at's NOT NULL
        # into the table it writes out
        nullable = dt.Timestamp(nullable=True)
        return o.select("customer_id", "placed_at",
                        prev_at=o.placed_at.lag().over(w).cast(nullable),
                        next_at=o.placed_at.lead().over(w).cast(nullable))

    # one period at a time, each instant's table is dropped with its periods
    return ctx.shared(f"order_neighbours|{until.isoformat()}", build,
                      transient=not ctx.periods)


def _months(earlier: ir.TimestampValue, later: ir.TimestampValue,
            params: ReturnParams) -> ir.IntegerValue:
    """Whole months of window_days elapsed, from whole days (so every engine agrees)."""
    days = cv.days_between(earlier, later)
    return (days.cast("float64") / params.window_days).floor().cast("int64")


def _reach(ctx: MetricContext, params: ReturnParams) -> ir.Table:
    """The episodes as of ctx.as_of: one row each with its reach (the last month m it was at
    risk at, capped at max_months) and `_ret` 1 when it ended with a purchase at a month
    within max_months. Episodes that reach no month (an open gap shorter than one month) are
    left out, as they count nowhere. (In a warm call carrying a customer state, the gaps come
    counted by length from it, `_n` each: `clientela.kpi.carried.gap_days`.)"""
    from clientela.kpi.carried import gap_days

    gaps = gap_days(ctx)
    if gaps is None:
        o = _neighbours(ctx, ctx.as_of)
        gaps = o.select("customer_id", closed=o.next_at.notnull(), _n=ibis.literal(1, type="int64"),
                        days=cv.days_between(o.placed_at,
                                             o.next_at.coalesce(ibis.literal(ctx.as_of))))
    closed = gaps.closed
    months = (gaps.days.cast("float64") / params.window_days).floor().cast("int64")
    gaps = cv.with_slice(ctx, gaps.select(
        *[c for c in ("customer_id",) if c in gaps.columns],
        reach=ibis.least(ibis.ifelse(closed, months, months - 1), params.max_months),
        _n=gaps._n,
        _ret=cv.indicator(closed & (months <= params.max_months)) * gaps._n))
    gaps = gaps.filter(gaps.reach >= 0)
    return gaps.select(*ctx.keys, "reach", "_n", "_ret")


def _series_reach(ctx: MetricContext, params: ReturnParams) -> ir.Table:
    """_reach as of each period's end, in one pass, as counts `_n` and `_ret` per period,
    slice and reach.

    A gap closes at its next order: closed for every period ending after that order, so the
    closed gaps are counted once per (slice, reach, period of the next order) and made
    cumulative with at_each_end (a gap closed before the series counts from period 0). At
    a period's end every customer who has ordered has exactly one open gap, from the last
    order before that end: counted from the customers' ordering periods
    (`open_gap_reaches`), not from every customer x period row."""
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    periods = ctx.periods or ()
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    o = _neighbours(ctx, ctx.end)
    o = o.filter(o.next_at.notnull())
    months = _months(o.placed_at, o.next_at, params)
    closed = cv.with_slice(ctx, o.select(
        "customer_id", _k=cv.bucket_index(o.next_at, [p.start_utc for p in periods]),
        reach=ibis.least(months, params.max_months),
        _r=cv.indicator(months <= params.max_months)))
    per = closed.group_by([*slices, "reach", "_k"]).aggregate(
        _c=closed.count(), _s=closed._r.sum())
    closed = cv.at_each_end(ctx, per, [*slices, "reach"],
                            _n=lambda w: per._c.sum().over(w),
                            _ret=lambda w: per._s.sum().over(w))
    opened = open_gap_reaches(ctx, window_days=params.window_days,
                              max_months=params.max_months)
    return ibis.union(closed.select(*ctx.keys, "reach", "_n", "_ret"),
                      opened.select(*ctx.keys, "reach", "_n", "_ret"), distinct=False)


def _return_table(episodes: ir.Table, keys: list[str]) -> ir.Table:
    """Per keys and month m in 0..the highest reach: returned(m) and at_risk(m).

    An episode reaching month r is at risk at every m <= r: at_risk(m) is the count of
    episodes whose reach is at least m, a running sum from the top of the reach histogram
    (no episode x month cross join). The histogram gets a zero row for every month of the
    grid by a union and a group-by rather than a join on the keys, which would lose a null
    slice."""
    hist = episodes.group_by([*keys, "reach"]).aggregate(
        _n=episodes._n.sum(), _ret=episodes._ret.sum())
    window = ibis.window(group_by=keys) if keys else ibis.window()
    top = hist.select(*keys, _top=hist.reach.max().over(window)).distinct()
    grid = top.select(*keys, reach=ibis.range(0, top._top + 1)).unnest("reach")
    zero = ibis.literal(0, type="int64")
    full = ibis.union(
        hist.select(*keys, reach=hist.reach.cast("int64"), _n=hist._n.cast("int64"),
                    _ret=hist._ret.cast("int64")),
        grid.select(*keys, reach=grid.reach.cast("int64"), _n=zero, _ret=zero),
        distinct=False)
    per = full.group_by([*keys, "reach"]).aggregate(_n=full._n.sum(), returned=full._ret.sum())
    down = ibis.window(group_by=keys, order_by=ibis.desc(per.reach), preceding=None,
                       following=0)
    per = per.mutate(at_risk=per._n.sum().over(down))
    return per.select(*keys, item=per.reach.cast("string"),
                      value=cv.ratio(per.returned, per.at_risk),
                      returned=per.returned, at_risk=per.at_risk)


def avg_frequency(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = cv.history_totals(ctx, lapse_days=LapseParams().lapse_days, at="as_of")
    # the mean of the customers' order counts: whole numbers summed exactly, then divided
    summary = t.select(*ctx.keys, value=cv.ratio(t.orders, t.customers),
                       customers=t.customers)
    return _summary_and_items(summary, _best_month(ctx), ctx.keys, {
        "item": "string", "value": "float64", "customers": "int64",
        "best_month_orders": "int64"})


def _best_month(ctx: MetricContext) -> ir.Table:
    """The local calendar month with the most valid orders placed before the as-of instant
    (the earliest on a tie), per slice. In a series the month counts are bucketed by period
    once and summed cumulatively, so each period's end sees exactly its orders."""
    if ctx.periods and ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)
    until = ctx.end if ctx.periods else ctx.as_of
    since = cv.first_order_at(ctx)  # no assumption about when a store's history begins
    if since is None or since >= until:
        since = until - timedelta(days=1)  # no order yet: one empty month, no best month
    months = cv.local_months(ctx, since, until)
    o = cv.valid_orders(ctx, since=since, until=until, amounts=())
    o = cv.with_month(cv.with_slice(ctx, o), "placed_at", months)
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    if ctx.periods:
        starts = [p.start_utc for p in ctx.periods]
        o = o.mutate(_k=cv.bucket_index(o.placed_at, starts))
        counts = o.group_by([*slices, "month", "_k"]).aggregate(_n=o.count())
        per = cv.at_each_end(ctx, counts, [*slices, "month"],
                             best_month_orders=lambda w: counts._n.sum().over(w))
    else:
        per = o.group_by([*slices, "month"]).aggregate(best_month_orders=o.count())
    order = [ibis.desc(per.best_month_orders), per.month]
    per = per.mutate(_n=ibis.row_number().over(ibis.window(group_by=ctx.keys, order_by=order)))
    best = per.filter(per._n == 0)
    return best.mutate(item="best_month " + cv.month_label(best.month))


class CohortParams(NoParams):
    max_months: int | None = Field(
        default=None, ge=0, le=1200,
        description="Last month k shown after each cohort's first; unset: every month up to "
        "the as-of date, so no history is cut without saying so.")


def cohort_retention(ctx: MetricContext, params: CohortParams) -> ir.Table:
    """Cohorts are the customers whose first valid order falls in the period, by local month;
    cell k is the share of a cohort with a valid order in its k-th month after the first,
    for the months that have begun before the as-of date.

    In a series each period's as-of date is its end, so the orders a period's cohorts count
    are exactly the orders tagged with that period: cohort and orders meet on (customer,
    period)."""
    if ctx.periods and ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    # a cohort is a customer and when she began (its slices are customer dimensions)
    first = cv.with_slice(ctx, cv.in_period(ctx, cv.first_order_times(ctx), "first_at"))
    horizon = max(ctx.as_of, ctx.end)
    months = cv.local_months(ctx, ctx.start, horizon)
    cohort = cv.with_month(first, "first_at", months).select(
        *ctx.keys, "customer_id", cohort=ibis._.month, cohort_label=ibis._.label)
    sizes = cohort.group_by([*ctx.keys, "cohort", "cohort_label"]).aggregate(
        cohort_size=cohort.count())
    active = _active_months(ctx, months)
    meet = cohort.customer_id == active._cid
    if ctx.periods:
        meet = meet & (cohort[PERIOD_COLUMN] == active._p)
    cells = cohort.inner_join(active, meet)
    cells = cells.mutate(k=cells._month - cells.cohort)
    counts = cells.group_by([*ctx.keys, "cohort_label", "k"]).aggregate(customers=cells.count())
    # every cell whose month has begun before the as-of date, zeros included
    reach = len(months) - 1 if params.max_months is None else params.max_months
    grid = sizes.mutate(k=ibis.range(0, reach + 1)).unnest("k")
    grid = grid.filter(grid.cohort + grid.k <= _last_month(ctx, months, grid))
    found = _fill(grid, counts, [*ctx.keys, "cohort_label"])
    k_text = ibis.ifelse(found.k < 10, "0" + found.k.cast("string"), found.k.cast("string"))
    return found.select(
        *ctx.keys, item=found.cohort_label + " +" + k_text,
        value=cv.ratio(found.customers, found.cohort_size),
        customers=found.customers, cohort_size=found.cohort_size,
    )


def _fill(grid: ir.Table, counts: ir.Table, keys: list[str]) -> ir.Table:
    """The grid's cells (keys, k, cohort_size) with their counts of active customers, 0 where
    none. The counts meet their cells by a union and a group-by rather than a join on the
    keys, which would lose a null slice; a count outside the grid (k > max_months) has no
    size and is dropped."""
    full = ibis.union(
        grid.select(*keys, k=grid.k.cast("int64"), size=grid.cohort_size.cast("int64"),
                    n=ibis.literal(0, type="int64")),
        counts.select(*keys, k=counts.k.cast("int64"), size=ibis.null("int64"),
                      n=counts.customers.cast("int64")), distinct=False)
    found = full.group_by([*keys, "k"]).aggregate(cohort_size=full.size.max(),
                                                  customers=full.n.sum())
    return found.filter(found.cohort_size.notnull())


def _active_months(ctx: MetricContext, months: list[Period]) -> ir.Table:
    """(customer, local month) with a valid order from the period's start to the as-of date,
    once each; in a series, per period (`_p`), each period counting its own orders."""
    if ctx.periods:
        o = cv.in_period(ctx, cv.valid_orders(ctx, amounts=()), "placed_at")
    else:
        o = cv.valid_orders(ctx, since=ctx.start, until=ctx.as_of, amounts=())
    o = cv.with_month(o.filter(o.customer_id.notnull()), "placed_at", months)
    tag = {"_p": o[PERIOD_COLUMN]} if ctx.periods else {}
    return o.select(_cid=o.customer_id, _month=o.month, **tag).distinct()


def _last_month(ctx: MetricContext, months: list[Period], grid: ir.Table) -> ir.Value:
    """The month_number of the last local month begun before the as-of date: one number for
    one period, each row's period's own in a series. An as-of date before the period (a
    fixed one) has begun no month of it: the month before the first, so no cell."""
    def last(as_of: datetime) -> int:
        return max((cv.month_number(m) for m in months if m.start_utc < as_of),
                   default=cv.month_number(months[0]) - 1)

    if not ctx.periods:
        return ibis.literal(last(ctx.as_of))
    return cv.pick_value(grid[PERIOD_COLUMN], [last(p.end_utc) for p in ctx.periods])


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", CUSTOMER)
        return Metric(name=name, title=title, title_pt=title_pt, description=description,
                      unit=unit, compute=fn, group=GROUP, **kw)  # type: ignore[arg-type]

    return [
        m("retention_rate", "Retention rate", "Taxa de retenção",
          "Of the customers active in the period before (same length), the share active in "
          "this one.", "ratio", retention_rate,
          measures=("value", "retained", "previous_active"), series=True),
        m("repeat_rate", "Repeat rate", "Recorrência",
          "Share of customers with a first order before the period's end who have 2+ valid "
          "orders by then.", "ratio", repeat_rate,
          measures=("value", "repeat_customers", "customers"), series=True),
        m("churn_rate", "Churn rate", "Evasão", "1 - retention rate.", "ratio", churn_rate,
          measures=("value", "churned", "previous_active"), series=True),
        m("lapsed_customers", "Lapsed customers", "Clientes inativos",
          "Customers whose last valid order is more than lapse_days (180) before the "
          "period's end.", "count", lapsed_customers, params=LapseParams,
          measures=("value", "customers", "share"), series=True),
        m("winback_rate", "Win-back rate", "Resgate",
          "Of the customers lapsed at the period's start, the share with a valid order in it; "
          "with winback_customers and winback_revenue.", "ratio", winback_rate,
          params=LapseParams,
          measures=("value", "winback_customers", "winback_revenue", "lapsed_at_start"),
          series=True),
        m("recency_days", "Recency (days)", "Recência (dias)",
          "Days from each customer's last valid order to the as-of date: mean (value), median, "
          "and a histogram in 30-day buckets (items).", "days", recency_days,
          measures=("value", "median", "customers"), itemized=True, series=True),
        m("interpurchase_days", "Days between purchases", "Intervalo entre compras (dias)",
          "Mean (value) and median days between consecutive valid orders of a customer, for "
          "the orders placed in the period.", "days", interpurchase_days,
          measures=("value", "median", "intervals"), series=True),
        m("return_probability", "Return probability", "Probabilidade de retorno",
          "For m = 0..24 months (30 days) without a purchase (item), the share of episodes "
          "that ended with a purchase within the next 30 days, over the history.", "table",
          return_probability, params=ReturnParams,
          measures=("value", "returned", "at_risk"), itemized=True, series=True),
        m("avg_frequency", "Average frequency", "Frequência média",
          "Mean valid orders per customer over the customer's life to the as-of date; item "
          "'best_month YYYY-MM' is the calendar month with most orders.", "number",
          avg_frequency, measures=("value", "customers", "best_month_orders"), itemized=True,
          series=True),
        m("cohort_retention", "Cohort retention", "Retenção por coorte",
          "Cohort = month of first valid order (customers acquired in the period); item "
          "'YYYY-MM +k' is the share of the cohort active in month k after the first.",
          "table", cohort_retention, params=CohortParams,
          measures=("value", "customers", "cohort_size"), itemized=True, series=True),
    ]
