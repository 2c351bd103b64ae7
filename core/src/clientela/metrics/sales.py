"""docs/metrics.md, "Sales": counts and sums over the valid orders of a period."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.context import ORDER_SLICES, PERIOD_COLUMN, MetricContext
from clientela.kpi.period_totals import period_totals, period_units
from clientela.kpi.periods import from_utc, to_utc, zone
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    import ibis.expr.types as ir

GROUP = "Sales"
ALL = ("channel", "store_id", "salesperson_id", "acquisition_channel", "segment")
CUSTOMER = ("acquisition_channel", "segment")


def orders(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "orders")
    return t.select(*ctx.keys, value=t.orders)


def revenue(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "revenue")
    return t.select(*ctx.keys, value=t.revenue)


def gross_sales(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "gross")
    return t.select(*ctx.keys, value=t.gross)


def discount_total(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "discount_value", "order_discount", "loyalty_value")
    return t.select(*ctx.keys, value=t.discount_value, order_discounts=t.order_discount,
                    loyalty_discounts=t.loyalty_value)


def active_customers(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "customers")
    return t.select(*ctx.keys, value=t.customers)


def new_customers(ctx: MetricContext, params: NoParams) -> ir.Table:
    # unsliced or by a customer dimension only the first order's instant matters; an order
    # dimension slices by where the first order was placed, so it needs that order
    if ctx.by in ORDER_SLICES:
        first = cv.with_slice(ctx, cv.in_period(ctx, cv.first_orders(ctx), "first_at"))
        return cv.summarize(first, ctx, value=first.customer_id.nunique())
    # one row per customer, and a customer dimension joins one value per customer: a count
    first = cv.with_slice(ctx, cv.in_period(ctx, cv.first_order_times(ctx), "first_at"))
    return cv.summarize(first, ctx, value=first.count())


def aov(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "revenue", "orders")
    return t.select(*ctx.keys, value=cv.ratio(t.revenue, t.orders))


def purchase_frequency(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_totals(ctx, "identified_orders", "customers")
    if ctx.keys:  # a period or slice of guest checkouts only has no identified customer
        t = t.filter(t.identified_orders > 0)
    return t.select(*ctx.keys, value=cv.ratio(t.identified_orders, t.customers))


def items_per_order(ctx: MetricContext, params: NoParams) -> ir.Table:
    t = period_units(ctx)
    return t.select(*ctx.keys, value=cv.ratio(t.units, t.orders))


def channel_mix(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx)
    per = o.group_by([*ctx.keys, cv.as_item(o.channel)]).aggregate(
        revenue=cv.money_sum(o.revenue), orders=o.count())
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    total_revenue = per.revenue.sum().over(window)
    total_orders = per.orders.sum().over(window)
    return per.select(
        *ctx.keys, "item",
        value=cv.ratio(per.revenue, total_revenue),
        revenue=per.revenue, orders=per.orders,
        orders_share=cv.ratio(per.orders, total_orders),
    )


def months_before(end: datetime, months: int, tz: ZoneInfo) -> datetime:
    """The naive UTC instant `months` local calendar months before `end`, on the same local
    day and time, or on the last day of a shorter month (31 March minus one month is 28 or
    29 February)."""
    local_end = from_utc(end, tz)
    index = local_end.year * 12 + local_end.month - 1 - months
    year, month = index // 12, index % 12 + 1
    day = min(local_end.day, calendar.monthrange(year, month)[1])
    return to_utc(local_end.replace(year=year, month=month, day=day), tz)


def trailing_start(ctx: MetricContext, months: int) -> ir.Value:
    """[P's end - months, P's end) with months cut in the workspace time zone."""
    return ibis.literal(months_before(ctx.end, months, zone(ctx.timezone)))


class OmnichannelParams(NoParams):
    window_months: int = Field(default=12, ge=1, le=120,
                               description="Trailing months, as of the period's end.")
    min_channels: int = Field(default=2, ge=1,
                              description="Channels a customer must have bought in.")


def _channel_spans(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    """customer_id, _k, _stop: the series periods [_k, _stop) in which a channel of the
    customer counts, one row per customer, channel and bucket with an order.

    A channel counts for a customer at period p iff their last order in it before E_p is
    at or after lo_p (the trailing start). The last order of bucket k stays the last one
    until the channel's next bucket with an order, and stays in the window while
    lo_p <= it: spans of one channel never overlap."""
    periods = ctx.periods or ()
    tz = zone(ctx.timezone)
    los = [months_before(p.end_utc, params.window_months, tz) for p in periods]
    o = cv.valid_orders(ctx, since=los[0], until=ctx.end, amounts=())
    o = o.filter(o.customer_id.notnull() & o.channel.notnull())  # a channel is required
    o = o.mutate(_k=cv.bucket_index(o.placed_at, [p.start_utc for p in periods]))
    per = o.group_by(["customer_id", "channel", "_k"]).aggregate(_last=o.placed_at.max())
    following = per._k.lead().over(ibis.window(group_by=[per.customer_id, per.channel],
                                               order_by=per._k))
    stop = ibis.least(following.coalesce(len(periods)), cv.count_at_or_before(per._last, los))
    spans = per.select("customer_id", "_k", _stop=stop)
    return spans.filter(spans._stop > spans._k)


def _threshold_changes(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    """customer_id, _k, _active, _omni: where a customer's count of counted channels
    crosses 1 (active) and min_channels (omnichannel) going into period _k, +1 up and -1
    down. Summed per slice and bucket and run over the periods, they give each period's
    counts without a row per customer and period."""
    spans = _channel_spans(ctx, params)
    n = len(ctx.periods or ())
    one = ibis.literal(1, type="int64")
    ups = spans.select("customer_id", "_k", _d=one)
    downs = spans.filter(spans._stop < n).select("customer_id", _k=spans._stop, _d=-one)
    steps = ibis.union(ups, downs, distinct=False)
    steps = steps.group_by(["customer_id", "_k"]).aggregate(_d=steps._d.sum())
    steps = steps.filter(steps._d != 0)
    count = steps._d.sum().over(ibis.cumulative_window(group_by=steps.customer_id,
                                                       order_by=steps._k))
    steps = steps.mutate(_now=count)
    before = steps._now - steps._d

    def crossing(level: int) -> ir.IntegerValue:
        return cv.indicator(steps._now >= level) - cv.indicator(before >= level)

    # an active customer has a channel, so min_channels below 1 means every active one
    changes = steps.select("customer_id", "_k", _active=crossing(1),
                           _omni=crossing(max(params.min_channels, 1)))
    return changes.filter((changes._active != 0) | (changes._omni != 0))


def _counts_per_period(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    """PERIOD_COLUMN, the slice, active and omni: the customers active in each period's
    trailing window, and those of them in min_channels+ channels, for the slices with
    any."""
    changes = cv.with_slice(ctx, _threshold_changes(ctx, params))
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    per = changes.group_by([*slices, "_k"]).aggregate(_active=changes._active.sum(),
                                                      _omni=changes._omni.sum())
    counts = cv.at_each_end(ctx, per, slices, active=lambda w: per._active.sum().over(w),
                            omni=lambda w: per._omni.sum().over(w))
    return counts.filter(counts.active > 0)


def _channels(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    """customer_id, channels: the customers active in the trailing window to P's end and
    the channels they bought in there."""
    lo = trailing_start(ctx, params.window_months)
    o = cv.valid_orders(ctx, until=ctx.end, amounts=())
    o = o.filter((o.placed_at >= lo) & o.customer_id.notnull())
    return o.group_by("customer_id").aggregate(channels=o.channel.nunique())


def omnichannel_share(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    if ctx.periods:
        counts = _counts_per_period(ctx, params)
        active, omni = counts.active.cast("int64"), counts.omni.cast("int64")
        return counts.select(*ctx.keys, value=cv.ratio(omni, active),
                             omnichannel_customers=omni, active_customers=active)
    per = cv.with_slice(ctx, _channels(ctx, params))
    omni = cv.indicator(per.channels >= params.min_channels).sum()
    return cv.summarize(per, ctx, value=cv.ratio(omni, per.count()),
                        omnichannel_customers=omni, active_customers=per.count())


PERIOD_LOCAL = ("orders", "revenue", "gross_sales", "discount_total", "active_customers", "aov",
                "purchase_frequency", "items_per_order", "channel_mix")
"""Metrics that read only the orders placed in their period (docs/warm.md)."""


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", ALL)
        kw.setdefault("series", True)  # sums and counts over the period's orders
        if name in PERIOD_LOCAL:
            kw.setdefault("depends_on", "period")
        return Metric(name=name, title=title, title_pt=title_pt, description=description,
                      unit=unit, compute=fn, group=GROUP, **kw)  # type: ignore[arg-type]

    return [
        m("orders", "Orders", "Pedidos", "Count of valid orders in the period.", "count", orders),
        m("revenue", "Revenue", "Receita",
          "Sum of total minus refunds of valid orders, in the reporting currency.", "currency",
          revenue),
        m("gross_sales", "Gross sales", "Vendas brutas",
          "Sum of order subtotals before discounts, valid orders.", "currency", gross_sales),
        m("discount_total", "Discounts granted", "Descontos concedidos",
          "Order discounts plus loyalty redemptions, valid orders.", "currency", discount_total,
          measures=("value", "order_discounts", "loyalty_discounts")),
        m("active_customers", "Active customers", "Clientes ativos",
          "Distinct customers with a valid order in the period.", "count", active_customers),
        m("new_customers", "New customers", "Clientes novos",
          "Customers whose first valid order ever is in the period (sliced by where that "
          "first order was placed).", "count", new_customers),
        m("aov", "Average order value", "Ticket médio", "Revenue / orders.", "currency", aov),
        m("purchase_frequency", "Purchase frequency", "Frequência de compra",
          "Orders / active customers (orders of identified customers).", "number",
          purchase_frequency),
        m("items_per_order", "Items per order", "Itens por pedido",
          "Total units / orders.", "number", items_per_order, needs=("orders", "order_lines")),
        m("channel_mix", "Channel mix", "Mix de canais",
          "Revenue and orders per channel (item), and each channel's share of revenue (value) "
          "and of orders.", "table", channel_mix,
          slices=("store_id", "salesperson_id", "acquisition_channel", "segment"),
          measures=("value", "revenue", "orders", "orders_share"), itemized=True),
        m("omnichannel_share", "Omnichannel share", "Participação omnichannel",
          "Share of the customers active in the trailing 12 months (as of the period's end) "
          "who bought in 2+ channels.", "ratio", omnichannel_share, params=OmnichannelParams,
          slices=CUSTOMER, measures=("value", "omnichannel_customers", "active_customers")),
    ]
