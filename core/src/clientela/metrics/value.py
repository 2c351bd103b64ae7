"""KPIS.md, "Value": the historical ones (ltv_historical, cac). The predictive ones
(clv_predicted, p_alive) and ltv_cac_ratio belong to another module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Value"


def acquired(ctx: MetricContext) -> ir.Table:
    """Customers whose first valid order falls in the period (its acquisition cohort)."""
    first = cv.first_orders(ctx, until=ctx.end)
    return first.filter(first.first_at >= ctx.start)


def ltv_historical(ctx: MetricContext, params: NoParams) -> ir.Table:
    cohort = cv.with_slice(ctx, acquired(ctx)).select("customer_id", *ctx.keys)
    h = cv.customer_history(ctx, until=ctx.as_of).select(_cid="customer_id", _revenue="revenue")
    joined = cohort.left_join(h, cohort.customer_id == h._cid)
    total = cv.money_sum(joined._revenue)
    return cv.summarize(joined, ctx, value=cv.ratio(total, joined.count()),
                        customers=joined.count(), revenue=total)


def cac(ctx: MetricContext, params: NoParams) -> ir.Table:
    spend = ctx.table("marketing_spend")
    spend = spend.filter((spend.day >= ctx.period.start.date()) &
                         (spend.day < _end_day(ctx)))
    new = acquired(ctx)
    if ctx.by == "acquisition_channel":
        new = cv.with_slice(ctx, new)
        spent = spend.group_by(slice=spend.channel.cast("string")).aggregate(
            spend=cv.money_sum(spend.amount))
        counts = new.group_by("slice").aggregate(new_customers=new.count())
        joined = spent.outer_join(counts, spent.slice == counts.slice)
        joined = joined.select(slice=joined.slice.coalesce(joined.slice_right),
                               spend=joined.spend.coalesce(0).cast(cv.MONEY),
                               new_customers=joined.new_customers.coalesce(0))
        return joined.mutate(value=cv.ratio(joined.spend, joined.new_customers))
    total = spend.aggregate(spend=cv.money_sum(spend.amount))
    counts = new.aggregate(new_customers=new.count())
    joined = total.cross_join(counts)
    return joined.select(value=cv.ratio(joined.spend, joined.new_customers),
                         spend=joined.spend, new_customers=joined.new_customers)


def _end_day(ctx: MetricContext) -> object:
    """Spend is recorded per local day: the period covers the days that start inside it."""
    end = ctx.period.end
    return end.date() if end.time() == end.min.time() else end.date().fromordinal(
        end.date().toordinal() + 1)


def metrics() -> list[Metric]:
    return [
        Metric(name="ltv_historical", title="Historical LTV", title_pt="LTV histórico",
               description="Mean revenue per customer from first order to the as-of date, of "
               "the customers acquired in the period (its cohort); by acquisition channel.",
               unit="currency", compute=ltv_historical, group=GROUP,
               slices=("acquisition_channel", "channel", "store_id", "salesperson_id"),
               measures=("value", "customers", "revenue")),
        Metric(name="cac", title="Customer acquisition cost", title_pt="CAC",
               description="Marketing spend in the period / new customers in it; by "
               "acquisition channel when spend and acquisition channel are both recorded.",
               unit="currency", compute=cac, group=GROUP,
               needs=("orders", "marketing_spend"), slices=("acquisition_channel",),
               measures=("value", "spend", "new_customers")),
    ]
