"""Run metrics on every available engine and insist on identical answers.

The answers are compared as the engine's long tables, row for row; floats
are compared after rounding to 9 decimals, because engines sum floats in
different orders (money is DECIMAL and compares exactly). A metric declared
`series` is also asked one period at a time, and must give the same rows as
its one-query answer for the whole series.

Two empty answers are identical too, so a cross-engine test first checks
that every metric answered with numbers (`check_answered`); `check_catalogue`
does both for a whole catalogue, as a series, sliced and compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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


def check_answered(result: KpiResult, metrics: Iterable[str]) -> None:
    """Fail unless each of `metrics` has a non-null headline number (measure `value`) in
    every period of `result` (both sides of a comparison), in some slice or item.

    A metric whose data is missing, or that finds nothing in the window, answers nulls
    or no row at all; every engine then agrees, and a cross-engine test would prove
    nothing about it."""
    rows = result.rows()
    if result.kind == "comparison":
        sides = ("before", "after")
        periods: set[Any] = {None}
        numbers = {(r["metric"], None) for r in rows if r["measure"] == "value"
                   and all(r[side] is not None for side in sides)}
    else:
        periods = {r["period"] for r in rows}
        numbers = {(r["metric"], r["period"]) for r in rows
                   if r["measure"] == "value" and r["value"] is not None}
    missing: defaultdict[str, list[str]] = defaultdict(list)
    for name in metrics:
        for period in sorted(periods, key=str):
            if (name, period) not in numbers:
                missing[name].append("both periods" if period is None else str(period))
    if missing or not rows:
        details = "; ".join(f"{name} ({', '.join(where)})" for name, where in missing.items())
        raise AssertionError(f"no value from: {details or 'any metric (no row at all)'}")


TIMEZONE = "America/Sao_Paulo"
SERIES: dict[str, Any] = {"start": "2024-10", "end": "2025-04", "grain": "quarter"}
"""The series `check_catalogue` asks for: two quarters, local time."""
SLICED: dict[str, Any] = {"start": "2025-01", "end": "2025-04"}
SLICES: tuple[str, ...] = ("channel", "segment")
COMPARED: tuple[tuple[str, str], tuple[str, str]] = (("2024-01", "2024-07"),
                                                     ("2024-07", "2025-01"))
COMPARED_METRICS: tuple[str, ...] = ("revenue", "retention_rate", "nps",
                                     "loyalty_members_with_points")


def check_catalogue(backends: Sequence[tuple[str, Any]], catalog: Mapping[str, Metric], *,
                    timezone: str = TIMEZONE) -> dict[str, KpiResult]:
    """Every metric of `catalog` on every engine, three ways: as a quarterly series, one
    quarter sliced by channel and by RFM segment (the metrics that support each), and a
    comparison of two half-years (a few metrics, one per kind of table: it asks period by
    period). Each answer must hold numbers for every metric (`check_answered`), and every
    engine must give the first engine's rows (`check_identical`). Returns the series."""
    names = list(catalog)
    series = run_everywhere(backends, names, catalog=catalog, timezone=timezone, **SERIES)
    for result in series.values():
        check_answered(result, names)
    check_identical(series)
    for by in SLICES:
        chosen = [name for name, m in catalog.items() if by in m.slices]
        sliced = run_everywhere(backends, chosen, by=by, catalog=catalog, timezone=timezone,
                                **SLICED)
        check_answered(next(iter(sliced.values())), chosen)
        check_identical(sliced)
    chosen = [name for name in COMPARED_METRICS if name in catalog]
    if chosen:
        compared = run_everywhere(backends, chosen, catalog=catalog, timezone=timezone,
                                  compare=COMPARED)
        check_answered(next(iter(compared.values())), chosen)
        check_identical(compared)
    return series


__all__ = ["DECIMALS", "check_answered", "check_catalogue", "check_identical", "conform",
           "period_by_period", "run_everywhere"]
