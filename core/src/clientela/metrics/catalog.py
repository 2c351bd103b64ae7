"""The built-in KPI catalogue (docs/metrics.md), one module per section.

To add a section, write a module with a `metrics() -> list[Metric]` function
and list it in SECTIONS; the core's plugin registers everything through the
same hook a third party uses.
"""

from __future__ import annotations

import importlib

from clientela.metrics.api import Metric

SECTIONS: tuple[str, ...] = (
    "clientela.metrics.sales",
    "clientela.metrics.retention",
    "clientela.metrics.value",
    "clientela.metrics.clv",
    "clientela.metrics.rfm_segments",
    "clientela.metrics.campaigns",
    "clientela.metrics.loyalty",
    "clientela.metrics.funnel",
)
"""Modules whose `metrics()` make up the built-in catalogue, in display order."""


def builtin_metrics() -> list[Metric]:
    found: list[Metric] = []
    for name in SECTIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # a section not written yet
                continue
            raise
        found.extend(module.metrics())
    return found
