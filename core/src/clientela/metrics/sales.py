"""KPIS.md, "Sales": counts and sums over the valid orders of a period."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import ibis

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.kpi.periods import from_utc, to_utc, zone
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Sales"
ALL = ("channel", "store_id", "salesperson_id", "acquisition_channel", "segment")
CUSTOMER = ("acquisition_channel", "segment")


def orders(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx, amounts=())
    return cv.summarize(o, ctx, value=o.count())


def revenue(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx)
    return cv.summarize(o, ctx, value=cv.money_sum(o.revenue))


def gross_sales(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx, amounts=("gross",))
    return cv.summarize(o, ctx, value=cv.money_sum(o.gross))


def discount_total(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx, amounts=("order_discount", "loyalty_value", "discount_value"))
    return cv.summarize(o, ctx, value=cv.money_sum(o.discount_value),
                        order_discounts=cv.money_sum(o.order_discount),
                        loyalty_discounts=cv.money_sum(o.loyalty_value))


def active_customers(ctx: MetricContext, params: NoParams) -> ir.Table:
    active = cv.period_customers(ctx)
    return cv.summarize(active, ctx, value=active.customer_id.nunique())


def new_customers(ctx: MetricContext, params: NoParams) -> ir.Table:
    first = cv.with_slice(ctx, cv.in_period(ctx, cv.first_orders(ctx), "first_at"))
    return cv.summarize(first, ctx, value=first.customer_id.nunique())


def aov(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx)
    return cv.summarize(o, ctx, value=cv.ratio(cv.money_sum(o.revenue), o.count()))


def purchase_frequency(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx, amounts=())
    o = o.filter(o.customer_id.notnull())  # a guest checkout belongs to no customer
    return cv.summarize(o, ctx, value=cv.ratio(o.count(), o.customer_id.nunique()))


def items_per_order(ctx: MetricContext, params: NoParams) -> ir.Table:
    o = cv.period_orders(ctx, amounts=())
    lines = ctx.table("order_lines")
    units = lines.group_by(_oid=lines.order_id).aggregate(_units=lines.quantity.sum())
    joined = o.left_join(units, o.order_id == units._oid)
    return cv.summarize(joined, ctx,
                        value=cv.ratio(joined._units.sum().coalesce(0), joined.count()))


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


def trailing_start(ctx: MetricContext, months: int) -> ir.Value:
    """[P's end - months, P's end) with months cut in the workspace time zone."""
    tz = zone(ctx.timezone)
    local_end = from_utc(ctx.end, tz)
    index = local_end.year * 12 + local_end.month - 1 - months
    local_start = local_end.replace(year=index // 12, month=index % 12 + 1)
    if local_start.day != local_end.day:  # 31 March minus one month
        local_start = local_start - timedelta(days=local_start.day - local_end.day)
    return ibis.literal(to_utc(local_start, tz))


class OmnichannelParams(NoParams):
    window_months: int = 12
    min_channels: int = 2


def omnichannel_share(ctx: MetricContext, params: OmnichannelParams) -> ir.Table:
    lo = trailing_start(ctx, params.window_months)
    o = cv.valid_orders(ctx, until=ctx.end, amounts=())
    o = o.filter((o.placed_at >= lo) & o.customer_id.notnull())
    per = cv.with_slice(ctx, o.group_by("customer_id").aggregate(channels=o.channel.nunique()))
    return cv.summarize(
        per, ctx,
        value=cv.ratio((per.channels >= params.min_channels).cast("int64").sum(), per.count()),
        omnichannel_customers=(per.channels >= params.min_channels).cast("int64").sum(),
        active_customers=per.count(),
    )


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", ALL)
        kw.setdefault("series", True)  # sums and counts over the period's orders
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
          series=False,
          slices=CUSTOMER, measures=("value", "omnichannel_customers", "active_customers")),
    ]
