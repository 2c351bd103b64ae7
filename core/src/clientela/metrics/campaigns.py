"""docs/metrics.md, "Campaigns and channels": contacts, what followed them, and what they cost.

Choices the one-line definitions leave open, made once here:

- A *contact* is a touch with a campaign and `is_control` false; a control
  touch records a customer selected but deliberately not contacted, so it
  never counts as reach and is never credited with an order.
- A touch belongs to the period in which it *occurred*; the orders that
  follow it may fall after the period's end (up to `attribution_days`
  later), so the last period of a series can still grow while its windows
  are open.
- The attribution window of a touch at `t` is the half-open
  `[t, t + attribution_days)`, like every period of the engine.
- Conversion asks "did this contacted customer buy within the window?", so
  a customer contacted by two campaigns converts for both; revenue is
  last-touch (an order is credited once, to the latest campaign contact
  before it inside the window), so campaign revenues add up to the revenue
  campaigns drove.
- Per-campaign answers are items (`item` = campaign_id) with one more row,
  item null, for all campaigns together; the `channel` slice is the channel
  of the touch (of the campaign, for ROI, whose cost is per campaign).

The costly work is done once per engine call: reach, conversion and lift count touched
customers from one small table (`contacts`); conversion, revenue and ROI read one join of
the campaign touches with the orders in their windows (`touch_orders`), and conversion and
lift one table of the customers each campaign converted (`converted_units`, from that
join). The first metric to ask computes what it needs inline, the second materialises the
table, and every answer is then a small aggregation of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.campaign_credits import kept_credits, serves
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Campaigns and channels"
Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal."""
TOUCH_SLICES = ("channel", "acquisition_channel", "segment")


class AttributionParams(NoParams):
    attribution_days: int = Field(default=7, ge=1,
                                  description="Days after a contact in which an order counts.")


class RelationshipParams(NoParams):
    post_sale_only: bool = Field(
        default=True,
        description="Count only contacts of customers who had a valid order before the contact "
                    "(post-sale); false counts every salesperson or relationship contact.")


def campaign_touches(ctx: MetricContext, *, control: bool | None = False,
                     since: datetime | None = None, until: datetime | None = None) -> ir.Table:
    """Touches that belong to a campaign, in [since, until); `control=None` keeps both groups."""
    touches = ctx.table("touches")
    kept = [touches.campaign_id.notnull()]  # one filter (see retail._valid_orders_built)
    if control is not None:
        kept.append(touches.is_control == control)
    if since is not None:
        kept.append(touches.occurred_at >= since)
    if until is not None:
        kept.append(touches.occurred_at < until)
    return touches.filter(*kept)


RUN_WINDOWS = 4
"""How many attribution windows one run of days spans (see `_window`). A window reaches
past its run's end only from a touch in the run's last `days` days, so only those touches
are listed twice: with runs of four windows the join probes about 1.3 rows per touch (19.3M
for 14.8M touches at 10M orders) rather than 2, and a customer's run still holds only the
few orders near a touch. Measured on the join alone at 1M orders, on a loaded machine: 0.31
CPU s against 0.40 with runs of one window; runs of 8 or 16 windows gave 0.33, of 64 0.47
(more candidate pairs per customer and run)."""


def _run(moment: ir.TimestampValue, days: int) -> ir.IntegerValue:
    """Which run of `days` x RUN_WINDOWS days since the epoch an instant falls in: a
    function of the instant that never decreases, which is all `_listed_twice` relies on."""
    width = days * RUN_WINDOWS * cv.SECONDS_PER_DAY
    return (cv.epoch(moment).cast("float64") / width).floor().cast("int64")


def _window(touches: ir.Table, orders: ir.Table, days: int) -> list[ir.BooleanValue]:
    """Join predicates: the order is the contacted customer's, placed in [touch, touch + days).

    An order in a touch's window is in the touch's run (see `_run`) or the next one, and
    `_listed_twice` lists each touch under every run its window reaches (`_tslot`): the
    engine joins on customer and run, so a customer's touches meet only the orders near them
    rather than every order the customer ever placed (15 touches x 10 orders per customer
    is 150M candidate pairs at 10M orders). Each matching pair still meets exactly once.
    Orders that span two runs or fewer carry no run (`_by_runs`): then the join is on the
    customer alone."""
    runs = [touches._tslot == orders._oslot] if "_oslot" in orders.columns else []
    return [
        touches.customer_id == orders._ocid,
        *runs,
        orders.placed_at >= touches.occurred_at,
        orders.placed_at < touches.occurred_at + ibis.interval(days=days),
    ]


def _listed_twice(touches: ir.Table, days: int, columns: list[str]) -> ir.Table:
    """`touches` (their `columns`) under their own run (see `_run`), and those whose window
    reaches the next run under that one too (see `_window`).

    An order placed in [t, t + days) has a run from the run of t to that of t + days (`_run`
    never decreases), and those two differ by at most one since a run spans several
    windows: a touch is listed under the next run when t + days falls in it (one whose
    window ends exactly where the run ends is listed there needlessly and meets nothing).

    The second listing filters the touches themselves rather than the first listing: DuckDB
    writes a subquery read twice to a temporary result when one reader filters it on a
    computed column, and reads the touches twice otherwise (at 1M orders the join took 0.40
    CPU s this way against 0.56 through the written subquery, 0.60 with a list of runs
    unnested per touch, and 0.49 listing every touch twice under runs of one window).

    The touches rather than the orders are listed twice so that the orders, the fewer and
    narrower side (customer, id, time, revenue; a touch also carries its campaign, group and
    id), are the side the engine holds in its hash table. Under a memory limit that table
    spills first: at 1M orders under 200MB (a tenth of the 10M catalogue's 2 GB), the
    shared join cost about a third less CPU this way."""
    run = _run(touches.occurred_at, days)
    own = touches.select(*columns, _tslot=run)
    reaching = touches.filter(_run(touches.occurred_at + ibis.interval(days=days), days) > run)
    return own.union(reaching.select(*columns, _tslot=run + 1), distinct=False)


def _by_runs(since: datetime, until: datetime | None, days: int) -> bool:
    """Whether the join of the orders placed in [since, until) with their contacts goes
    through runs of days (see `_window`): not when the orders span at most two runs.

    A touch listed under its own run and the next one meets the orders of up to two runs;
    over a span that short, the customer alone bounds the candidate pairs as well, and
    the second listing of the touches (their second scan) is spared. The warm newest
    month (its orders and the window after it: 38 days) is such a span: at 1M orders its
    pairs' query took 0.042-0.051 CPU s without runs against 0.067-0.083 with them."""
    return until is None or until - since > timedelta(days=2 * days * RUN_WINDOWS)


def _orders(ctx: MetricContext, days: int, *, since: datetime,
            until: datetime | None) -> ir.Table:
    """Valid orders of identified customers placed in [since, until), with their run (see
    `_run`) when the join goes through runs (`_by_runs`)."""
    orders = cv.valid_orders(ctx, since=since, until=until, amounts=("revenue",))
    orders = orders.filter(orders.customer_id.notnull())
    runs = {"_oslot": _run(orders.placed_at, days)} if _by_runs(since, until, days) else {}
    return orders.select(_ocid=orders.customer_id, order_source=orders.source,
                         order_id=orders.order_id,
                         placed_at=orders.placed_at, revenue=orders.revenue, **runs)


PAIR_COLUMNS = ("customer_id", "campaign_id", "occurred_at", "is_control", "order_source",
                "order_id", "revenue")
"""What a (touch, order in its window) pair keeps: the touch's keys, the order's key
(source and id: two sources may both have an order "1001") and revenue, nothing a
campaign metric does not read, since the pairs are held for a call (plus the
touch's `channel` when the call slices by it, see `pair_columns`)."""


def pair_columns(ctx: MetricContext) -> tuple[str, ...]:
    """PAIR_COLUMNS, and `channel` when the answer is sliced by the touch's channel: every
    column carried through the join widens its hash table (a string per touch), and only
    that slice reads the channel."""
    return (*PAIR_COLUMNS, "channel") if ctx.by == "channel" else PAIR_COLUMNS


def _pairs(touches: ir.Table, orders: ir.Table, days: int, *, ranked: bool,
           columns: tuple[str, ...]) -> ir.Table:
    """`touches` each with every order of `orders` (see `_orders`) inside its window
    (`columns`, see pair_columns), plus `last` when `ranked`: the pair's touch is the
    contact its order is credited to, the latest contact before the order. Ties at the same
    instant go to the greater touch_id so that every engine credits the same touch; control
    touches are never credited."""
    kept = [c for c in (*columns, "touch_id") if c in touches.columns]
    by_runs = "_oslot" in orders.columns  # see `_by_runs`
    touches = _listed_twice(touches, days, kept) if by_runs else touches.select(*kept)
    joined = touches.inner_join(orders, _window(touches, orders, days))
    pairs = joined.select(*columns, "touch_id")
    if ranked:
        latest = ibis.window(group_by=[pairs.order_source, pairs.order_id, pairs.is_control],
                             order_by=[pairs.occurred_at.desc(), pairs.touch_id.desc()])
        pairs = pairs.mutate(last=(ibis.row_number().over(latest) == 0) & ~pairs.is_control)
    return pairs.drop("touch_id")


def _span_key(ctx: MetricContext) -> str:
    """The context's period(s), for the key of a table shared within an engine call."""
    return f"{ctx.start.isoformat()}|{ctx.end.isoformat()}|{len(ctx.periods or ())}"


def _slice_key(ctx: MetricContext) -> str:
    """The context's slice, for the key of a shared table that carries it."""
    return f"{ctx.by}|{ctx.segment_as_of}"


def _touch_orders(ctx: MetricContext, days: int, *, group: bool | None, ranked: bool,
                  until: datetime | None) -> ir.Table:
    """The pairs of the `group` touches made in [start, until) with the orders placed in
    the same span."""
    touches = campaign_touches(ctx, control=group, since=ctx.start, until=until)
    orders = _orders(ctx, days, since=ctx.start, until=until)
    return _pairs(touches, orders, days, ranked=ranked, columns=pair_columns(ctx))


def _ordered_in(ctx: MetricContext, days: int, *, since: datetime,
                orders: tuple[datetime, datetime], group: bool | None,
                columns: tuple[str, ...]) -> ir.Table:
    """The ranked pairs (see `_pairs`) of the orders placed in [from, until) (`orders`) with
    the `group` touches made from `since` to `until`: every pair of those orders with a
    touch made from `since` on, each ranked among all of them, when `since` is at least
    `days` before `from` or the start of what is ranked (a touch whose window holds an
    order was made at most `days` before it)."""
    touches = campaign_touches(ctx, control=group, since=since, until=orders[1])
    placed = _orders(ctx, days, since=orders[0], until=orders[1])
    return _pairs(touches, placed, days, ranked=True, columns=columns)


PAIR_PARTS = 4
"""Into how many parts of whole periods, by when the order was placed, the shared pairs of
a series are written (see `_pair_parts`)."""


def _pair_parts(ctx: MetricContext, days: int) -> list[ir.Table]:
    """The shared pairs (`_shared_pairs`) as PAIR_PARTS tables, each written by a query of
    its own: the pairs of the orders placed in a span of whole periods (the last one up to
    the horizon), each order ranked among all its pairs, since the touches read reach
    `days` before the span.

    The join holds the orders it meets in a hash table, and in a catalogue call it runs
    while the tables other metrics still read fill the database's pool: at 10M orders under
    a 2 GB limit the join of all 9.6M valid orders spilled to disk. A part holds a quarter
    of them, and reads only its own span of orders and touches (a store that keeps rows
    roughly in time order skips the rest by its zone maps). Written as one query (a union)
    the parts would hold their hash tables at once, so the engine writes them one by one
    (`TableCache.shared`)."""
    spans = period_chunks(ctx, PAIR_PARTS)
    spans[-1] = (spans[-1][0], ctx.end + timedelta(days=days))
    return [_ordered_in(ctx, days, since=max(ctx.start, lo - timedelta(days=days)),
                        orders=(lo, hi), group=None, columns=pair_columns(ctx))
            for lo, hi in spans]


def _shared_pairs(ctx: MetricContext, days: int, once: Callable[[], ir.Table]) -> ir.Table:
    """The table `touch_orders` describes, shared within an engine call: computed once
    (materialised, ranked, both groups, on the second ask; written in parts, see
    `_pair_parts`), `once()` on the first ask."""
    horizon = ctx.end + timedelta(days=days)

    def build() -> ir.Table:
        return _touch_orders(ctx, days, group=None, ranked=True, until=horizon)

    channel = "channel" if ctx.by == "channel" else ""  # see pair_columns
    return ctx.shared(f"campaign_pairs|{days}|{_span_key(ctx)}|{channel}", build, once=once,
                      transient=True, parts=lambda: _pair_parts(ctx, days))


def touch_orders(ctx: MetricContext, days: int, *, control: bool | None = None,
                 ranked: bool = False) -> ir.Table:
    """Every (campaign touch, valid order inside its window) pair that an answer over the
    context's period(s) can need (PAIR_COLUMNS, plus `last` when `ranked`, see `_pairs`):
    the touches made in [start, end + days), control touches included, and the orders
    placed in that span. A touch of the period(s) has its window inside it, and every
    contact that can compete for the credit of one of its orders was made before the order.

    Conversion, revenue, lift and ROI all read this one join, so inside an engine call it
    is computed once, and each metric keeps the touches of its own period(s); the first
    ask gets only what its caller needs (`control`, `ranked`)."""
    horizon = ctx.end + timedelta(days=days)
    return _shared_pairs(ctx, days, lambda: _touch_orders(ctx, days, group=control,
                                                           ranked=ranked, until=horizon))


def last_touch(ctx: MetricContext, days: int) -> ir.Table:
    """Valid orders credited to the latest campaign contact before them inside the window
    (PAIR_COLUMNS: the credited touch and its order), for the contacts made in
    [start, end + days)."""
    pairs = touch_orders(ctx, days, control=False, ranked=True)
    return pairs.filter(pairs.last).select(*pair_columns(ctx))


def last_touch_ever(ctx: MetricContext, days: int) -> ir.Table:
    """`last_touch` for every contact made from the start on (whole life).

    Asked first in an engine call (or alone), that is one join over the whole life. Once
    `touch_orders` is shared, its credits are read and only the orders after its span are
    joined: an order placed from end + days on can only be in the window of a touch made
    from the end on, and every earlier order is in the shared pairs, so each order is
    ranked within its own part."""
    whole: list[bool] = []

    def once() -> ir.Table:
        # called exactly when its table is the answer (a first ask, or no engine cache)
        whole.append(True)
        return _touch_orders(ctx, days, group=False, ranked=True, until=None)

    columns = pair_columns(ctx)
    pairs = _shared_pairs(ctx, days, once)
    credited = pairs.filter(pairs.last).select(*columns)
    if whole:
        return credited
    horizon = ctx.end + timedelta(days=days)
    later = campaign_touches(ctx, control=False, since=ctx.end)
    tail = _pairs(later, _orders(ctx, days, since=horizon, until=None), days, ranked=True,
                  columns=columns)
    return credited.union(tail.filter(tail.last).select(*columns), distinct=False)


def credited_orders(ctx: MetricContext, days: int, *, since: datetime,
                    orders: tuple[datetime, datetime] | None = None) -> ir.Table:
    """`last_touch` for the contacts made from `since` on, with each order's `placed_at`:
    of every order from `since` on, or, with `orders` ([from, until)), of the orders placed
    then, ranked among the contacts from `since` to `until` (the caller starts `since` at
    least `days` before `from`, so that every contact an order's credit can go to is read).
    What the warm path keeps per day (`clientela.kpi.campaign_credits`)."""
    columns = (*PAIR_COLUMNS, "placed_at")
    if orders is None:
        touches = campaign_touches(ctx, since=since)
        placed = _orders(ctx, days, since=since, until=None)
        pairs = _pairs(touches, placed, days, ranked=True, columns=columns)
    else:
        pairs = _ordered_in(ctx, days, since=since, orders=orders, group=False,
                            columns=columns)
    return pairs.filter(pairs.last).select(*columns)


def with_total(per_item: ir.Table, total: ir.Table) -> ir.Table:
    """Per-item rows plus the all-items row (item null), in one table."""
    total = total.mutate(item=ibis.null("string"))
    return per_item.union(total.select(*per_item.columns))


def _by_item(ctx: MetricContext, table: ir.Table, column: str) -> list[ir.Value]:
    return [*ctx.keys, cv.as_item(table[column])]


CHUNKS = 12
"""Into how many parts at most `contacts` cuts a series (see `period_chunks`)."""


def period_chunks(ctx: MetricContext, chunks: int | None = None
                  ) -> list[tuple[datetime, datetime]]:
    """The context's span cut at period boundaries into at most `chunks` (CHUNKS by
    default) spans of as many whole periods each (the last may have fewer; one span for
    one period).

    A distinct count per period is a hash table of every (period, group, customer) of the
    span; counted a few periods at a time, each table holds a few periods' customers. The
    touches hold nearly a key per touch (1.46M for 1.48M touches at 1M orders), and at
    10M orders DuckDB spent 7.2 CPU s on the two distinct counts of `contacts` as one
    query, 13 times what it spent at 1M. At 1M orders twelve chunks of three months took
    0.47-0.52 CPU s against 0.55-0.62 (a month a chunk 0.53-0.58, six months 0.51); at
    10M, in one call of the five campaign metrics, the table took 4.62 CPU s against
    6.09 (2.26 s against 2.95, load 1.7), its query's building included. The
    chunks are filters on the touch's time, which a store that keeps rows roughly in time
    order skips by its zone maps; at most CHUNKS of them keep a daily series' query
    small."""
    periods = ctx.periods or (ctx.period,)
    size = -(-len(periods) // (chunks or CHUNKS))  # ceiling
    starts = [p.start_utc for p in periods[::size]]
    return list(zip(starts, [*starts[1:], ctx.end], strict=True))


def _contact_counts(ctx: MetricContext, group: bool | None, since: datetime,
                    until: datetime) -> ir.Table:
    """`contacts` (both groups when `group` is None) for the touches made in [since,
    until), a span of whole periods (see `period_chunks`).

    In a series each touch gets its period's index as `cv.in_period` gives it, but
    searched among the chunk's own periods: searched among every period of the series,
    twelve chunks made Ibis build and compile a query twelve times the size (0.6 CPU s
    for 36 months, more than the chunks saved at 1M orders)."""
    touches = campaign_touches(ctx, control=group, since=since, until=until)
    if ctx.periods:
        starts = [p.start_utc for p in ctx.periods]
        first = starts.index(since)
        inside = [start for start in starts[first:] if start < until]
        touches = touches.mutate(**{PERIOD_COLUMN: (
            cv.bucket_index(touches.occurred_at, inside) + first).cast("int64")})
    touches = cv.with_slice(ctx, touches)
    by = _by_item(ctx, touches, "campaign_id")
    counts = {"customers": touches.customer_id.nunique(), "contacts": touches.count()}
    if group is None:
        per = touches.group_by([*by, "is_control"]).aggregate(**counts)
        # nullable, like the literal of the other rows: whether the store column is NOT
        # NULL depends on the engine
        per = per.mutate(is_control=per.is_control.cast("boolean"))
    else:  # one group: no need to group by it
        per = touches.group_by(by).aggregate(**counts).mutate(
            is_control=ibis.literal(group, type="boolean"))
    contacted = touches if group is False else touches.filter(~touches.is_control)
    total = cv.summarize(contacted, ctx, customers=contacted.customer_id.nunique(),
                         contacts=contacted.count())
    return with_total(per, total.mutate(is_control=ibis.literal(False, type="boolean")))


def contacts(ctx: MetricContext, *, control: bool | None = False) -> ir.Table:
    """Per period (and slice), campaign (`item`) and group (`is_control`): the distinct
    `customers` touched and the number of `contacts`; plus, for the contacted group, the
    all-campaigns row (item null), where a customer touched by two campaigns counts once.

    Reach, conversion and lift all count touched customers, the costliest part of each
    (distinct customers over every touch of the series), so inside an engine call this
    small table is computed for both groups and shared; the first ask gets only the group
    its caller reads (`control`)."""

    def make(group: bool | None) -> ir.Table:
        parts = [_contact_counts(ctx, group, since, until)
                 for since, until in period_chunks(ctx)]
        return ibis.union(*parts, distinct=False)

    key = f"campaign_contacts|{_span_key(ctx)}|{ctx.by}|{ctx.segment_as_of}"
    counted = ctx.shared(key, lambda: make(None), once=lambda: make(control), transient=True)
    if not ctx.periods:
        return counted
    # read back from PySpark, the period index is an int: int64 again, to meet the pairs
    return counted.mutate(**{PERIOD_COLUMN: counted[PERIOD_COLUMN].cast("int64")})


def campaign_reach(ctx: MetricContext, params: NoParams) -> ir.Table:
    reach = contacts(ctx)
    reach = reach.filter(~reach.is_control)
    return reach.select(*ctx.keys, "item", value=reach.customers, contacts=reach.contacts)


def _stacked(ctx: MetricContext, *parts: ir.Table) -> ir.Table:
    """Tables of per-(period, slice, item) counts with the same columns, summed row by row:
    a union and a group-by rather than a join on the keys, which would lose a null slice."""
    rows = ibis.union(*parts, distinct=False)
    measures = [c for c in rows.columns if c not in (*ctx.keys, "item")]
    return rows.group_by([*ctx.keys, "item"]).aggregate(
        **{c: rows[c].sum() for c in measures})


def converted_units(ctx: MetricContext, days: int, *, control: bool | None = None
                    ) -> ir.Table:
    """The units (period, slice, campaign, customer, `is_control`) with a valid order inside
    the window of one of their touches of the period(s), each with the `revenue` of its
    distinct such orders (an order in the windows of two touches of a unit counts once).

    Conversion counts the contacted group's units, lift sums both groups' revenue: inside
    an engine call this table is computed once from `touch_orders` and shared, where each
    metric used to take its own distinct over every pair; the first ask gets only the
    group its caller reads (`control`)."""

    def make(group: bool | None) -> ir.Table:
        pairs = touch_orders(ctx, days, control=group)
        if group is not None:  # the shared pairs hold both groups
            pairs = pairs.filter(pairs.is_control == group)
        pairs = cv.with_slice(ctx, cv.in_period(ctx, pairs, "occurred_at"))
        unit = [*ctx.keys, "campaign_id", "customer_id", "is_control"]
        per_order = pairs.select(*unit, "order_source", "order_id", "revenue").distinct()
        return per_order.group_by(unit).aggregate(revenue=cv.money_sum(per_order.revenue))

    key = f"campaign_units|{days}|{_span_key(ctx)}|{_slice_key(ctx)}"
    units = ctx.shared(key, lambda: make(None), once=lambda: make(control), transient=True)
    if control is not None:
        units = units.filter(units.is_control == control)
    if not ctx.periods:
        return units
    # read back from PySpark, the period index is an int: int64 again, as in `contacts`
    return units.mutate(**{PERIOD_COLUMN: units[PERIOD_COLUMN].cast("int64")})


def campaign_conversion(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    """Contacted customers come from `contacts`, converted ones from `converted_units`: only
    the few touches followed by an order go through a distinct."""
    contacted = contacts(ctx)
    contacted = contacted.filter(~contacted.is_control)
    units = converted_units(ctx, params.attribution_days, control=False)
    per = units.group_by(_by_item(ctx, units, "campaign_id")).aggregate(converted=units.count())
    total = cv.summarize(units, ctx, converted=units.customer_id.nunique())
    converted = with_total(per, total)
    zero = ibis.literal(0, type="int64")
    sums = _stacked(
        ctx,
        contacted.select(*ctx.keys, "item", contacted=contacted.customers, converted=zero),
        converted.select(*ctx.keys, "item", contacted=zero, converted=converted.converted),
    )
    # nobody contacted (a lone empty period): the sum over no customer is null, not 0
    converted_n = ibis.ifelse(sums.contacted > 0, sums.converted, ibis.null("int64"))
    return sums.select(*ctx.keys, "item", value=cv.ratio(converted_n, sums.contacted),
                       contacted=sums.contacted, converted=converted_n)


def campaign_revenue(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    credited = last_touch(ctx, params.attribution_days)
    credited = cv.with_slice(ctx, cv.in_period(ctx, credited, "occurred_at"))
    per = credited.group_by(_by_item(ctx, credited, "campaign_id")).aggregate(
        value=cv.money_sum(credited.revenue), orders=credited.count())
    total = cv.summarize(credited, ctx, value=cv.money_sum(credited.revenue),
                         orders=credited.count())
    return with_total(per, total)


def campaign_roi(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    """Campaigns *started* in P, each with the revenue of all its contacts (whole life): a
    campaign's cost is one number, so splitting it across periods would invent an allocation.

    In a warm call the credits come from the store, kept per day and brought up to date
    with the days a write changed (`clientela.kpi.campaign_credits`), rather than from a
    join of every contact since the series' start with the orders in its window."""
    campaigns = ctx.table("campaigns")
    campaigns = cv.with_slice(ctx, cv.in_period(ctx, campaigns, "started_at"))
    credited = kept_credits(ctx, params.attribution_days)
    if credited is None:
        credited = last_touch_ever(ctx, params.attribution_days)
    earned = credited.group_by(_cid="campaign_id").aggregate(
        _revenue=cv.money_sum(credited.revenue))
    joined = campaigns.left_join(earned, campaigns.campaign_id == earned._cid)
    joined = joined.mutate(revenue=joined._revenue.coalesce(ibis.literal(0, type=cv.MONEY)))

    def roi(table: ir.Table) -> dict[str, ir.Value]:
        revenue, cost = cv.money_sum(table.revenue), cv.money_sum(table.cost)
        return {"value": cv.ratio(revenue - cost, cost), "revenue": revenue, "cost": cost}

    per = joined.group_by(_by_item(ctx, joined, "campaign_id")).aggregate(**roi(joined))
    total = cv.summarize(joined, ctx, **roi(joined))
    return with_total(per, total)


# the warm path keeps campaign ROI's credits per day and credits afresh only the days a
# write reached (clientela.kpi.campaign_credits), from the same credited orders
serves(campaign_roi, credited_orders)


def _interval(diff: ir.FloatingValue, se: ir.FloatingValue) -> tuple[ir.Value, ir.Value]:
    return diff - Z95 * se, diff + Z95 * se


def campaign_lift(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    """Contacted minus control, with Wald (normal-approximation) 95% intervals: unpooled for the
    difference in conversion, Welch's standard error for the difference in revenue per customer.

    Both groups use the same rule (every valid order inside the window of the campaign's touch,
    not last-touch), since the control group has no contact to be credited. Variances come from
    exact DECIMAL sums of revenue and squared revenue so that every engine gives the same bits.

    The group sizes come from `contacts`; conversions and revenue from `converted_units`
    (a unit without an order adds nothing to those sums). The two meet by
    a union and a group-by; the revenue sums enter it already cast to float64 (as every
    formula below reads them), since a union would otherwise coerce the engine's DECIMAL
    of the squares to the narrower type Ibis assumes for them."""
    counted = contacts(ctx, control=None)
    counted = counted.filter(counted.item.notnull())
    units = converted_units(ctx, params.attribution_days)
    one = ibis.literal(1, type="int64")
    zero = ibis.literal(0, type="int64")
    ctl = units.is_control
    money_zero = ibis.literal(0, type=cv.MONEY)
    s1 = ibis.ifelse(ctl, money_zero, units.revenue)
    s0 = ibis.ifelse(ctl, units.revenue, money_zero)
    per = units.group_by(_by_item(ctx, units, "campaign_id")).aggregate(
        c1=ibis.ifelse(ctl, zero, one).sum(), c0=ibis.ifelse(ctl, one, zero).sum(),
        s1=s1.sum(), s0=s0.sum(), q1=(s1 * s1).sum(), q0=(s0 * s0).sum())
    revenue = ("s1", "s0", "q1", "q0")
    converted = per.select(*ctx.keys, "item", n1=zero, n0=zero, c1=per.c1, c0=per.c0,
                           **{name: per[name].cast("float64") for name in revenue})
    group = counted.is_control
    nothing = ibis.literal(0.0, type="float64")
    sizes = counted.select(
        *ctx.keys, "item",
        n1=ibis.ifelse(group, zero, counted.customers),
        n0=ibis.ifelse(group, counted.customers, zero), c1=zero, c0=zero,
        **dict.fromkeys(revenue, nothing))
    sums = _stacked(ctx, sizes, converted)
    sums = sums.filter(sums.n0 > 0)  # "where the campaign has a control group"

    p1, p0 = cv.ratio(sums.c1, sums.n1), cv.ratio(sums.c0, sums.n0)
    m1, m0 = cv.ratio(sums.s1, sums.n1), cv.ratio(sums.s0, sums.n0)
    n1, n0 = sums.n1.cast("float64"), sums.n0.cast("float64")

    def sample_var(s: ir.Value, q: ir.Value, n: ir.FloatingValue) -> ir.FloatingValue:
        spread = q.cast("float64") - s.cast("float64") * s.cast("float64") / n
        var = ibis.greatest(spread, 0.0) / (n - 1.0)
        return ibis.ifelse(n < 2, ibis.null("float64"), var)

    conv_diff = p1 - p0
    conv_se = ((p1 * (1.0 - p1)) / n1 + (p0 * (1.0 - p0)) / n0).sqrt()
    rev_diff = m1 - m0
    rev_se = (sample_var(sums.s1, sums.q1, n1) / n1 + sample_var(sums.s0, sums.q0, n0) / n0
              ).sqrt()
    conv_low, conv_high = _interval(conv_diff, conv_se)
    rev_low, rev_high = _interval(rev_diff, rev_se)
    return sums.select(
        *ctx.keys, "item",
        value=conv_diff, conversion_low=conv_low, conversion_high=conv_high,
        revenue_per_customer_lift=rev_diff, revenue_low=rev_low, revenue_high=rev_high,
        contacted_conversion=p1, control_conversion=p0,
        contacted_revenue_per_customer=m1, control_revenue_per_customer=m0,
        contacted=sums.n1, control=sums.n0,
    )


def relationship_activity(ctx: MetricContext, params: RelationshipParams) -> ir.Table:
    """Relationship contacts: made by a salesperson, or belonging to a `relationship` campaign
    (when the store has campaigns); never control touches."""
    touches = ctx.table("touches")
    touches = cv.in_period(ctx, touches.filter(~touches.is_control), "occurred_at")
    relationship = touches.salesperson_id.notnull()
    campaigns = ctx.optional_table("campaigns")
    if campaigns is not None:
        kinds = campaigns.filter(campaigns.kind == "relationship").select(_rel="campaign_id")
        touches = touches.left_join(kinds, touches.campaign_id == kinds._rel)
        relationship = touches.salesperson_id.notnull() | touches._rel.notnull()
    touches = touches.filter(relationship)
    if params.post_sale_only:
        first = cv.first_order_times(ctx, until=ctx.end).select(_fcid="customer_id",
                                                               _first="first_at")
        touches = touches.inner_join(first, touches.customer_id == first._fcid)
        touches = touches.filter(touches._first < touches.occurred_at)
    touches = cv.with_slice(ctx, touches)
    logged = cv.indicator(touches.logged).sum()
    return cv.summarize(touches, ctx, value=touches.count(),
                        customers=touches.customer_id.nunique(), logged=logged,
                        logged_share=cv.ratio(logged, touches.count()))


ATTRIBUTED = ("campaign_conversion", "campaign_revenue", "campaign_lift")
DEPENDS_ON = {"campaign_reach": "period", "campaign_roi": "campaigns",
              **dict.fromkeys(ATTRIBUTED, "period")}
"""What a period's answer reads (docs/warm.md): reach, the contacts of the period; ROI, every
contact of the campaigns started in it, whenever made; ATTRIBUTED, the contacts of the
period and the orders up to the attribution window after it (`reads_ahead`): an order's
credit goes to the latest contact before it, so a contact made before the period never
takes it from one of the period's, and the later ones are inside the window read. So a
refund on an old order recomputes the months whose contacts' windows hold it, not every
month after it. The rest (relationship activity, which reads each customer's first order)
read the history to the period's end."""
WINDOWED = (*ATTRIBUTED, "campaign_roi")
"""The metrics that read `attribution_days` past a contact (`Metric.reads_ahead`)."""


def _attribution_window(params: AttributionParams) -> timedelta:
    return timedelta(days=params.attribution_days)


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", TOUCH_SLICES)
        kw.setdefault("params", AttributionParams)
        kw.setdefault("series", True)  # everything is keyed by when the contact occurred
        kw.setdefault("depends_on", DEPENDS_ON.get(name, "history"))
        if name in WINDOWED:
            kw.setdefault("reads_ahead", _attribution_window)
        return Metric(name=name, title=title, title_pt=title_pt, description=description,
                      unit=unit, compute=fn, group=GROUP, **kw)  # type: ignore[arg-type]

    return [
        m("campaign_reach", "Campaign reach", "Alcance da campanha",
          "Distinct customers contacted in the period (control group excluded), per campaign "
          "(item) and for all campaigns; also the number of contacts.", "count",
          campaign_reach, params=NoParams, needs=("touches",),
          measures=("value", "contacts"), itemized=True),
        m("campaign_conversion", "Campaign conversion", "Conversão da campanha",
          "Of the customers contacted in the period, the share with a valid order within "
          "attribution_days (default 7) after a contact, per campaign (item) and overall.",
          "ratio", campaign_conversion, needs=("touches", "orders"),
          measures=("value", "contacted", "converted"), itemized=True),
        m("campaign_revenue", "Campaign revenue", "Receita da campanha",
          "Revenue of the valid orders credited (last touch inside the attribution window) to "
          "the contacts made in the period, per campaign (item) and overall.", "currency",
          campaign_revenue, needs=("touches", "orders"), measures=("value", "orders"),
          itemized=True),
        m("campaign_roi", "Campaign ROI", "ROI da campanha",
          "(campaign revenue - cost) / cost for the campaigns started in the period, with the "
          "revenue of all their contacts; null when the cost is zero.", "ratio", campaign_roi,
          needs=("campaigns", "touches", "orders"), slices=("channel",),
          measures=("value", "revenue", "cost"), itemized=True),
        m("campaign_lift", "Campaign lift", "Lift da campanha",
          "For campaigns with a control group: conversion (value) and revenue per customer of "
          "contacted minus control, each with a 95% normal-approximation interval.", "ratio",
          campaign_lift, needs=("touches", "orders"),
          measures=("value", "conversion_low", "conversion_high", "revenue_per_customer_lift",
                    "revenue_low", "revenue_high", "contacted_conversion",
                    "control_conversion", "contacted_revenue_per_customer",
                    "control_revenue_per_customer", "contacted", "control"),
          itemized=True),
        m("relationship_activity", "Relationship activity", "Atividade de relacionamento",
          "Post-sale contacts in the period (by salesperson or relationship campaign), distinct "
          "customers contacted, and the share of contacts logged.", "count",
          relationship_activity, params=RelationshipParams, needs=("touches", "orders"),
          reads_if_present=("campaigns",),
          slices=("salesperson_id", *TOUCH_SLICES),
          measures=("value", "customers", "logged", "logged_share")),
    ]
