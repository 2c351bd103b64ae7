"""The built-in KPI catalogue (KPIS.md). Placeholder until the KPI engine lands."""

from __future__ import annotations

from clientela.metrics.api import Metric


def builtin_metrics() -> list[Metric]:
    return []
