"""Run metrics over periods, grains, slices and comparisons.

A metric answers for one period; the engine loops over the buckets of a
grain (cut in the workspace's time zone), checks that the store holds what
each metric needs, validates parameters and slices, and folds every answer
into one long table. That split keeps the metrics engine-neutral and makes
a third party's metric get grains, slices and comparison for free. A metric
declared `series` answers a whole series in one query instead (its rows
carry their period's index), which is what makes a 36-month series cost
about one month's query rather than 36.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from clientela.kpi.compile_cache import remember_compiled
from clientela.kpi.context import (
    CUSTOMER_SLICES,
    PERIOD_COLUMN,
    SLICE_COLUMN,
    MetricContext,
    TableCache,
)
from clientela.kpi.errors import KpiError, SeriesUnsupported
from clientela.kpi.periods import Bound, Period, buckets, make_period, parse_bound, to_utc, zone
from clientela.kpi.result import KpiResult
from clientela.kpi.result import records as table_records
from clientela.kpi.type_names import remember_type_names
from clientela.metrics.api import Metric

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend

log = logging.getLogger(__name__)

ITEM = "item"
MetricRef = str | Metric
ComparePair = tuple[tuple[Bound, Bound], tuple[Bound, Bound]]


def backend_of(source: Any) -> BaseBackend:
    """An Ibis backend from a clientela Store or from a backend itself."""
    if hasattr(source, "ibis") and callable(source.ibis):
        backend: BaseBackend = source.ibis()
        return backend
    if hasattr(source, "table") and hasattr(source, "list_tables"):
        found: BaseBackend = source
        return found
    raise KpiError(f"expected a clientela Store or an Ibis backend, got {type(source).__name__}")


def resolve(metrics: Iterable[MetricRef], catalog: Mapping[str, Metric] | None = None
            ) -> list[Metric]:
    """Metric objects for names (looked up in the plugin registry) or Metric instances.

    Without a `catalog`, built-in metrics are found without loading any plugin; the plugins
    are discovered only when a name is not a built-in one."""
    metrics = list(metrics)
    if catalog is None:
        from clientela.plugins import builtin_registry, registry

        builtin = builtin_registry("metric").metrics
        names = [ref for ref in metrics if not isinstance(ref, Metric)]
        catalog = builtin if all(n in builtin for n in names) else registry().metrics
    found: list[Metric] = []
    for ref in metrics:
        if isinstance(ref, Metric):
            found.append(ref)
            continue
        if ref not in catalog:
            known = ", ".join(sorted(catalog)) or "none"
            raise KpiError(f"unknown metric {ref!r}; known metrics: {known}")
        found.append(catalog[ref])
    if not found:
        raise KpiError("no metric asked for")
    return found


def parse_params(metric: Metric, given: Mapping[str, Any] | None) -> BaseModel:
    try:
        return metric.params.model_validate(dict(given or {}))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc']) or 'params'}: {issue['msg']}"
            for issue in error.errors()
        )
        fields = ", ".join(metric.params.model_fields) or "none"
        raise KpiError(f"bad parameters for metric {metric.name!r}: {problems} "
                       f"(its parameters: {fields})") from None


def _check_slice(metric: Metric, by: str | None) -> None:
    if by is not None and by not in metric.slices:
        supported = ", ".join(metric.slices) or "none"
        raise KpiError(f"metric {metric.name!r} cannot be sliced by {by!r}; it supports: "
                       f"{supported}")


def _instant(value: Bound | None, tz_name: str) -> datetime | None:
    if value is None:
        return None
    return to_utc(parse_bound(value), zone(tz_name))


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):
        return float(value)
    number = float(value)
    return None if math.isnan(number) else number


def _melt(table: pa.Table, by: str | None) -> list[dict[str, Any]]:
    """One output row per (slice, item, measure) of a metric's answer for one period."""
    names = table.column_names
    measures = [n for n in names if n not in (SLICE_COLUMN, ITEM)]
    records = table_records(table)
    item_only = {  # measures that only an answer's item rows carry (e.g. a histogram's)
        m for m in measures
        if m != "value"
        and all(r[m] is None for r in records if r.get(ITEM) is None)
        and any(r[m] is not None for r in records if r.get(ITEM) is not None)
    }
    rows: list[dict[str, Any]] = []
    for record in records:
        for measure in measures:
            if record.get(ITEM) is not None and record[measure] is None:
                continue  # a table-shaped answer's rows carry only their own measures
            if record.get(ITEM) is None and measure in item_only:
                continue
            row: dict[str, Any] = {
                ITEM: None if record.get(ITEM) is None else str(record[ITEM]),
                "measure": measure,
                "value": _number(record[measure]),
            }
            if by is not None:
                row[by] = record.get(SLICE_COLUMN)
            rows.append(row)
    return rows


BATCH = 12
"""Periods answered by one query: a metric's expressions for several periods are stacked
with UNION ALL, because compiling an Ibis expression costs more than running it on a
small store, and one query per period of a 36-month series adds up."""


def _check(metric: Metric, ctx: MetricContext) -> None:
    for name in metric.needs:
        ctx.table(name)  # raises MissingDataError before any compute
    if ctx.by in CUSTOMER_SLICES:
        ctx.table("customers" if ctx.by == "acquisition_channel" else "orders")


def _tables_read(chosen: Sequence[Metric], by: str | None) -> set[str]:
    """The tables `_check` asks about for these metrics, and the links persons are read
    through: their presence is asked for in one query (TableCache.prefetch)."""
    from clientela.identity import IDENTITY_LINKS_TABLE
    from clientela.identity.analytics import resolving

    names = {name for metric in chosen for name in metric.needs}
    if by in CUSTOMER_SLICES:
        names.add("customers" if by == "acquisition_channel" else "orders")
    if resolving():
        names.add(IDENTITY_LINKS_TABLE)
    return names


def _expr(metric: Metric, params: BaseModel, ctx: MetricContext) -> ir.Table:
    expr = metric.compute(ctx, params)
    if ctx.by is not None and SLICE_COLUMN not in expr.columns:
        raise KpiError(f"metric {metric.name!r} declares slice {ctx.by!r} but its answer has "
                       f"no {SLICE_COLUMN!r} column")
    return expr


def _run(metric: Metric, params: BaseModel, ctx: MetricContext) -> list[dict[str, Any]]:
    _check(metric, ctx)
    return _melt(_expr(metric, params, ctx).to_pyarrow(), ctx.by)


def _run_many(metric: Metric, params: BaseModel, ctxs: Sequence[MetricContext]
              ) -> list[list[dict[str, Any]]]:
    """Answers for several periods, BATCH periods per query."""
    import ibis

    _check(metric, ctxs[0])
    answers: list[list[dict[str, Any]]] = []
    for first in range(0, len(ctxs), BATCH):
        chunk = ctxs[first:first + BATCH]
        exprs = [_expr(metric, params, ctx) for ctx in chunk]
        if len(exprs) == 1:
            answers.append(_melt(exprs[0].to_pyarrow(), chunk[0].by))
            continue
        try:
            stacked = ibis.union(*[
                e.mutate(**{PERIOD_COLUMN: ibis.literal(i, type="int64")})
                for i, e in enumerate(exprs)], distinct=False)
        except Exception:  # periods answered with different column types: one by one
            answers.extend(_melt(e.to_pyarrow(), c.by) for e, c in zip(exprs, chunk, strict=True))
            continue
        table = stacked.to_pyarrow()
        index = table.column(PERIOD_COLUMN).to_pylist()
        rest = table.drop_columns([PERIOD_COLUMN])
        for i, ctx in enumerate(chunk):
            picked = rest.filter(pa.array([k == i for k in index], pa.bool_()))
            answers.append(_melt(picked, ctx.by))
    return answers


def _series_expr(metric: Metric, params: BaseModel, whole: MetricContext) -> ir.Table | None:
    """The expression answering every period of the series at once, or None when the metric
    cannot answer this series at once (then it is asked period by period)."""
    _check(metric, whole)
    try:
        expr = _expr(metric, params, whole)
    except SeriesUnsupported:
        return None
    if PERIOD_COLUMN not in expr.columns:
        raise KpiError(f"metric {metric.name!r} is declared series but its answer has no "
                       f"{PERIOD_COLUMN!r} column (group by ctx.keys)")
    return expr


def _run_series(metric: Metric, params: BaseModel, whole: MetricContext,
                ctxs: Sequence[MetricContext], expr: ir.Table) -> list[list[dict[str, Any]]]:
    """Every period's answer from the expression the engine planned over the whole series
    (`_plan_series`); the planned shared tables it reads are written out first."""
    if whole.cache is not None:
        expr = whole.cache.ready(metric.name, expr)
    table = expr.to_pyarrow()
    index = table.column(PERIOD_COLUMN).to_numpy(zero_copy_only=False)
    rest = table.drop_columns([PERIOD_COLUMN])
    answers: list[list[dict[str, Any]]] = []
    for i, ctx in enumerate(ctxs):
        mask = index == i
        if mask.any():
            answers.append(_melt(rest.filter(pa.array(mask, pa.bool_())), ctx.by))
        else:  # no row at all: the one-period answer says what "nothing" is (0, or null)
            answers.append(_run(metric, params, ctx))
    return answers


def _plan_series(series: Sequence[Metric], parsed: Mapping[str, BaseModel], cache: TableCache,
                 spent: dict[str, float], whole: Any, *, every_metric: bool
                 ) -> dict[str, ir.Table]:
    """Each series metric's expression, built before any runs, with the shared tables that
    several of them read planned to be written out once (TableCache.planning), each just
    before the first metric that reads it runs (`TableCache.ready`).

    Building first is what tells the engine who reads what: a shared table read by one
    metric of the call (the first orders when only new customers need them) stays inside
    that metric's query instead of being written out and read back, and one read by
    several (the period totals of revenue, orders, AOV and active customers) is written
    once. When metrics answered period by period follow
    (`every_metric` false), they may read the same tables: then every planned table is
    written out whole, as the first ask always wrote it in a call of several metrics.
    A metric that cannot answer its series at once is left out (asked period by period)."""
    exprs: dict[str, ir.Table] = {}
    with cache.planning():
        for metric in series:
            started = time.perf_counter()
            cache.reader = metric.name
            with _out_of_memory_named(metric):
                expr = _series_expr(metric, parsed[metric.name], whole(metric))
            if expr is not None:
                exprs[metric.name] = expr
            spent[metric.name] += time.perf_counter() - started
        started = time.perf_counter()
        cache.settle(exprs, inline_single=every_metric or not cache.eager)
        if exprs:  # who reads which table: charged to the first metric
            spent[next(iter(exprs))] += time.perf_counter() - started
    return exprs


def _schema(by: str | None, head: Sequence[tuple[str, pa.DataType]],
            tail: Sequence[tuple[str, pa.DataType]]) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in head]
    if by is not None:
        fields.append(pa.field(by, pa.string()))
    fields += [pa.field(ITEM, pa.string()), pa.field("measure", pa.string())]
    fields += [pa.field(n, t) for n, t in tail]
    return pa.schema(fields)


def _sort_key(by: str | None) -> Any:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        slice_value = row.get(by) if by else None
        item = row.get(ITEM)
        return (slice_value is None, slice_value or "", item is not None, _item_order(item),
                row["measure"] != "value", row["measure"])
    return key


def _item_order(item: str | None) -> tuple[float, str]:
    """Numeric items (month offsets, bucket starts) sort as numbers."""
    if item is None:
        return (0.0, "")
    head = item.split("-")[0].split("..")[0]
    try:
        return (float(head), item)
    except ValueError:
        return (math.inf, item)


def compute(
    source: Any,
    metrics: Sequence[MetricRef],
    *,
    start: Bound | None = None,
    end: Bound | None = None,
    grain: str | None = None,
    by: str | None = None,
    timezone: str = "UTC",
    currency: str = "BRL",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    as_of: Bound | None = None,
    compare: ComparePair | None = None,
    catalog: Mapping[str, Metric] | None = None,
    segmenter: str = "rfm",
    reuse: bool = False,
) -> KpiResult:
    """Compute metrics over [start, end) (cut by `grain`), or compare two periods.

    Dates and strings are wall time in `timezone`; `end` is exclusive. With
    `compare=((before_start, before_end), (after_start, after_end))` the answer
    has both values, the absolute and the relative change, and start/end are
    not needed. `as_of` fixes the instant of point-in-time metrics (recency,
    RFM, LTV); by default it is each period's end. `params` maps a metric name
    to its parameters. `catalog` replaces the plugin registry (tests). `segmenter`
    names the registered segmenter behind the `segment` slice. `reuse` keeps each period's
    answer in the store and reuses the ones no write has touched since (a clientela Store
    only; see clientela.kpi.warm and docs/warm.md).
    """
    if reuse:
        from clientela.kpi.warm import compute_reusing

        return compute_reusing(source, metrics, start=start, end=end, grain=grain, by=by,
                               timezone=timezone, currency=currency, params=params,
                               as_of=as_of, compare=compare, catalog=catalog,
                               segmenter=segmenter)
    tz = zone(timezone)
    backend = backend_of(source)
    remember_compiled(backend)
    remember_type_names(backend)
    chosen = resolve(metrics, catalog)
    names = {m.name for m in chosen}
    for name in params or {}:
        if name not in names:
            raise KpiError(f"parameters given for {name!r}, which is not among the metrics "
                           f"asked for ({', '.join(sorted(names))})")
    parsed = {m.name: parse_params(m, (params or {}).get(m.name)) for m in chosen}
    for metric in chosen:
        _check_slice(metric, by)
    fixed_as_of = _instant(as_of, timezone)
    cache = TableCache(backend, materialise=True, eager=len(chosen) > 1, metrics=len(chosen))
    cache.prefetch(_tables_read(chosen, by))

    def periods_for(lo: Bound, hi: Bound, cut: str | None) -> list[Period]:
        return buckets(parse_bound(lo), parse_bound(hi), cut, tz)

    def context(metric: Metric, period: Period, segment_as_of: datetime) -> MetricContext:
        return MetricContext(
            backend=backend, period=period, as_of=fixed_as_of or period.end_utc,
            timezone=timezone, currency=currency, metric=metric.name, by=by,
            segment_as_of=segment_as_of, cache=cache, as_of_fixed=fixed_as_of is not None,
            segmenter=segmenter,
        )

    def answer(metric: Metric, period: Period, segment_as_of: datetime) -> list[dict[str, Any]]:
        return _run(metric, parsed[metric.name], context(metric, period, segment_as_of))

    if compare is not None:
        (b_lo, b_hi), (a_lo, a_hi) = compare
        before = make_period(parse_bound(b_lo), parse_bound(b_hi), tz)
        after = make_period(parse_bound(a_lo), parse_bound(a_hi), tz)
        try:
            return _compare(chosen, before, after, by, answer, fixed_as_of)
        finally:
            cache.release()

    if start is None or end is None:
        raise KpiError("give start and end (or compare=...)")
    periods = periods_for(start, end, grain)
    cache.periods = len(periods)
    segment_as_of = fixed_as_of or periods[-1].end_utc
    for metric in chosen:
        with _out_of_memory_named(metric):
            _check(metric, context(metric, periods[0], segment_as_of))
    answers: dict[str, list[list[dict[str, Any]]]] = {m.name: [] for m in chosen}
    answered: set[str] = set()
    spent = dict.fromkeys(answers, 0.0)
    try:
        if len(periods) > 1:
            span = make_period(periods[0].start, periods[-1].end, tz)
            series = [m for m in chosen if m.series]
            planned = _plan_series(series, parsed, cache, spent, lambda metric: (
                replace(context(metric, span, segment_as_of), periods=tuple(periods))),
                every_metric=len(series) == len(chosen))
            by_name = {metric.name: metric for metric in series}
            for metric in (by_name[name] for name in cache.run_order(list(planned))):
                started = time.perf_counter()
                whole = replace(context(metric, span, segment_as_of), periods=tuple(periods))
                ctxs = [context(metric, period, segment_as_of) for period in periods]
                with _out_of_memory_named(metric):
                    per_period = _run_series(metric, parsed[metric.name], whole, ctxs,
                                             planned[metric.name])
                cache.answered(metric.name)
                spent[metric.name] += time.perf_counter() - started
                answers[metric.name] = per_period
                answered.add(metric.name)
                _log_time(metric.name, len(periods), spent[metric.name], "one query")
        # Period-major: every metric answers a chunk of periods before the next chunk, so the
        # tables shared by those periods (customer histories as of their ends) are built
        # once, used by all metrics, and dropped before the next chunk's are built.
        for first in range(0, len(periods), BATCH):
            chunk = periods[first:first + BATCH]
            for metric in (m for m in chosen if m.name not in answered):
                started = time.perf_counter()
                ctxs = [context(metric, period, segment_as_of) for period in chunk]
                with _out_of_memory_named(metric):
                    answers[metric.name].extend(_run_many(metric, parsed[metric.name], ctxs))
                spent[metric.name] += time.perf_counter() - started
            cache.release_transient()
    finally:
        cache.release()
    for name, seconds in spent.items():
        if name not in answered:
            _log_time(name, len(periods), seconds, "period by period")
    rows: list[dict[str, Any]] = []
    for metric in chosen:
        for period, found in zip(periods, answers[metric.name], strict=True):
            found.sort(key=_sort_key(by))
            for row in found:
                rows.append({"metric": metric.name, "period": period.label,
                             "period_start": period.start, "period_end": period.end, **row})
    schema = _schema(by, [("metric", pa.string()), ("period", pa.string()),
                          ("period_start", pa.timestamp("us")),
                          ("period_end", pa.timestamp("us"))],
                     [("value", pa.float64())])
    return KpiResult(pa.Table.from_pylist(rows, schema=schema), "series", by)


@contextmanager
def _out_of_memory_named(metric: Metric) -> Iterator[None]:
    """A database that runs out of memory under its configured limit is a setting to change,
    not a crash: say which metric and what to do (matched by name, so no engine is imported
    here)."""
    try:
        yield
    except Exception as error:
        if type(error).__name__ not in ("OutOfMemoryException", "OutOfMemoryError"):
            raise
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise KpiError(f"metric {metric.name!r}: the database ran out of memory ({first}); "
                       "raise workspace.memory_limit in clientela.toml, or leave it unset "
                       "to let DuckDB use up to 80% of the machine's RAM") from None


def _log_time(metric: str, periods: int, seconds: float, how: str) -> None:
    """Where a slow call's time goes, at DEBUG (the benchmark prints it): a metric's time
    includes building its expression and writing the shared tables it is the first to need
    (each table's own cost is logged by `clientela.kpi.context` as it is written)."""
    log.debug("%s: %d periods in %.2f s (%s)", metric, periods, seconds, how)


def _change(before: float | None, after: float | None) -> tuple[float | None, float | None]:
    if before is None or after is None:
        return None, None
    change = after - before
    return change, (None if before == 0 else change / abs(before))


def _compare(chosen: list[Metric], before: Period, after: Period, by: str | None,
             answer: Any, fixed_as_of: datetime | None) -> KpiResult:
    rows: list[dict[str, Any]] = []
    for metric in chosen:
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for side, period in (("before", before), ("after", after)):
            for row in answer(metric, period, fixed_as_of or period.end_utc):
                key = (row.get(by) if by else None, row[ITEM], row["measure"])
                entry = seen.setdefault(key, {
                    "metric": metric.name, "before_period": before.label,
                    "after_period": after.label,
                    **({by: row.get(by)} if by else {}),
                    ITEM: row[ITEM], "measure": row["measure"], "before": None, "after": None,
                })
                entry[side] = row["value"]
        found = list(seen.values())
        for entry in found:
            entry["change"], entry["relative_change"] = _change(entry["before"], entry["after"])
        found.sort(key=_sort_key(by))
        rows.extend(found)
    schema = _schema(by, [("metric", pa.string()), ("before_period", pa.string()),
                          ("after_period", pa.string())],
                     [(n, pa.float64()) for n in ("before", "after", "change",
                                                  "relative_change")])
    return KpiResult(pa.Table.from_pylist(rows, schema=schema), "comparison", by)
