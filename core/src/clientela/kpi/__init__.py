"""The KPI engine: metrics of the catalogue (and of plugins) over periods, grains and slices.

    >>> from clientela.kpi import compute
    >>> compute(store, ["revenue", "aov"], start="2025-01", end="2026-01", grain="month",
    ...         timezone="America/Sao_Paulo").to_pandas()

Metrics are written against `clientela.kpi.conventions` and `MetricContext`;
see docs/metrics.md for writing one.
"""

from clientela.kpi.context import SLICES, MetricContext
from clientela.kpi.engine import compute, resolve
from clientela.kpi.errors import KpiError, MissingDataError
from clientela.kpi.periods import GRAINS, Period, parse_bound
from clientela.kpi.result import KpiResult

__all__ = [
    "GRAINS",
    "SLICES",
    "KpiError",
    "KpiResult",
    "MetricContext",
    "MissingDataError",
    "Period",
    "compute",
    "parse_bound",
    "resolve",
]
