"""Fit on a calibration period, check on the holdout, value today's customers.

What `clientela clv` shows, as a Python API so a notebook gets the same
answer: the model is fitted on the store's history minus the last
`holdout_months`; its predictions for those months are set against what
customers actually did (overall and by number of calibration purchases,
Fader, Hardie & Lee's figure 4), so the user can judge it on their own data;
and the same fitted parameters then value every customer as of the end of
the history (parameters describe the population, so the validated fit is the
one applied), by the segments of a registered segmenter (RFM by default) when installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from clientela import clv
from clientela.clv.engine.summary import (
    DAYS_PER_UNIT,
    CustomerSummary,
    fetch_summary,
    last_day,
    periods_per_month,
)
from clientela.clv.engine.values import CustomerValues, Fits, fit_models, predict
from clientela.clv.models.holdout import HoldoutCheck
from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.engine import backend_of
from clientela.kpi.errors import KpiError
from clientela.kpi.periods import Period, from_utc, to_utc, zone

OVERALL = "All customers"


@dataclass(frozen=True)
class ClvReport:
    """Everything the command prints, plus the per-customer table it can write."""

    fits: Fits
    calibration_start: datetime
    calibration_end: datetime
    history_end: datetime
    """Exclusive, naive UTC: the local midnight after the last valid order."""
    holdout_months: int
    holdout_length: float
    """In the fit's unit."""
    holdout: HoldoutCheck | None
    values: CustomerValues
    segments: list[dict[str, Any]]
    segmented: bool
    """False when the segmenter was not installed and `segments` is the overall row only."""
    customer_table: pa.Table
    timezone: str = "UTC"

    def local_day(self, instant: datetime, *, exclusive: bool = False) -> str:
        """A UTC instant as the workspace's local date; with `exclusive`, the last day before
        it (a period's end is exclusive, a person reads the last day included)."""
        moment = instant - timedelta(microseconds=1) if exclusive else instant
        return from_utc(moment, zone(self.timezone)).strftime("%d %b %Y")


def _context(source: Any, instant: datetime, timezone: str, currency: str) -> MetricContext:
    backend = backend_of(source)
    period = Period(instant, instant, instant, instant, "as_of")
    return MetricContext(backend=backend, period=period, as_of=instant, timezone=timezone,
                         currency=currency, metric="clv", cache=TableCache(backend))


def history_bounds(ctx: MetricContext) -> tuple[datetime, datetime]:
    """First valid order (naive UTC) and the local midnight after the last one (exclusive)."""
    orders = cv.valid_orders(ctx)
    orders = orders.filter(orders.customer_id.notnull())
    found = orders.aggregate(lo=orders.placed_at.min(), hi=orders.placed_at.max()).to_pyarrow()
    lo, hi = found["lo"][0].as_py(), found["hi"][0].as_py()
    if lo is None or hi is None:
        raise KpiError("the store has no valid orders of identified customers to fit a CLV "
                       "model on")
    tz = zone(ctx.timezone)
    local = from_utc(hi.replace(tzinfo=None), tz)
    next_midnight = datetime(local.year, local.month, local.day) + timedelta(days=1)
    return lo.replace(tzinfo=None), to_utc(next_midnight, tz)


def months_before(instant: datetime, months: int, timezone: str) -> datetime:
    """The same local wall time `months` calendar months earlier (day clamped to the month)."""
    tz = zone(timezone)
    local = from_utc(instant, tz)
    index = local.year * 12 + local.month - 1 - months
    year, month = index // 12, index % 12 + 1
    day = local.day
    while True:
        try:
            moved = local.replace(year=year, month=month, day=day)
            break
        except ValueError:
            day -= 1
    return to_utc(moved, tz)


def _segments(ctx: MetricContext, segmenter: str | None) -> pa.Table | None:
    """customer_id, segment from the registered `segmenter`; None when none is named or
    installed (the report then has the overall row only)."""
    if segmenter is None:
        return None
    from clientela.plugins import registry

    chosen = registry().segmenters.get(segmenter)
    if chosen is None:
        return None
    table: pa.Table = chosen.segment(ctx, chosen.params()).select(
        "customer_id", "segment").to_pyarrow()
    return table


def segment_values(values: pa.Table, key: str | None) -> list[dict[str, Any]]:
    """Customers, mean P(alive), expected purchases, mean and total CLV per segment, and the
    overall row last; sorted by total CLV, the order a marketer reads them in."""
    total_clv = float(pc.sum(values["clv"]).as_py() or 0.0)

    def row(name: str, part: pa.Table) -> dict[str, Any]:
        n = part.num_rows
        total = float(pc.sum(part["clv"]).as_py() or 0.0)
        return {
            "segment": name,
            "customers": n,
            "p_alive": float(pc.mean(part["p_alive"]).as_py() or 0.0) if n else None,
            "expected_purchases": float(pc.sum(part["expected_purchases"]).as_py() or 0.0),
            "mean_clv": total / n if n else None,
            "total_clv": total,
            "share": total / total_clv if total_clv else None,
        }

    rows: list[dict[str, Any]] = []
    if key is not None:
        for name in sorted(set(values[key].to_pylist()), key=str):
            part = values.filter(pc.equal(values[key], name))
            rows.append(row(str(name), part))
        rows.sort(key=lambda r: -r["total_clv"])
    rows.append(row(OVERALL, values))
    return rows


def clv_report(source: Any, *, horizon_months: int = 12, holdout_months: int = 6,
               model: str = "bgnbd", unit: str = "days", discount_rate: float = 0.01,
               timezone: str = "UTC", currency: str = "BRL",
               segmenter: str | None = "rfm") -> ClvReport:
    """Fit, check and value, as `clientela clv` does. Raises `ClvFitError` when the
    calibration data cannot support a fit and `KpiError` when the store has no orders."""
    periods_per_month(unit)  # refuses an unknown unit with a clear message
    per_unit = DAYS_PER_UNIT[unit]
    if holdout_months < 0:
        raise ValueError(f"holdout_months must not be negative, got {holdout_months}")
    probe = _context(source, datetime(1970, 1, 1), timezone, currency)
    start, history_end = history_bounds(probe)
    calibration_end = months_before(history_end, holdout_months, timezone)
    if calibration_end <= start:
        raise KpiError(f"a {holdout_months}-month holdout leaves no calibration period: the "
                       f"history starts on {start:%d %b %Y}; use a shorter --holdout")
    cal_ctx = _context(source, calibration_end, timezone, currency)
    calibration: CustomerSummary = fetch_summary(
        cal_ctx, calibration_end=calibration_end, unit=unit,  # type: ignore[arg-type]
        holdout_end=history_end if holdout_months else None)
    fits = fit_models(calibration.summary, model=model, unit=unit)
    holdout_length = (last_day(history_end, timezone) - last_day(calibration_end, timezone)) \
        / per_unit
    check = None
    if holdout_months and calibration.holdout_purchases is not None:
        check = clv.holdout_check(fits.purchases, calibration.summary,
                                  calibration.holdout_purchases, holdout_length)
    end_ctx = _context(source, history_end, timezone, currency)
    today = calibration if not holdout_months else fetch_summary(
        end_ctx, calibration_end=history_end, unit=unit)  # type: ignore[arg-type]
    values = predict(today, fits, horizon_months=horizon_months, discount_rate=discount_rate)
    table = values.to_arrow()
    segments = _segments(end_ctx, segmenter)
    key = None
    if segments is not None:
        table = table.join(segments, "customer_id", join_type="left outer").sort_by(
            "customer_id")
        key = "segment"
    return ClvReport(
        fits=fits, calibration_start=start, calibration_end=calibration_end,
        history_end=history_end, holdout_months=holdout_months, holdout_length=holdout_length,
        holdout=check, values=values, segments=segment_values(table, key),
        segmented=key is not None, customer_table=table, timezone=timezone,
    )
