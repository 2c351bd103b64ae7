"""docs/metrics.md, "Value": the historical ones (ltv_historical, cac) and ltv_cac_ratio. The
predictive ones (clv_predicted, p_alive) live in clientela.metrics.clv; the ratio
borrows their per-customer prediction when asked for `ltv="predicted"`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import ibis
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.context import ORDER_SLICES, PERIOD_COLUMN, SLICE_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Value"


def acquired(ctx: MetricContext) -> ir.Table:
    """Customers whose first valid order falls in the period (its acquisition cohort), each
    tagged with its period in a series. Unsliced or by a customer dimension only when each
    began matters (`first_order_times`, one group-by); an order dimension slices by where
    the first order was placed, so it needs that order (`first_orders`, two more joins)."""
    first = cv.first_orders(ctx) if ctx.by in ORDER_SLICES else cv.first_order_times(ctx)
    return cv.in_period(ctx, first, "first_at")


def ltv_historical(ctx: MetricContext, params: NoParams) -> ir.Table:
    return _answer_of(ctx, "ltv_historical", _ltv_historical)


def _ltv_historical(ctx: MetricContext, params: NoParams) -> ir.Table:
    if ctx.periods and not ctx.as_of_fixed:
        return _ltv_in_series(ctx)
    cohort = cv.with_slice(ctx, acquired(ctx)).select("customer_id", *ctx.keys)
    h = cv.history_at(ctx, at="as_of")
    h = h.select(_cid=h.customer_id, _revenue=h.revenue,
                 **({"_p": h[PERIOD_COLUMN]} if ctx.periods else {}))
    on = [cohort.customer_id == h._cid]
    if ctx.periods:
        on.append(cohort[PERIOD_COLUMN] == h._p)
    joined = cohort.left_join(h, on)
    total = cv.money_sum(joined._revenue)
    return cv.summarize(joined, ctx, value=cv.ratio(total, joined.count()),
                        customers=joined.count(), revenue=total)


def _ltv_in_series(ctx: MetricContext) -> ir.Table:
    """_ltv_historical for a series whose as-of instants are the period ends. A cohort
    member's first valid order is in the period, so every valid order of theirs before the
    period's end is in the period too: their revenue to the as-of date is the revenue of
    their orders tagged with that period. The period's orders meet the cohort in one join
    (its members, not every customer x period row of the history); the revenue summed per
    period and slice is the history's per customer, summed (DECIMAL: exact either way)."""
    cohort = cv.with_slice(ctx, acquired(ctx)).select("customer_id", *ctx.keys)
    o = cv.in_period(ctx, cv.valid_orders(ctx, amounts=("revenue",)), "placed_at")
    o = o.select(_cid=o.customer_id, _p=o[PERIOD_COLUMN], _revenue=o.revenue)
    bought = cohort.inner_join(o, [cohort.customer_id == o._cid,
                                   cohort[PERIOD_COLUMN] == o._p])
    spent = cv.summarize(bought, ctx, revenue=cv.money_sum(bought._revenue))
    counts = cv.summarize(cohort, ctx, customers=cohort.count())
    joined = cv.join_keys(counts, spent, ctx.keys)
    total = joined.revenue.coalesce(ibis.literal(0, type=cv.MONEY))
    return joined.select(*ctx.keys, value=cv.ratio(total, joined.customers),
                         customers=joined.customers, revenue=total)


def cac(ctx: MetricContext, params: NoParams) -> ir.Table:
    return _answer_of(ctx, "cac", _cac)


def _cac(ctx: MetricContext, params: NoParams) -> ir.Table:
    spend = cv.in_period_days(ctx, ctx.table("marketing_spend"), "day")
    new = acquired(ctx)
    if ctx.by == "acquisition_channel":
        new = cv.with_slice(ctx, new)
        spend = spend.mutate(**{SLICE_COLUMN: spend.channel.cast("string")})
    spent = cv.summarize(spend, ctx, spend=cv.money_sum(spend.amount))
    counts = cv.summarize(new, ctx, new_customers=new.count())
    if not ctx.keys:
        joined = spent.cross_join(counts)
    else:  # a channel (or period) with spend and no new customer counts, and the reverse
        right = counts.rename({f"_{k}": k for k in ctx.keys})
        joined = spent.outer_join(right, [spent[k] == right[f"_{k}"] for k in ctx.keys])
        joined = joined.select(
            *[joined[k].coalesce(joined[f"_{k}"]).name(k) for k in ctx.keys],
            spend=joined.spend.coalesce(0).cast(cv.MONEY),
            new_customers=joined.new_customers.coalesce(0))
    return joined.select(*ctx.keys, value=cv.ratio(joined.spend, joined.new_customers),
                         spend=joined.spend, new_customers=joined.new_customers)


class LtvCacParams(NoParams):
    ltv: Literal["historical", "predicted"] = Field(
        default="historical",
        description="LTV of the cohort: revenue to the as-of date (historical) or the "
        "predicted CLV (BG/NBD + Gamma-Gamma, as clv_predicted).")
    horizon_months: int = Field(default=12, ge=1, le=600,
                                description="Horizon of the predicted CLV.")
    discount_rate: float = Field(default=0.01, gt=-1,
                                 description="Monthly discount rate of the predicted CLV.")


def _predicted_ltv(ctx: MetricContext, params: LtvCacParams) -> ir.Table:
    """Mean predicted CLV of the period's cohort, per slice; the fit is the one clv_predicted
    makes (shared through the call's cache, so asking for both fits once)."""
    from clientela.clv.engine.periods import predicted_values

    _, values = next(predicted_values(ctx, horizon_months=params.horizon_months,
                                      discount_rate=params.discount_rate))
    per = ibis.memtable(values.to_arrow().select(["customer_id", "clv"]))
    per = per.select(_cid=per.customer_id, _clv=per.clv)
    cohort = cv.with_slice(ctx, acquired(ctx)).select("customer_id", *ctx.keys)
    joined = cohort.left_join(per, cohort.customer_id == per._cid)
    # a cohort member with no order before the as-of date (as_of fixed earlier) is worth 0
    total = joined._clv.coalesce(0.0).sum()
    return cv.summarize(joined, ctx, value=cv.ratio(total, joined.count()),
                        customers=joined.count())


def _answer_of(ctx: MetricContext, name: str, metric: object) -> ir.Table:
    """The answer of one of the catalogue's own metrics (no parameters) for this context,
    kept for the call: asked for alongside ltv_cac_ratio, ltv_historical and cac are then
    computed once for both. A few rows per period and slice."""
    key = "|".join(str(part) for part in (
        name, ctx.start.isoformat(), ctx.end.isoformat(), len(ctx.periods or ()),
        ctx.as_of.isoformat() if ctx.as_of_fixed or not ctx.periods else "ends",
        ctx.by, ctx.segmenter, ctx.segment_as_of))
    return ctx.shared(f"value.answer|{key}",
                      lambda: metric(ctx, NoParams()),  # type: ignore[operator]
                      transient=not ctx.periods)


def ltv_cac_ratio(ctx: MetricContext, params: LtvCacParams) -> ir.Table:
    """LTV of the customers acquired in P over what acquiring each of them cost. Both sides
    are the catalogue's own metrics, joined per slice, so the ratio can never drift from the
    ltv_historical / clv_predicted and cac it is made of."""
    historical = params.ltv == "historical"
    if ctx.periods and not historical:
        raise SeriesUnsupported(ctx.metric)  # a model fitted per period's end
    ltv = ltv_historical(ctx, NoParams()) if historical else _predicted_ltv(ctx, params)
    ltv = ltv.select(*ctx.keys, ltv=ltv.value.cast("float64"))
    spent = cac(ctx, NoParams())
    spent = spent.select(*ctx.keys, cac=spent.value, spend=spent.spend,
                         new_customers=spent.new_customers)
    joined = cv.join_keys(spent, ltv, ctx.keys)
    return joined.select(*ctx.keys, value=cv.ratio(joined.ltv, joined.cac), ltv=joined.ltv,
                         cac=joined.cac, spend=joined.spend, new_customers=joined.new_customers)


def metrics() -> list[Metric]:
    return [
        Metric(name="ltv_historical", title="Historical LTV", title_pt="LTV histórico",
               description="Mean revenue per customer from first order to the as-of date, of "
               "the customers acquired in the period (its cohort); by acquisition channel.",
               unit="currency", compute=ltv_historical, group=GROUP,
               slices=("acquisition_channel", "channel", "store_id", "salesperson_id"),
               measures=("value", "customers", "revenue"), series=True),
        Metric(name="cac", title="Customer acquisition cost", title_pt="CAC",
               description="Marketing spend in the period / new customers in it; by "
               "acquisition channel when spend and acquisition channel are both recorded.",
               unit="currency", compute=cac, group=GROUP,
               needs=("orders", "marketing_spend"), slices=("acquisition_channel",),
               measures=("value", "spend", "new_customers"), series=True),
        Metric(name="ltv_cac_ratio", title="LTV / CAC", title_pt="Relação LTV / CAC",
               description="Historical LTV (or predicted CLV, ltv=predicted) of the customers "
               "acquired in the period / CAC of the period; by acquisition channel when spend "
               "is recorded per channel.",
               unit="number", compute=ltv_cac_ratio, params=LtvCacParams, group=GROUP,
               needs=("orders", "marketing_spend"), slices=("acquisition_channel",),
               measures=("value", "ltv", "cac", "spend", "new_customers"), series=True),
    ]
