"""Would this metric run on PostgreSQL? Checked by compiling it, with no server.

Each metric is computed (as an Ibis expression, not executed) on a context
over the given backend, for the whole store and for each slice it supports,
then compiled to PostgreSQL's SQL. A metric fails when it cannot be compiled,
or when its expression holds something PostgreSQL refuses or gets wrong at
run time although the SQL compiles:

- a CAST of a boolean to an integer type other than INTEGER (PostgreSQL
  refuses `CAST(boolean AS BIGINT)`; `clientela.kpi.conventions.count_if`
  counts, and `indicator` gives a 0/1 column, on every engine);
- a mean of integers or decimals (PostgreSQL's AVG of them is NUMERIC, read
  back as a decimal where the other engines give a float;
  `clientela.kpi.conventions.mean` averages float64 everywhere).

(Integer division, which PostgreSQL would truncate, needs no check: Ibis
compiles it with a cast to DOUBLE PRECISION.)

`clientela_conformance` runs this after the engines agree, so a third-party
metric that would fail on PostgreSQL fails its own tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops

from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.engine import resolve
from clientela.kpi.periods import Period
from clientela.metrics.api import Metric

PERIOD = Period(datetime(2024, 1, 1), datetime(2024, 4, 1), datetime(2024, 1, 1),
                datetime(2024, 4, 1), "2024-Q1")
"""Any period will do: only the shape of the SQL is checked."""


class NotPortable(AssertionError):
    """A metric that would fail, or answer wrongly, on PostgreSQL; the message says where."""


def postgres_problems(expr: Any) -> list[str]:
    """What in `expr` PostgreSQL refuses or computes differently (empty: nothing found)."""
    found = []
    for cast in expr.op().find(ops.Cast):
        source, target = cast.arg.dtype, cast.to
        if source.is_boolean() and target.is_integer() and target != dt.int32:
            found.append(f"CAST(boolean AS {target}) is refused by PostgreSQL: use "
                         "clientela.kpi.conventions.indicator(condition) for a 0/1 column")
    for mean in expr.op().find(ops.Mean):
        kind = mean.arg.dtype
        if kind.is_integer() or kind.is_decimal():
            name = str(kind).lstrip("!")  # "!int64" is Ibis's non-nullable int64
            found.append(f"AVG of {name} is NUMERIC on PostgreSQL: use "
                         "clientela.kpi.conventions.mean(value), a float64 mean")
    return sorted(set(found))


def _context(backend: Any, metric: Metric, by: str | None, timezone: str) -> MetricContext:
    return MetricContext(backend=backend, period=PERIOD, as_of=PERIOD.end_utc,
                         timezone=timezone, currency="BRL", metric=metric.name, by=by,
                         cache=TableCache(backend))


def check_postgres(backend: Any, metrics: Sequence[str | Metric], *,
                   params: Mapping[str, Mapping[str, Any]] | None = None,
                   timezone: str = "UTC", catalog: Mapping[str, Metric] | None = None) -> None:
    """Raise `NotPortable` naming each metric (and slice) that would fail on PostgreSQL."""
    failures = []
    for metric in resolve(metrics, catalog):
        chosen = metric.params.model_validate(dict((params or {}).get(metric.name) or {}))
        for by in (None, *metric.slices):
            where = metric.name if by is None else f"{metric.name} by {by}"
            try:
                expr = metric.compute(_context(backend, metric, by, timezone), chosen)
                ibis.to_sql(expr, dialect="postgres")
            except Exception as error:  # the compiler's own message says what it lacks
                failures.append(f"{where}: does not compile for PostgreSQL: "
                                f"{type(error).__name__}: {error}")
                continue
            failures.extend(f"{where}: {problem}" for problem in postgres_problems(expr))
    if failures:
        raise NotPortable("not portable to PostgreSQL:\n- " + "\n- ".join(failures))


__all__ = ["NotPortable", "check_postgres", "postgres_problems"]
