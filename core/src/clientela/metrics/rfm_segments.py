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
        monetary=cv.mean(scored.monetary),
        r=cv.mean(scored.r), f=cv.mean(scored.f), m=cv.mean(scored.m),
    )
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    return per.select(*ctx.keys, cv.as_item(segment_label(per.segment_code, params.segments)),
                      *[c for c in per.columns if c not in (*ctx.keys, "segment_code")],
                      share=cv.ratio(per.value, per.value.sum().over(window)))


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
