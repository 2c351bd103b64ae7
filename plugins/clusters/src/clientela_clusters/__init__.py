"""clientela-clusters: a segmenter that clusters customers by buying behaviour.

Registered as `clusters`, so every path that segments customers takes it
by name: `clientela segments clusters` prints the clusters, `clientela push
<destination> --segment clusters` pushes them, `clientela kpi ... --by segment
--segmenter clusters` slices any metric by them. See `model` for the method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from clientela.hookspecs import hookimpl
from clientela.segments.api import Segmenter, SegmentSummary

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from clientela.kpi.context import MetricContext

__version__ = "0.1.0"
__all__ = ["CLUSTERS", "ClusterParams", "register_segmenters"]

CLV_TABLE = "clv_scores"
"""Predicted CLV per customer, written by `clientela clv`; used when present."""


class ClusterParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    k_min: int = Field(default=3, ge=2, description="Fewest clusters tried.")
    k_max: int = Field(default=8, ge=2, le=20, description="Most clusters tried.")
    seed: int = Field(default=0, description="Seed of the chosen fit (others check stability).")
    sample_size: int = Field(default=10_000, ge=100,
                             description="Customers sampled for the silhouette.")
    stability_seeds: int = Field(default=5, ge=1, le=20,
                                 description="Refits compared by adjusted Rand index.")


def features(ctx: MetricContext) -> pa.Table:
    """customer_id, recency_days, frequency, monetary, aov (and clv when the store has it)
    for every customer with a valid order before the as-of instant."""
    from clientela.kpi import conventions as cv

    history = cv.history_at(ctx, at="as_of")
    table = history.select(
        "customer_id",
        recency_days=cv.days_between(history.last_at, history.at),
        frequency=history.orders,
        monetary=history.revenue.cast("float64"),
        aov=(history.revenue.cast("float64") / history.orders),
    )
    if CLV_TABLE in ctx.backend.list_tables():
        clv = ctx.backend.table(CLV_TABLE)
        if {"customer_id", "clv"} <= set(clv.columns):
            clv = clv.select(_cid="customer_id", clv=clv.clv.cast("float64"))
            table = table.left_join(clv, table.customer_id == clv._cid).drop("_cid")
            table = table.mutate(clv=table.clv.fill_null(0.0))
    found: pa.Table = table.order_by("customer_id").to_pyarrow()
    return found


def _segment(ctx: MetricContext, params: ClusterParams) -> ir.Table:
    import ibis
    import numpy as np
    import pyarrow as pa

    from clientela.kpi.errors import KpiError
    from clientela_clusters.model import Settings, cluster

    found = features(ctx)
    names = [n for n in ("recency_days", "frequency", "monetary", "aov", "clv")
             if n in found.column_names]
    raw = np.column_stack([found[n].to_numpy(zero_copy_only=False).astype(float)
                           for n in names]) if found.num_rows else np.empty((0, len(names)))
    try:
        fitted = cluster(raw, Settings(k_min=params.k_min, k_max=params.k_max, seed=params.seed,
                                       sample_size=params.sample_size,
                                       stability_seeds=params.stability_seeds))
    except ValueError as error:
        raise KpiError(f"clusters: {error}") from None
    label = {d.cluster: d.label for d in fitted.clusters}
    n = found.num_rows
    chosen = fitted.chosen
    out = found.append_column("cluster", pa.array(fitted.labels.tolist(), pa.int64()))
    out = out.append_column("segment", pa.array([label[c] for c in fitted.labels.tolist()]))
    for column, value in (("model_k", float(fitted.k)), ("model_silhouette", chosen.silhouette),
                          ("model_davies_bouldin", chosen.davies_bouldin),
                          ("model_stability_mean", float(np.mean(fitted.stability))),
                          ("model_stability_min", float(np.min(fitted.stability)))):
        out = out.append_column(column, pa.array([value] * n, pa.float64()))
    return ibis.memtable(out)


def summarize(scored: pa.Table) -> SegmentSummary:
    """One row per cluster (by revenue share): its label, size, medians and revenue share;
    notes on how k was chosen and how stable the clusters are."""
    import numpy as np

    from clientela_clusters.model import describe

    raw = np.column_stack([scored[n].to_numpy(zero_copy_only=False).astype(float)
                           for n in ("recency_days", "frequency", "monetary")])
    labels = scored["cluster"].to_numpy(zero_copy_only=False)
    rows = [(d.label, str(d.cluster), f"{d.customers:,}", f"{d.share:.1%}",
             f"{d.median_recency_days:,.0f}", f"{d.median_frequency:,.1f}",
             f"{d.median_monetary:,.2f}", f"{d.revenue_share:.1%}")
            for d in describe(raw, labels)]
    first = scored.slice(0, 1).to_pylist()[0] if scored.num_rows else {}
    notes = (
        f"k = {int(first.get('model_k', 0))}, chosen by silhouette "
        f"{first.get('model_silhouette', 0):.3f}, Davies-Bouldin "
        f"{first.get('model_davies_bouldin', 0):.3f}",
        f"stability across seeds (adjusted Rand index): mean "
        f"{first.get('model_stability_mean', 0):.3f}, min {first.get('model_stability_min', 0):.3f}",
    ) if first else ()
    return SegmentSummary(("segment", "cluster", "customers", "share", "median R (days)",
                           "median F", "median M", "revenue share"), rows, notes)


CLUSTERS = Segmenter(
    name="clusters",
    title="Customer clusters",
    description="K-means over log-scaled, standardised recency, frequency, monetary, average "
    "order value and predicted CLV (when present); k in 3..8 by silhouette and "
    "Davies-Bouldin, stability checked across seeds; each cluster labelled in plain words.",
    segment=_segment,
    params=ClusterParams,
    summarize=summarize,
)


@hookimpl
def register_segmenters(register: Callable[[Segmenter], None]) -> None:
    register(CLUSTERS)
