"""Run metrics on every available engine and insist on identical answers.

The answers are compared as the engine's long tables, row for row; floats
are compared after rounding to 9 decimals, because engines sum floats in
different orders (money is DECIMAL and compares exactly). A metric declared
`series` is also asked one period at a time, and must give the same rows as
its one-query answer for the whole series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from clientela.kpi import KpiResult, compute
from clientela.kpi.engine import resolve
from clientela.metrics.api import Metric

DECIMALS = 9


def _normal(result: KpiResult) -> list[tuple[Any, ...]]:
    rows = []
    for row in result.rows():
        rows.append(tuple(round(v, DECIMALS) if isinstance(v, float) else v
                          for v in row.values()))
    return sorted(rows, key=repr)


def check_identical(results: Mapping[str, KpiResult]) -> None:
    """Fail with the first differing rows when two engines disagree."""
    names = list(results)
    reference = _normal(results[names[0]])
    for other in names[1:]:
        found = _normal(results[other])
        if found != reference:
            missing = [r for r in reference if r not in found][:5]
            extra = [r for r in found if r not in reference][:5]
            raise AssertionError(
                f"{names[0]} and {other} disagree: {len(reference)} vs {len(found)} rows; "
                f"only in {names[0]}: {missing}; only in {other}: {extra}")


def run_everywhere(backends: Sequence[tuple[str, Any]], metrics: Sequence[str | Metric],
                   **kwargs: Any) -> dict[str, KpiResult]:
    return {name: compute(backend, list(metrics), **kwargs) for name, backend in backends}


def period_by_period(metrics: Sequence[str | Metric],
                     catalog: Mapping[str, Metric] | None = None) -> list[Metric]:
    """The same metrics with `series` turned off: the engine then asks them one period at a
    time, the reference a series answer must equal."""
    return [replace(m, series=False) for m in resolve(metrics, catalog)]


def conform(backends: Sequence[tuple[str, Any]], metrics: Sequence[str | Metric],
            **kwargs: Any) -> KpiResult:
    """compute() on every engine, and one period at a time on the first engine for series
    metrics; assert identical results, return the first engine's."""
    results = run_everywhere(backends, metrics, **kwargs)
    if any(m.series for m in resolve(metrics, kwargs.get("catalog"))):
        name, backend = backends[0]
        results[f"{name}, one period at a time"] = compute(
            backend, period_by_period(metrics, kwargs.get("catalog")), **kwargs)
    check_identical(results)
    return next(iter(results.values()))


__all__ = ["DECIMALS", "check_identical", "conform", "period_by_period", "run_everywhere"]
