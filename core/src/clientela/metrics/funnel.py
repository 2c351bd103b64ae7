"""docs/metrics.md, "Funnel, satisfaction and sales pipeline".

Choices the one-line definitions leave open, made once here:

- Traffic is recorded per local day (`traffic.day` is a date in the
  workspace time zone); a period counts the days whose local midnight falls
  in it. "Where visit counts are recorded": only orders of channels with
  traffic rows in the period are set against the sessions, so a physical
  store without a door counter does not inflate online conversion.
- "Per channel" is the engine's `channel` slice (`--by channel`); unsliced,
  the answer is over all channels together.
- An opportunity is open at an instant T when opened before T and not
  closed before T, so one won after P still counts as open at P's end;
  "at P's end" is `ctx.as_of`.
- Durations are summed as whole seconds (integers, exact on every engine)
  and divided once, so the mean and the median agree to the last bit across
  engines.
- NPS is on the usual -100..100 scale: 100 x (promoters - detractors) /
  responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

import ibis
from pydantic import Field

from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Funnel, satisfaction and sales pipeline"
CUSTOMER = ("acquisition_channel", "segment")
PIPELINE = ("channel", "salesperson_id", *CUSTOMER)
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


class ConversionParams(NoParams):
    numerator: Literal["orders", "new_customers"] = Field(
        default="orders", description="Count orders, or new customers (first valid order), "
                                      "per session.")


def conversion_rate(ctx: MetricContext, params: ConversionParams) -> ir.Table:
    traffic = ctx.table("traffic")
    traffic = cv.in_period_days(ctx, traffic, "day")
    counted = traffic.select(_channel="channel").distinct()
    if params.numerator == "orders":
        events = cv.in_period(ctx, cv.valid_orders(ctx), "placed_at")
    else:
        events = cv.in_period(ctx, cv.first_orders(ctx), "first_at")
    events = events.inner_join(counted, events.channel == counted._channel)
    events = cv.with_slice(ctx, events)
    traffic = cv.with_slice(ctx, traffic)
    sessions = cv.summarize(traffic, ctx, sessions=traffic.sessions.cast("int64").sum())
    conversions = cv.summarize(events, ctx, conversions=events.count())
    joined = cv.join_keys(sessions, conversions, ctx.keys)
    found = joined.conversions.coalesce(0)
    return joined.select(*ctx.keys, value=cv.ratio(found, joined.sessions),
                         conversions=found, sessions=joined.sessions)


def _open_at(opps: ir.Table, moment: datetime) -> ir.BooleanValue:
    return (opps.opened_at < moment) & (opps.closed_at.isnull() | (opps.closed_at >= moment))


def _open_or_opened(ctx: MetricContext, opps: ir.Table) -> ir.Table:
    """One row per opportunity and period in which it is open at the period's end or was
    opened, keyed by PERIOD_COLUMN, with `_open` and `_opened` (0/1).

    Open at E_p means opened before E_p and not closed before it: the periods
    [first end after opened_at, first end after closed_at), a range spread with unnest (the
    table is small). An opportunity opened in a period also gets that period's row when it
    is closed before its end; `cv.count_at_or_before(opened_at)` is that period's index."""
    if ctx.as_of_fixed:
        raise SeriesUnsupported(ctx.metric)  # one instant for every period: no series
    ends = [p.end_utc for p in ctx.periods or ()]
    n = ibis.literal(len(ends), type="int64")
    opps = opps.filter(opps.opened_at < ctx.end)
    first = cv.count_at_or_before(opps.opened_at, ends)
    stop = ibis.ifelse(opps.closed_at.isnull(), n, cv.count_at_or_before(opps.closed_at, ends))
    inside = opps.opened_at >= ctx.start
    top = ibis.ifelse(inside, ibis.greatest(stop, first + 1), stop)
    opps = opps.mutate(_first=first, _stop=stop, _inside=inside, _top=top)
    opps = opps.filter(opps._top > opps._first)
    spread = opps.mutate(**{PERIOD_COLUMN: ibis.range(opps._first, opps._top).unnest()})
    period = spread[PERIOD_COLUMN].cast("int64")
    return spread.mutate(**{
        PERIOD_COLUMN: period,
        "_open": cv.indicator(period < spread._stop),
        "_opened": cv.indicator(spread._inside & (period == spread._first)),
    }).drop("_first", "_stop", "_inside", "_top")


def opportunities_open(ctx: MetricContext, params: NoParams) -> ir.Table:
    opps = ctx.table("opportunities")
    if ctx.periods:
        opps = _open_or_opened(ctx, opps)
    else:
        open_now = _open_at(opps, ctx.as_of)
        opened = (opps.opened_at >= ctx.start) & (opps.opened_at < ctx.end)
        opps = opps.mutate(_open=cv.indicator(open_now), _opened=cv.indicator(opened))
        opps = opps.filter(open_now | opened)
    opps = cv.with_slice(ctx, opps)
    money_zero = ibis.literal(0, type=cv.MONEY)
    return cv.summarize(
        opps, ctx, value=opps._open.sum().coalesce(0), opened=opps._opened.sum().coalesce(0),
        open_value=cv.money_sum(ibis.ifelse(opps._open == 1,
                                            opps.value.cast(cv.MONEY).coalesce(money_zero),
                                            money_zero)),
    )


def closed_in_period(ctx: MetricContext) -> ir.Table:
    """Opportunities won or lost in P, with `won` (0/1) and the slice column."""
    opps = ctx.table("opportunities")
    opps = cv.in_period(ctx, opps.filter(opps.status.isin(["won", "lost"])), "closed_at")
    return cv.with_slice(ctx, opps.mutate(won=cv.indicator(opps.status == "won")))


def opportunities_closed(ctx: MetricContext, params: NoParams) -> ir.Table:
    opps = closed_in_period(ctx)
    won = opps.won.sum().coalesce(0)
    return cv.summarize(
        opps, ctx, value=opps.count(), won=won, lost=opps.count() - won,
        win_rate=cv.ratio(won, opps.count()),
        won_value=cv.money_sum(ibis.ifelse(opps.won == 1, opps.value.cast(cv.MONEY),
                                           ibis.null(cv.MONEY))),
    )


def win_rate(ctx: MetricContext, params: NoParams) -> ir.Table:
    opps = closed_in_period(ctx)
    won = opps.won.sum().coalesce(0)
    return cv.summarize(opps, ctx, value=cv.ratio(won, opps.count()), won=won,
                        closed=opps.count())


def time_to_sale_days(ctx: MetricContext, params: NoParams) -> ir.Table:
    opps = closed_in_period(ctx)
    opps = opps.filter(opps.won == 1)
    opps = opps.mutate(_seconds=(opps.closed_at.epoch_seconds()
                                 - opps.opened_at.epoch_seconds()).cast("int64"))
    per_day = float(cv.SECONDS_PER_DAY)
    means = cv.summarize(opps, ctx, value=cv.ratio(opps._seconds.sum(),
                                                   opps.count() * cv.SECONDS_PER_DAY),
                         opportunities=opps.count())
    medians = cv.median_of(opps, "_seconds", ctx.keys)
    joined = cv.join_keys(means, medians, ctx.keys)
    return joined.select(*ctx.keys, value=joined.value, median=joined.median / per_day,
                         opportunities=joined.opportunities)


def nps(ctx: MetricContext, params: NoParams) -> ir.Table:
    responses = ctx.table("nps_responses")
    responses = cv.with_slice(ctx, cv.in_period(ctx, responses, "responded_at"))
    promoters = cv.count_if(responses.score >= PROMOTER_MIN)
    detractors = cv.count_if(responses.score <= DETRACTOR_MAX)
    total = responses.count()
    return cv.summarize(
        responses, ctx,
        value=cv.ratio((promoters - detractors) * 100, total),
        promoters=promoters, passives=total - promoters - detractors, detractors=detractors,
        responses=total,
        promoters_pct=cv.ratio(promoters * 100, total),
        detractors_pct=cv.ratio(detractors * 100, total),
    )


PERIOD_LOCAL = ("opportunities_closed", "win_rate", "time_to_sale_days", "nps")
"""Metrics that read only the records dated in their period: closed, won, answered
(docs/warm.md)."""


def metrics() -> list[Metric]:
    def m(name: str, title: str, title_pt: str, description: str, unit: str, fn: object,
          **kw: object) -> Metric:
        kw.setdefault("slices", PIPELINE)
        kw.setdefault("needs", ("opportunities",))
        kw.setdefault("series", True)
        if name in PERIOD_LOCAL:
            kw.setdefault("depends_on", "period")
        return Metric(name=name, title=title, title_pt=title_pt, description=description,
                      unit=unit, compute=fn, group=GROUP, **kw)  # type: ignore[arg-type]

    return [
        m("conversion_rate", "Conversion rate", "Taxa de conversão",
          "Orders (or new customers, by option) / sessions, over the channels whose visits "
          "are recorded.", "ratio", conversion_rate, params=ConversionParams,
          needs=("traffic", "orders"), slices=("channel",),
          measures=("value", "conversions", "sessions")),
        m("opportunities_open", "Open opportunities", "Oportunidades abertas",
          "Opportunities open at the period's end (value), opened in the period, and the "
          "value of the open ones.", "count", opportunities_open,
          measures=("value", "opened", "open_value")),
        m("opportunities_closed", "Closed opportunities", "Oportunidades fechadas",
          "Opportunities closed in the period (value), won and lost, win rate = won / closed, "
          "and the value won.", "count", opportunities_closed,
          measures=("value", "won", "lost", "win_rate", "won_value")),
        m("win_rate", "Win rate", "Taxa de ganho",
          "Won / closed, over the opportunities closed in the period.", "ratio", win_rate,
          measures=("value", "won", "closed")),
        m("time_to_sale_days", "Time to sale", "Tempo até a venda",
          "Mean (value) and median days from opened to won, for opportunities won in the "
          "period.", "days", time_to_sale_days, measures=("value", "median", "opportunities")),
        m("nps", "Net Promoter Score", "NPS",
          "Over the survey responses of the period: % promoters (9-10) minus % detractors "
          "(0-6), with the counts of each.", "score", nps, needs=("nps_responses",),
          slices=("channel", *CUSTOMER),
          measures=("value", "promoters", "passives", "detractors", "responses",
                    "promoters_pct", "detractors_pct")),
    ]
