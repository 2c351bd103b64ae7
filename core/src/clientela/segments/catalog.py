"""The built-in segmenters: RFM, registered through the same hook a plugin uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from clientela.segments.api import Segmenter, SegmentSummary
from clientela.segments.rfm import RfmParams, rfm_table

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from clientela.kpi.context import MetricContext


def _rfm(ctx: MetricContext, params: RfmParams) -> ir.Table:
    return rfm_table(ctx, params)


def _rfm_segments(params: RfmParams) -> Sequence[str]:
    return [rule.segment for rule in params.segments]


def rfm_summary(scores: pa.Table) -> SegmentSummary:
    """Per segment, largest first: customers, share, revenue and mean R, F and M scores."""
    rows: dict[str, dict[str, float]] = {}
    for rec in scores.to_pylist():
        seg = rows.setdefault(rec["segment"], {"customers": 0, "revenue": 0.0, "r": 0, "f": 0,
                                               "m": 0})
        seg["customers"] += 1
        seg["revenue"] += float(rec["revenue"])
        for key in ("r", "f", "m"):
            seg[key] += rec[key]
    total = scores.num_rows or 1
    ordered = sorted(rows.items(), key=lambda kv: -kv[1]["customers"])
    return SegmentSummary(
        ("segment", "customers", "share", "revenue", "mean R", "mean F", "mean M"),
        [(name, f"{int(s['customers']):,}", f"{s['customers'] / total:.1%}",
          f"{s['revenue']:,.2f}", f"{s['r'] / s['customers']:.2f}",
          f"{s['f'] / s['customers']:.2f}", f"{s['m'] / s['customers']:.2f}")
         for name, s in ordered])


def builtin_segmenters() -> list[Segmenter]:
    return [
        Segmenter(
            name="rfm",
            title="RFM segments",
            description="Recency, frequency and monetary quintile scores (rank-based, ties "
            "share a score) and the segment from the R and FM score table "
            "(docs/metrics.md), as of a date.",
            segment=_rfm,
            params=RfmParams,
            known_segments=_rfm_segments,
            summarize=rfm_summary,
        )
    ]
