"""Metric plugin API and the built-in KPI catalogue."""

from clientela.metrics.api import Metric, NoParams

__all__ = ["Metric", "NoParams"]
