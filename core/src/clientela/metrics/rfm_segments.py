"""docs/metrics.md, "RFM": the `rfm_segments` metric, a summary per segment.

The scores and segments it summarises are the RFM segmenter's, `clientela.segments.rfm`
(what `clientela segments rfm` and the `segment` slice use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.metrics.api import Metric
from clientela.segments.rfm import RfmParams, rfm_table, segment_label

if TYPE_CHECKING:
    import ibis.expr.types as ir


def rfm_segments(ctx: MetricContext, params: RfmParams) -> ir.Table:
    # summed per segment code, named after: an integer key per row instead of a string
    scored = cv.with_slice(ctx, rfm_table(ctx, params, coded=True))
    per = scored.group_by([*ctx.keys, "segment_code"]).aggregate(
        value=scored.count(),
        revenue=cv.money_sum(scored.revenue),
        recency_days=cv.mean(scored.recency_days),
        frequency=cv.mean(scored.frequency),
        monetary=exact_mean_of_money(scored.monetary),
        r=cv.mean(scored.r), f=cv.mean(scored.f), m=cv.mean(scored.m),
    )
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    return per.select(*ctx.keys, cv.as_item(segment_label(per.segment_code, params.segments)),
                      *[c for c in per.columns if c not in (*ctx.keys, "segment_code")],
                      share=cv.ratio(per.value, per.value.sum().over(window)))


def exact_mean_of_money(money: ir.NumericValue) -> ir.FloatingValue:
    """The mean of a DECIMAL money column as the float64 nearest to the exact mean: the
    whole cents summed exactly, divided once by 100 x the count.

    A float average (`cv.mean`) adds the values as doubles, and an engine that adds in
    parallel adds them in an order that changes from run to run, so the last bit did (about
    one segment row in 45 at 1M orders). Here both operands are integers below 2^53, exact
    as doubles, so their one IEEE division is the exact mean rounded once: the same bits on
    every run, thread count and engine."""
    cents = (money.sum() * 100).cast("int64")
    return cv.ratio(cents, money.count() * 100)


def metrics() -> list[Metric]:
    return [
        Metric(
            name="rfm_segments", title="RFM segments", title_pt="Segmentos RFM",
            description="Customers (value), share, revenue and mean recency, frequency, "
            "monetary and scores of each RFM segment (item), as of the period's end.",
            unit="table", compute=rfm_segments, params=RfmParams, group="RFM",
            slices=("acquisition_channel",),
            measures=("value", "share", "revenue", "recency_days", "frequency", "monetary",
                      "r", "f", "m"),
            itemized=True, series=True,
        )
    ]
