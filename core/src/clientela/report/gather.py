"""Everything a report shows, read from the store through the KPI engine and the segmenter.

No number is computed here that the catalogue computes: the month-by-month
view is `clientela.kpi.compute` over the months (plus the twelve before,
for the year-ago change), the RFM grid is the registry's RFM segmenter, the
CLV distribution is the CLV engine's per-customer prediction. What the
store lacks is recorded as missing, never filled with zeros.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clientela.kpi import KpiError, MissingDataError, compute
from clientela.kpi.engine import backend_of
from clientela.kpi.periods import to_utc, zone
from clientela.metrics.api import Metric
from clientela.report.window import Window, add_months, month_label

log = logging.getLogger(__name__)

YEAR = 12


@dataclass
class Timings:
    """Seconds per section, for the benchmark and `--debug`."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Missing:
    metric: Metric
    table: str
    reason: str


@dataclass
class MonthlyData:
    """The window's months and the twelve before, every metric the store supports."""

    window: Window
    metrics: list[Metric]
    missing: list[Missing]
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)


@dataclass
class RfmGrid:
    as_of_label: str
    cells: list[dict[str, Any]]
    """r, fm, segment, customers."""
    moves: list[dict[str, Any]]
    """from_segment (None: no order before the previous month's end), to_segment, customers."""


@dataclass
class ReportData:
    window: Window
    timezone: str
    currency: str
    monthly: MonthlyData
    rfm: RfmGrid | None = None
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    clv: list[float] | None = None
    p_alive_by_segment: list[dict[str, Any]] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class Failed:
    """A metric the engine could not compute for some periods (a model that cannot be fitted
    on the little history before an early month): those periods show no value."""

    metric: Metric
    reason: str
    periods: tuple[str, ...]


@dataclass
class Answer:
    rows: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)


_NAMED = re.compile(r"metric '([^']+)'")


def _named_in(error: Exception, metrics: Sequence[Metric]) -> Metric | None:
    """The metric an engine error names ("metric 'clv_predicted' as of ...: ...")."""
    found = _NAMED.search(str(error))
    return next((m for m in metrics if found and m.name == found.group(1)), None)


def _period_by_period(source: Any, metric: Metric, periods: Sequence[tuple[str, str]],
                      kwargs: dict[str, Any], answer: Answer) -> None:
    """The metric over `periods`, halving the range where the engine fails, so the months a
    model cannot be fitted for (usually the earliest) are found in a few calls and the rest
    is answered in one."""
    failed: list[str] = []
    reason = ""

    def attempt(part: Sequence[tuple[str, str]]) -> None:
        nonlocal reason
        try:
            answer.rows.extend(compute(source, [metric], **{
                **kwargs, "start": part[0][0], "end": part[-1][1]}).rows())
        except KpiError as error:
            if len(part) == 1:
                failed.append(part[0][0])
                reason = str(error)
                return
            middle = len(part) // 2
            attempt(part[:middle])
            attempt(part[middle:])

    attempt(periods)
    if failed:
        answer.failed.append(Failed(metric, reason, tuple(sorted(failed))))


def _fits_a_model(metric: Metric) -> bool:
    """Metrics of the CLV engine fit BG/NBD and Gamma-Gamma, which refuse too little
    history: asked apart, their failure costs only their own call."""
    return getattr(metric.compute, "__module__", "") == "clientela.metrics.clv"


def compute_available(source: Any, metrics: Sequence[Metric], *,
                      periods: Sequence[tuple[str, str]] | None = None, **kwargs: Any
                      ) -> Answer:
    """`compute` over every metric whose data is in the store; the others come back as
    Missing (the engine checks every metric's tables before computing any, so dropping the
    one it names and asking again costs only the check). A metric the engine cannot compute
    for the whole range is asked again one of `periods` at a time, when given (else left
    out), so one early month without enough history does not blank the row."""
    answer = Answer()
    fitted = [m for m in metrics if _fits_a_model(m)]
    if fitted and len(fitted) < len(metrics):  # the ones that may fail, apart, first
        first = compute_available(source, fitted, periods=periods, **kwargs)
        rest = compute_available(source, [m for m in metrics if m not in fitted],
                                 periods=periods, **kwargs)
        return Answer(first.rows + rest.rows, first.missing + rest.missing,
                      first.failed + rest.failed)
    chosen = list(metrics)
    while chosen:
        try:
            answer.rows += compute(source, chosen, **kwargs).rows()
            return answer
        except MissingDataError as error:
            dropped = next((m for m in chosen if m.name == error.metric), None)
            if dropped is None:
                raise
            chosen.remove(dropped)
            answer.missing.append(Missing(dropped, error.table, str(error)))
        except KpiError as error:
            dropped = _named_in(error, chosen)
            if dropped is None:
                raise
            chosen.remove(dropped)
            log.info("%s: %s", dropped.name, error)
            if periods:
                _period_by_period(source, dropped, periods, kwargs, answer)
            else:
                answer.failed.append(Failed(dropped, str(error), ()))
    return answer


def _utc(window_bound: datetime, timezone: str) -> datetime:
    return to_utc(window_bound, zone(timezone))


def gather_monthly(source: Any, catalog: Sequence[Metric], window: Window, *,
                   timezone: str, currency: str, timings: Timings) -> MonthlyData:
    wide = window.widened(YEAR)
    months = [(month_label(m), month_label(add_months(m, 1))) for m in wide.months]
    with timings.section("monthly KPIs"):
        answer = compute_available(
            source, catalog, periods=months, start=month_label(wide.start),
            end=month_label(wide.end), grain="month", timezone=timezone, currency=currency,
            reuse=True)  # a clientela Store keeps each month's answers (docs/warm.md)
    missing = {x.metric.name for x in answer.missing}
    failed_whole = {x.metric.name for x in answer.failed if not x.periods}
    kept = [m for m in catalog if m.name not in missing | failed_whole]
    return MonthlyData(window, kept, answer.missing, answer.rows, answer.failed)


def rfm_at(source: Any, as_of: datetime, timezone: str, currency: str) -> Any:
    """The registry's RFM segmenter as of an instant (naive UTC): an Ibis table."""
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.periods import Period
    from clientela.plugins import registry

    segmenter = registry().segmenters["rfm"]
    backend = backend_of(source)
    ctx = MetricContext(backend=backend, period=Period(as_of, as_of, as_of, as_of, "as_of"),
                        as_of=as_of, timezone=timezone, currency=currency, metric="rfm",
                        cache=TableCache(backend))
    return segmenter.segment(ctx, segmenter.params())


def gather_rfm(source: Any, window: Window, timezone: str, currency: str) -> RfmGrid:
    """Scores at the window's end, and where those customers were a month earlier."""
    now = rfm_at(source, _utc(window.end, timezone), timezone, currency)
    before = rfm_at(source, _utc(add_months(window.end, -1), timezone), timezone, currency)
    cells = (now.group_by(["r", "fm", "segment"]).agg(customers=now.count())
             .order_by(["r", "fm"]).to_pyarrow().to_pylist())
    previous = before.select(customer_id=before.customer_id, from_segment=before.segment)
    joined = now.left_join(previous, now.customer_id == previous.customer_id)
    moves = (joined.group_by([joined.from_segment, joined.segment.name("to_segment")])
             .agg(customers=joined.count())
             .order_by(["from_segment", "to_segment"]).to_pyarrow().to_pylist())
    return RfmGrid(month_label(add_months(window.end, -1)), cells, moves)


def gather_cohorts(source: Any, window: Window, timezone: str, currency: str
                   ) -> list[dict[str, Any]]:
    """cohort_retention over the whole window: one cell per (cohort month, months after)."""
    answer = compute_available(
        source, _named(["cohort_retention"]), start=month_label(window.start),
        end=month_label(window.end), timezone=timezone, currency=currency)
    cells: dict[str, dict[str, Any]] = {}
    for row in answer.rows:
        if row["item"] is None:
            continue
        cohort, _, offset = row["item"].partition(" +")
        cell = cells.setdefault(row["item"], {"cohort": cohort, "month": int(offset)})
        cell[row["measure"]] = row["value"]
    return sorted(cells.values(), key=lambda c: (c["cohort"], c["month"]))


def gather_campaigns(source: Any, window: Window, timezone: str, currency: str
                     ) -> list[dict[str, Any]]:
    """campaign_lift per campaign, by contact channel, over the window."""
    answer = compute_available(
        source, _named(["campaign_lift"]), start=month_label(window.start),
        end=month_label(window.end), by="channel", timezone=timezone, currency=currency)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in answer.rows:
        if row["item"] is None or row.get("channel") is None:
            continue
        entry = found.setdefault((row["channel"], row["item"]),
                                 {"channel": row["channel"], "campaign": row["item"]})
        entry[row["measure"]] = row["value"]
    return [found[key] for key in sorted(found) if found[key].get("value") is not None]


def gather_clv(source: Any, window: Window, timezone: str, currency: str
               ) -> tuple[list[float] | None, list[dict[str, Any]]]:
    """Per-customer predicted CLV at the window's end, and mean P(alive) per RFM segment."""
    from clientela.clv import ClvFitError
    from clientela.clv.engine.periods import predicted_values
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.periods import Period

    last = add_months(window.end, -1)
    answer = compute_available(
        source, _named(["p_alive"]), start=month_label(last),
        end=month_label(window.end), by="segment", timezone=timezone, currency=currency)
    by_segment = [
        {"segment": row["segment"], "p_alive": row["value"]} for row in answer.rows
        if row["measure"] == "value" and row["item"] is None and row["segment"] is not None]
    backend = backend_of(source)
    end = _utc(window.end, timezone)
    ctx = MetricContext(backend=backend, period=Period(end, end, end, end, "as_of"), as_of=end,
                        timezone=timezone, currency=currency, metric="clv_predicted",
                        cache=TableCache(backend))
    try:
        values = [float(v) for _, found in predicted_values(ctx) for v in found.clv]
    except (ClvFitError, KpiError) as error:
        log.info("CLV distribution left out: %s", error)
        return None, by_segment
    return values, by_segment


def _named(names: Sequence[str]) -> list[Metric]:
    from clientela.plugins import registry

    catalog = registry().metrics
    return [catalog[name] for name in names if name in catalog]


def gather(source: Any, window: Window, *, timezone: str, currency: str,
           catalog: Sequence[Metric] | None = None) -> ReportData:
    """Everything the month-by-month report shows, section by section (each timed)."""
    from clientela.plugins import registry

    metrics = list(catalog if catalog is not None else registry().metrics.values())
    timings = Timings()
    monthly = gather_monthly(source, metrics, window, timezone=timezone, currency=currency,
                             timings=timings)
    data = ReportData(window, timezone, currency, monthly, timings=timings)
    supported = {m.name for m in monthly.metrics}
    if "rfm_segments" in supported:
        with timings.section("RFM grid"):
            data.rfm = gather_rfm(source, window, timezone, currency)
    if "cohort_retention" in supported:
        with timings.section("cohorts"):
            data.cohorts = gather_cohorts(source, window, timezone, currency)
    if "campaign_lift" in supported:
        with timings.section("campaigns"):
            data.campaigns = gather_campaigns(source, window, timezone, currency)
    if "clv_predicted" in supported:
        with timings.section("CLV"):
            data.clv, data.p_alive_by_segment = gather_clv(source, window, timezone, currency)
    return data
