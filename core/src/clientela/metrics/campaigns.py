"""KPIS.md, "Campaigns and channels": contacts, what followed them, and what they cost.

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
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
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
    touches = touches.filter(touches.campaign_id.notnull())
    if control is not None:
        touches = touches.filter(touches.is_control == control)
    if since is not None:
        touches = touches.filter(touches.occurred_at >= since)
    if until is not None:
        touches = touches.filter(touches.occurred_at < until)
    return touches


def period_touches(ctx: MetricContext, *, control: bool | None = False) -> ir.Table:
    """The campaign touches that occurred in the period (tagged with their period in a
    series)."""
    return cv.in_period(ctx, campaign_touches(ctx, control=control), "occurred_at")


def _slot(moment: ir.TimestampValue, days: int) -> ir.IntegerValue:
    """Which run of `days` days since the epoch an instant falls in."""
    return (cv.epoch(moment).cast("float64") / (days * cv.SECONDS_PER_DAY)).floor().cast("int64")


def _window(touches: ir.Table, orders: ir.Table, days: int) -> list[ir.BooleanValue]:
    """Join predicates: the order is the contacted customer's, placed in [touch, touch + days).

    An order in a touch's window is in the touch's run of `days` days or the next one, and
    `_orders_after` lists each order under both runs it can be reached from (`_oslot`): the
    engine joins on customer and run, so a customer's touches meet only the orders near them
    rather than every order the customer ever placed (15 touches x 10 orders per customer
    is 150M candidate pairs at 10M orders). Each matching pair still meets exactly once."""
    return [
        touches.customer_id == orders._ocid,
        _slot(touches.occurred_at, days) == orders._oslot,
        orders.placed_at >= touches.occurred_at,
        orders.placed_at < touches.occurred_at + ibis.interval(days=days),
    ]


def _orders_after(ctx: MetricContext, days: int, *, since: datetime,
                  until: datetime | None) -> ir.Table:
    """Valid orders that can fall in the window of a touch made in [since, until), each twice:
    under its own run of `days` days and under the run before (see `_window`)."""
    orders = cv.valid_orders(ctx, since=since,
                             until=None if until is None else until + timedelta(days=days))
    orders = orders.filter(orders.customer_id.notnull())
    orders = orders.select(_ocid=orders.customer_id, order_id=orders.order_id,
                           placed_at=orders.placed_at, revenue=orders.revenue,
                           _oslot=_slot(orders.placed_at, days))
    earlier = orders.mutate(_oslot=orders._oslot - 1)
    return orders.union(earlier, distinct=False)


def converted_units(ctx: MetricContext, touches: ir.Table, days: int,
                    unit: list[str]) -> ir.Table:
    """One row per unit (e.g. campaign x customer x slice) with `converted` (0/1) and the
    `revenue` of the distinct valid orders inside any of its touches' windows.

    The slice is on `touches` before the join so that a null slice still groups (an equality
    join on it would drop the row)."""
    orders = _orders_after(ctx, days, since=ctx.start, until=ctx.end)
    joined = touches.left_join(orders, _window(touches, orders, days))
    per_order = joined.select(*unit, "order_id", "revenue").distinct()
    return per_order.group_by(unit).aggregate(
        converted=(per_order.order_id.count() > 0).cast("int64"),
        revenue=cv.money_sum(per_order.revenue),
    )


def last_touch(ctx: MetricContext, days: int, *, since: datetime,
               until: datetime | None) -> ir.Table:
    """Valid orders credited to the latest campaign contact before them inside the window.

    Every touch that could compete for an order of a touch made in [since, until) is in
    [since, until + days), so the search is bounded; ties at the same instant go to the
    greater touch_id so that every engine credits the same touch."""
    horizon = None if until is None else until + timedelta(days=days)
    touches = campaign_touches(ctx, control=False, since=since, until=horizon)
    orders = _orders_after(ctx, days, since=since, until=until)
    joined = touches.inner_join(orders, _window(touches, orders, days))
    ranked = joined.mutate(_n=ibis.row_number().over(
        group_by=joined.order_id, order_by=[joined.occurred_at.desc(), joined.touch_id.desc()]))
    return ranked.filter(ranked._n == 0).drop("_n", "_ocid", "_oslot")


def with_total(per_item: ir.Table, total: ir.Table) -> ir.Table:
    """Per-item rows plus the all-items row (item null), in one table."""
    total = total.mutate(item=ibis.null("string"))
    return per_item.union(total.select(*per_item.columns))


def _by_item(ctx: MetricContext, table: ir.Table, column: str) -> list[ir.Value]:
    return [*ctx.keys, cv.as_item(table[column])]


def campaign_reach(ctx: MetricContext, params: NoParams) -> ir.Table:
    touches = cv.with_slice(ctx, period_touches(ctx))
    per = touches.group_by(_by_item(ctx, touches, "campaign_id")).aggregate(
        value=touches.customer_id.nunique(), contacts=touches.count())
    total = cv.summarize(touches, ctx, value=touches.customer_id.nunique(),
                         contacts=touches.count())
    return with_total(per, total)


def campaign_conversion(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    touches = cv.with_slice(ctx, period_touches(ctx))
    units = converted_units(ctx, touches, params.attribution_days,
                            [*ctx.keys, "campaign_id", "customer_id"])
    per = units.group_by(_by_item(ctx, units, "campaign_id")).aggregate(
        value=cv.ratio(units.converted.sum(), units.count()),
        contacted=units.count(), converted=units.converted.sum())
    customers = units.group_by([*ctx.keys, "customer_id"]).aggregate(
        converted=units.converted.max())
    total = cv.summarize(customers, ctx,
                         value=cv.ratio(customers.converted.sum(), customers.count()),
                         contacted=customers.count(), converted=customers.converted.sum())
    return with_total(per, total)


def campaign_revenue(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    credited = last_touch(ctx, params.attribution_days, since=ctx.start, until=ctx.end)
    credited = cv.with_slice(ctx, cv.in_period(ctx, credited, "occurred_at"))
    per = credited.group_by(_by_item(ctx, credited, "campaign_id")).aggregate(
        value=cv.money_sum(credited.revenue), orders=credited.count())
    total = cv.summarize(credited, ctx, value=cv.money_sum(credited.revenue),
                         orders=credited.count())
    return with_total(per, total)


def campaign_roi(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    """Campaigns *started* in P, each with the revenue of all its contacts (whole life): a
    campaign's cost is one number, so splitting it across periods would invent an allocation."""
    campaigns = ctx.table("campaigns")
    campaigns = cv.with_slice(ctx, cv.in_period(ctx, campaigns, "started_at"))
    credited = last_touch(ctx, params.attribution_days, since=ctx.start, until=None)
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


def _interval(diff: ir.FloatingValue, se: ir.FloatingValue) -> tuple[ir.Value, ir.Value]:
    return diff - Z95 * se, diff + Z95 * se


def campaign_lift(ctx: MetricContext, params: AttributionParams) -> ir.Table:
    """Contacted minus control, with Wald (normal-approximation) 95% intervals: unpooled for the
    difference in conversion, Welch's standard error for the difference in revenue per customer.

    Both groups use the same rule (every valid order inside the window of the campaign's touch,
    not last-touch), since the control group has no contact to be credited. Variances come from
    exact DECIMAL sums of revenue and squared revenue so that every engine gives the same bits."""
    touches = cv.with_slice(ctx, period_touches(ctx, control=None))
    units = converted_units(ctx, touches, params.attribution_days,
                            [*ctx.keys, "campaign_id", "customer_id", "is_control"])
    one = ibis.literal(1, type="int64")
    zero = ibis.literal(0, type="int64")
    ctl = units.is_control
    money_zero = ibis.literal(0, type=cv.MONEY)
    units = units.mutate(
        _n1=ibis.ifelse(ctl, zero, one), _n0=ibis.ifelse(ctl, one, zero),
        _c1=ibis.ifelse(ctl, zero, units.converted), _c0=ibis.ifelse(ctl, units.converted, zero),
        _s1=ibis.ifelse(ctl, money_zero, units.revenue),
        _s0=ibis.ifelse(ctl, units.revenue, money_zero),
    )
    units = units.mutate(_q1=units._s1 * units._s1, _q0=units._s0 * units._s0)
    sums = units.group_by(_by_item(ctx, units, "campaign_id")).aggregate(
        n1=units._n1.sum(), n0=units._n0.sum(), c1=units._c1.sum(), c0=units._c0.sum(),
        s1=units._s1.sum(), s0=units._s0.sum(), q1=units._q1.sum(), q0=units._q0.sum())
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
        first = cv.first_orders(ctx, until=ctx.end).select(_fcid="customer_id", _first="first_at")
        touches = touches.inner_join(first, touches.customer_id == first._fcid)
        touches = touches.filter(touches._first < touches.occurred_at)
    touches = cv.with_slice(ctx, touches)
    logged = touches.logged.cast("int64").sum()
    return cv.summarize(touches, ctx, value=touches.count(),
                        customers=touches.customer_id.nunique(), logged=logged,
                        logged_share=cv.ratio(logged, touches.count()))


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", TOUCH_SLICES)
        kw.setdefault("params", AttributionParams)
        kw.setdefault("series", True)  # everything is keyed by when the contact occurred
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
          slices=("salesperson_id", *TOUCH_SLICES),
          measures=("value", "customers", "logged", "logged_share")),
    ]
