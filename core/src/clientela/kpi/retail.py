"""The retail rules of docs/metrics.md: which orders count and what they are worth.

Valid orders (not cancelled, not refunded), their amounts in the reporting currency
(rounded to cents, DECIMAL) and each customer's first valid order: every metric reads
orders through here, so a fix to a rule reaches every metric at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.datatypes as dt

from clientela.kpi.built import built_once
from clientela.kpi.context import MetricContext
from clientela.kpi.persons import persons_apply
from clientela.kpi.sql import MONEY, to_money
from clientela.model import INVALID_ORDER_STATUSES

if TYPE_CHECKING:
    import ibis.expr.types as ir


def _rate(orders: ir.Table) -> ir.Value:
    """Reporting-currency units per order-currency unit. An order in the reporting currency
    has no rate (1); an order in another currency always has one: the import refuses a
    foreign order without it, so nothing foreign is ever summed at 1 by accident."""
    return orders.fx_rate.coalesce(ibis.literal(1, type=dt.Decimal(18, 8)))


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
    "source", "order_id", "customer_id", "placed_at", "channel", "store_id", "salesperson_id",
    "coupon", "loyalty_points_earned", "loyalty_points_redeemed",
)
"""The order columns valid_orders carries besides the converted amounts: what metrics read.
The raw money columns, status, currency and store bookkeeping stay out, so the table every
metric shares is about half as wide (it is held in memory for a whole engine call); a
metric needing another column reads ctx.table("orders"). `source` stays in: an order is
keyed by (source, order_id) (two sources may both have an order "1001"), so a metric that
meets the orders with their lines joins on both."""


MANY_METRICS = 10
"""From this many metrics in one call the valid orders are written out once and shared, as
before: the whole catalogue (46 metrics, 1M orders) took the same CPU either way (27.2 s
against 27.5 s reading the store table in every query), so it keeps the plan it had and
the memory that table costs is the catalogue's alone; five simple monthly metrics took 40%
less CPU without it."""


def valid_orders(ctx: MetricContext, *, since: datetime | None = None,
                 until: datetime | None = None,
                 amounts: tuple[str, ...] | None = None) -> ir.Table:
    """Valid orders placed in [since, until), with amounts in the reporting currency.

    `amounts` picks the converted DECIMAL(18,2) columns to add (see AMOUNTS): `revenue`
    (total - refunded), `gross` (subtotal), `order_discount`, `loyalty_value`,
    `discount_value` (order discount plus loyalty discount); all of them by default.

    An engine call that answers many metrics (MANY_METRICS, the catalogue), or reads orders
    as persons (a join with `identity_links`, which then runs once), computes the valid
    orders with every amount once and each metric and period filters that table. A call
    with a few metrics reads the store's own table directly: a filter and the few columns a
    metric uses are pushed into the scan, which costs less than writing every column and
    amount of every valid order to a table first (at 1M orders that copy took longer than
    the five simple monthly metrics that read it). The materialised table is not sorted: a
    sort by time cost about as much as every filter it saved (4.0 s against 2.0 s at 10M
    orders). A warm call reading a carried customer state from its start on reads the store
    table directly too (`clientela.kpi.carried.reads_orders_direct`).
    """
    from clientela.kpi.carried import reads_orders_direct

    if ctx.cache is None or not ctx.cache.materialise or not (
            ctx.cache.metrics >= MANY_METRICS or persons_apply(ctx)) or reads_orders_direct(ctx) \
            or _one_period_read(ctx, since, until):
        return _valid_orders(ctx, since=since, until=until, amounts=amounts)
    columns = ORDER_COLUMNS

    def build() -> ir.Table:
        return _valid_orders(ctx, since=None, until=None, amounts=STORED_AMOUNTS)

    def direct() -> ir.Table:
        return _valid_orders(ctx, since=since, until=until, amounts=amounts)

    base = ctx.shared("valid_orders", build, once=direct)
    if since is not None:
        base = base.filter(base.placed_at >= since)
    if until is not None:
        base = base.filter(base.placed_at < until)
    wanted = tuple(AMOUNTS) if amounts is None else amounts
    if "discount_value" in wanted and "discount_value" not in base.columns:
        base = base.mutate(discount_value=(base.order_discount + base.loyalty_value).cast(MONEY))
    return base.select(*columns, *[name for name in AMOUNTS if name in wanted])


def _one_period_read(ctx: MetricContext, since: datetime | None,
                     until: datetime | None) -> bool:
    """A read bounded on both sides in a call of one period: the scan of the store table
    keeps that period's orders alone, where writing the shared table writes every valid
    order ever (a warm call recomputing the month of a refunded order wrote 969k valid
    orders, 1.0 s at 1M, for fourteen metrics that each read one month of them). A read
    reaching back to the first order still shares the written table, and no read alters
    what it is given, so the answers are the same either way. Persons are read through
    `identity_links` once, so a call reading orders as persons keeps the shared table."""
    return (ctx.cache is not None and ctx.cache.periods == 1 and since is not None
            and until is not None and not persons_apply(ctx))


STORED_AMOUNTS: tuple[str, ...] = tuple(a for a in AMOUNTS if a != "discount_value")
"""The amounts the shared valid orders are written out with: `discount_value` is the sum
of two of them (as `_valid_orders` computes it), added on reading instead of stored, so
the table every catalogue call writes holds one DECIMAL column fewer."""


def invalid_order(orders: ir.Table) -> ir.BooleanValue:
    """The rule every reader of orders shares: an order is invalid when it is cancelled or
    fully refunded (INVALID_ORDER_STATUSES), or has no status. Never null, so its negation
    keeps exactly the valid orders, and a reader that keeps orders whatever their status
    (the redemptions) tells them apart by the same rule valid_orders filters by."""
    # sorted: a set's order changes with the process's string hashing, and with it the
    # expression (and the SQL text) every reader of orders builds
    return orders.status.isnull() | orders.status.isin(sorted(INVALID_ORDER_STATUSES))


def _valid_orders(ctx: MetricContext, *, since: datetime | None, until: datetime | None,
                  amounts: tuple[str, ...] | None) -> ir.Table:
    """valid_orders straight from the store table. Ask for only the amounts you use: Ibis
    compiles every column, and compilation is most of the cost of a query on a small store.

    Built once per engine call for each span and amounts (`built_once`): in a warm call,
    where every metric reads the store table, five of them ask for the same orders without
    amounts, four for the same orders with their revenue."""
    return built_once(ctx, f"valid_orders|{since}|{until}|{amounts}",
                      lambda: _valid_orders_built(ctx, since=since, until=until,
                                                  amounts=amounts))


def _valid_orders_built(ctx: MetricContext, *, since: datetime | None,
                        until: datetime | None, amounts: tuple[str, ...] | None) -> ir.Table:
    orders = ctx.table("orders")
    # one filter: each filter of a wide table makes Ibis name every column again (a node
    # per column); the SQL is the same WHERE either way
    kept = [~invalid_order(orders)]
    if since is not None:
        kept.append(orders.placed_at >= since)
    if until is not None:
        kept.append(orders.placed_at < until)
    orders = orders.filter(*kept)
    if amounts is None:
        amounts = tuple(AMOUNTS)
    if not amounts:
        return orders.select(*ORDER_COLUMNS)
    added = converted(orders, amounts)
    return orders.select(*ORDER_COLUMNS, **{name: added[name] for name in amounts})


def converted(orders: ir.Table, amounts: tuple[str, ...]) -> dict[str, ir.Value]:
    """The `amounts` (see AMOUNTS) of rows of the store's orders table, in the reporting
    currency: for a reader that keeps orders whatever their status (and so cannot read
    valid_orders) yet must value them exactly as valid_orders does."""
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
    return added


FIRST_ORDER_COLUMNS: tuple[str, ...] = ("customer_id", "channel", "store_id",
                                        "salesperson_id", "order_id", "first_at")


def first_orders(ctx: MetricContext, *, until: datetime | None = None) -> ir.Table:
    """Each customer's first valid order ever (before `until`): customer_id, first_at and the
    first order's channel, store and salesperson (so new customers slice by where they began).
    The first is the earliest, of orders placed at the same instant the smallest
    order_id, and of those the smallest source: an order is keyed by (source, order_id),
    so two sources' orders "1001" at one instant still give one first order (see
    `first_orders_reference`, the definition written as a ranking).

    The first order before `until` is the first order ever when that one is before `until`
    (and there is none otherwise), so the table is computed once over the whole history and
    filtered per period. In a warm call carrying a customer state it is built from that
    state and the orders since (`first_orders_since`)."""
    from clientela.kpi.carried import state_for

    def build() -> ir.Table:
        return first_orders_since(ctx, state_for(ctx, first_orders=True))

    first = ctx.shared("first_orders", build)
    return first if until is None else first.filter(first.first_at < until)


def first_order_times(ctx: MetricContext, *, until: datetime | None = None) -> ir.Table:
    """customer_id and first_at, the instant of each customer's first valid order ever
    (before `until`): `first_orders` without the order's own columns, for a metric that
    needs only when a customer began (new customers unsliced or by a customer dimension,
    cohorts). The first order's instant is the earliest instant, so this is one group-by
    with a min, without the joins that find which order it was.

    In a warm call carrying a customer state (`clientela.kpi.carried`) it is the state's
    first orders and the first of the orders placed since, by customer: every order in the
    state comes before every order after it, so the min of both is the first ever."""
    from clientela.kpi.carried import state_for

    def build() -> ir.Table:
        carried = state_for(ctx)
        orders = valid_orders(ctx, since=None if carried is None else carried[1], amounts=())
        orders = orders.filter(orders.customer_id.notnull())
        first = orders.group_by("customer_id").aggregate(first_at=orders.placed_at.min())
        if carried is None:
            return first
        kept = carried[0]
        kept = kept.select(*[kept[c].cast(first[c].type()).name(c) for c in first.columns])
        both = kept.union(first, distinct=False)
        return both.group_by("customer_id").aggregate(first_at=both.first_at.min())

    first = ctx.shared("first_order_times", build)
    return first if until is None else first.filter(first.first_at < until)


def first_orders_since(ctx: MetricContext, state: tuple[ir.Table, datetime] | None, *,
                       until: datetime | None = None) -> ir.Table:
    """`first_orders` (FIRST_ORDER_COLUMNS) over the valid orders before `until`: from every
    order, or from `state` (each customer's first order as of an instant, and that instant)
    and, for the customers not in it, their first order among the orders placed since.
    Every order in the state comes before every order after it, so a customer in the state
    began there, and the two give the same rows."""
    if state is None:
        return _first_orders_by_min(valid_orders(ctx, until=until, amounts=()))
    kept, since = state
    new = _first_orders_by_min(valid_orders(ctx, since=since, until=until, amounts=()))
    kept = kept.select(*[kept[c].cast(new[c].type()).name(c) for c in FIRST_ORDER_COLUMNS])
    new = new.anti_join(kept, new.customer_id == kept.customer_id)
    return kept.union(new.select(*FIRST_ORDER_COLUMNS), distinct=False)


def _first_orders_by_min(orders: ir.Table) -> ir.Table:
    """first_orders_reference by group-bys instead of a ranking: each customer's earliest
    instant (a min), the orders at that instant (a join: almost always one), the smallest
    (order_id, source) among them and that order's row. Hash aggregates and joins replace a
    sort of every order by customer and time (about twice as fast at 10M orders), and min()
    is the same on every engine, where arg_min's handling of nulls is not.

    The smallest key is the smallest order_id, then the smallest source among the orders
    with that id: the tie-break takes (source, order_id), the store's key, so it names one
    order; on order_id alone two sources' orders "1001" at one instant were both first."""
    orders = orders.filter(orders.customer_id.notnull())
    earliest = orders.group_by(_cid="customer_id").aggregate(_at=orders.placed_at.min())
    at_first = orders.inner_join(earliest, (orders.customer_id == earliest._cid)
                                 & (orders.placed_at == earliest._at))
    tie = at_first.group_by(_tcid="customer_id").aggregate(_oid=at_first.order_id.min())
    same_id = at_first.inner_join(tie, (at_first.customer_id == tie._tcid)
                                  & (at_first.order_id == tie._oid))
    source = same_id.group_by(_scid="customer_id").aggregate(_src=same_id.source.min())
    first = same_id.inner_join(source, (same_id.customer_id == source._scid)
                               & (same_id.source == source._src))
    return first.select("customer_id", "channel", "store_id", "salesperson_id", "order_id",
                        first_at=first.placed_at)


def first_orders_reference(orders: ir.Table) -> ir.Table:
    """The definition of a customer's first order, as a ranking: number each customer's
    valid orders by (placed_at, order_id, source) and keep the first. `first_orders`
    computes the same rows by group-bys; a test holds the two equal."""
    orders = orders.filter(orders.customer_id.notnull())
    ranked = orders.mutate(_n=ibis.row_number().over(
        group_by=orders.customer_id,
        order_by=[orders.placed_at, orders.order_id, orders.source]))
    first = ranked.filter(ranked._n == 0)
    return first.select("customer_id", "channel", "store_id", "salesperson_id", "order_id",
                        first_at=first.placed_at)


def first_order_at(ctx: MetricContext) -> datetime | None:
    """The instant (naive UTC) of the store's first order of any status, or None: where a
    metric that looks at the whole history starts, whatever the year (CDNOW begins in 1997)."""
    orders = ctx.table("orders")
    found = orders.aggregate(lo=orders.placed_at.min()).to_pyarrow()["lo"][0].as_py()
    return found.replace(tzinfo=None) if found is not None else None
