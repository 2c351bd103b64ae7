"""The built-in segmenters: RFM (KPIS.md), registered through the same hook a plugin uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clientela.segments.api import Segmenter
from clientela.segments.rfm import RfmParams, rfm_table

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext


def _rfm(ctx: MetricContext, params: RfmParams) -> ir.Table:
    return rfm_table(ctx, params)


def builtin_segmenters() -> list[Segmenter]:
    return [
        Segmenter(
            name="rfm",
            title="RFM segments",
            description="Recency, frequency and monetary quintile scores (rank-based, ties "
            "share a score) and the segment of KPIS.md's table, as of a date.",
            segment=_rfm,
            params=RfmParams,
        )
    ]
