"""What a metric plugin registers.

A metric is data plus one compute function over Ibis tables: nothing in it
is engine-specific, so the same definition runs on DuckDB, PySpark and
PostgreSQL. The engine (clientela.kpi) owns periods, grains, slices and
comparison; a metric answers for one period at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import ibis.expr.types as ir


class NoParams(BaseModel):
    """Parameters of a metric that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DependsOn = Literal["period", "history", "campaigns", "all"]
"""Which stored records one period's answer reads (see docs/warm.md)."""

Unit = Literal["count", "currency", "ratio", "number", "days", "score", "points", "table"]
"""`ratio` is a share between 0 and 1 (shown as a percentage); `number` is any other quotient
(orders per customer, items per order, LTV/CAC)."""


@dataclass(frozen=True)
class Metric:
    name: str
    """Identifier used on the CLI and in the API: lowercase letters, digits, underscores."""
    title: str
    title_pt: str
    """Brazilian Portuguese title (ticket médio, evasão, resgate, recorrência...)."""
    description: str
    unit: Unit
    compute: Callable[..., ir.Table]
    """compute(ctx, params) -> an Ibis table for one period; see clientela.kpi."""
    params: type[BaseModel] = NoParams
    needs: tuple[str, ...] = ("orders",)
    """Store tables the metric reads; a missing or empty one is reported, never zero-filled."""
    reads_if_present: tuple[str, ...] = ()
    """Store tables it also reads when the store has them (`ctx.optional_table`): never
    reported missing, but a write to them can change its answers, so a kept answer must
    know it read them (clientela.kpi.warm)."""
    slices: tuple[str, ...] = ()
    """Dimensions it can be cut by (channel, store_id, salesperson_id, acquisition_channel, segment)."""
    extra: dict[str, Any] = field(default_factory=dict)
    group: str = "Other"
    """Catalogue section (a heading of docs/metrics.md) under which `clientela kpi --list` shows it."""
    measures: tuple[str, ...] = ("value",)
    """Numeric columns of the answer; 'value' is the headline number."""
    itemized: bool = False
    """The answer has several rows labelled by an `item` column (histogram, cohort matrix)."""
    series: bool = False
    """compute() can answer many periods at once: it cuts time only through the conventions
    that tag rows with their period (`in_period`, `period_orders`, `period_customers`) and
    groups by `ctx.keys`. The engine then asks once for a whole series instead of once per
    period, and must get the same rows (the conformance fixture checks it)."""
    depends_on: DependsOn = "history"
    """What a period's answer reads, so a cached period is recomputed only when that changed
    (clientela.kpi.warm): 'period', only records dated inside the period (revenue of a month
    reads that month's orders); 'history', records dated up to the period's end or the as-of
    instant, whichever is later (repeat rate, recency, RFM, LTV: point-in-time and
    cumulative); 'campaigns', every contact of the campaigns started in the period, whatever
    its date, and the orders within `reads_ahead` after each (campaign ROI); 'all', records
    of any date. 'history' is the safe default."""
    reads_ahead: Callable[[Any], timedelta] | None = None
    """How far past the period's end its answer also reads, from its parameters (a campaign
    follows its contacts' orders for `attribution_days`); None: not at all."""
