"""docs/metrics.md, "RFM": the segment summary. Scores themselves live in clientela.segments.rfm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.metrics.api import Metric
from clientela.segments.rfm import RfmParams, rfm_table

if TYPE_CHECKING:
    import ibis.expr.types as ir


def rfm_segments(ctx: MetricContext, params: RfmParams) -> ir.Table:
    scored = cv.with_slice(ctx, rfm_table(ctx, params))
    per = scored.group_by([*ctx.keys, cv.as_item(scored.segment)]).aggregate(
        value=scored.count(),
        revenue=cv.money_sum(scored.revenue),
        # float means on every engine: PostgreSQL's AVG(bigint) is NUMERIC
        recency_days=scored.recency_days.cast("float64").mean(),
        frequency=scored.frequency.cast("float64").mean(),
        monetary=scored.monetary.cast("float64").mean(),
        r=scored.r.cast("float64").mean(), f=scored.f.cast("float64").mean(),
        m=scored.m.cast("float64").mean(),
    )
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    return per.mutate(share=cv.ratio(per.value, per.value.sum().over(window)))


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
