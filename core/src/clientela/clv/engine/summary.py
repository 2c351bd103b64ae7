"""The customer summary the CLV models need, computed in the engine.

Fader and Hardie's models see each customer through four numbers: repeat
purchases x, time of the last purchase t_x, age T and mean repeat spend m.
Computing them from millions of orders is the expensive part, so it is one
Ibis query that the database runs (DuckDB, PySpark or PostgreSQL alike) and
only one row per customer travels back to Python.

Conventions, as in Fader, Hardie & Lee's CDNOW summary:

- a *purchase* is a local calendar day (workspace time zone) with at least
  one valid order: two orders on the same day are one purchase whose value is
  their summed revenue, so a split basket is not mistaken for loyalty;
- times are whole-day differences, expressed in days or in (fractional)
  weeks, so the weekly summary is the daily one divided by 7;
- T runs from the first purchase day to the last day of calibration (the day
  before the exclusive calibration end when it is a local midnight);
- only valid orders count, with revenue in the reporting currency, both
  taken from `clientela.kpi.conventions`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import ibis
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from clientela.clv.models.inputs import (
    DAYS_PER_MONTH,
    WEEKS_PER_MONTH,
    IntArray,
    RfmSummary,
    collapse,
    unique_whole_rows,
)
from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.kpi.localtime import day_number, is_fixed, local_day

if TYPE_CHECKING:
    import ibis.expr.types as ir

Unit = Literal["days", "weeks"]
UNITS: tuple[str, ...] = ("days", "weeks")
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}
PERIODS_PER_MONTH: dict[str, float] = {"days": DAYS_PER_MONTH, "weeks": WEEKS_PER_MONTH}
FloatArray = NDArray[np.float64]


def periods_per_month(unit: str) -> float:
    """Months to the summary's unit, checked once so a typo never reaches the models."""
    if unit not in PERIODS_PER_MONTH:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return PERIODS_PER_MONTH[unit]


def last_day(calibration_end: datetime, timezone: str) -> int:
    """The last local day inside the half-open calibration period ending at `calibration_end`."""
    return day_number(calibration_end - timedelta(microseconds=1), timezone)


def _span(orders: ir.Table, column: str) -> tuple[datetime, datetime] | None:
    """First and last instant of `column`: the range the zone's offsets must cover."""
    found = orders.aggregate(lo=orders[column].min(), hi=orders[column].max()).to_pyarrow()
    lo, hi = found["lo"][0].as_py(), found["hi"][0].as_py()
    if lo is None or hi is None:
        return None
    return (lo.replace(tzinfo=None), hi.replace(tzinfo=None))


def _valid_orders(ctx: MetricContext, *, since: datetime | None,
                  until: datetime | None) -> ir.Table:
    """Valid orders of known customers with only their revenue, by the KPI conventions.

    Inside an engine call the conventions materialise every valid order with
    every amount, sorted, for the many metrics that share them; the summary is
    one query over one column of money, so it reads the store table directly
    (a quarter of the work at 10M orders) unless that table is already there.
    """
    cache = ctx.cache
    materialised = getattr(cache, "materialised", None) if cache is not None else None
    if cache is not None and not (isinstance(materialised, dict)
                                  and "valid_orders" in materialised):
        ctx.has("orders")  # answered once, by the shared cache, before it is set aside
        ctx = replace(ctx, cache=None)
    orders = cv.valid_orders(ctx, since=since, until=until, amounts=("revenue",))
    return orders.filter(orders.customer_id.notnull())


def _local_days(ctx: MetricContext, orders: ir.Table, *, since: datetime | None,
                until: datetime | None) -> ir.Table:
    """`orders` with their local `day`; the span is asked of the engine only when the zone
    has ever changed its offset."""
    moment = since or until or ctx.as_of
    lo = hi = moment
    if not is_fixed(ctx.timezone):
        span = _span(orders, "placed_at")
        if span is not None:
            lo, hi = span
    return orders.mutate(day=local_day(orders.placed_at, ctx.timezone, lo, hi))


def _cents(revenue: ir.NumericValue) -> ir.FloatingValue:
    """Revenue in cents as float64: whole numbers, so sums stay exact (below 2**53 cents,
    ninety trillion) while aggregating far faster than DECIMAL(38, 2)."""
    return (revenue * 100).cast("float64")


def order_days(ctx: MetricContext, *, until: datetime, since: datetime | None = None
               ) -> ir.Table:
    """One row per valid order of a known customer placed in [since, until) (`since` None:
    from the first): customer_id, its local `day` and its revenue in `cents` (float64, whole
    numbers, reporting currency).

    Orders, not purchase days: grouping ten million (customer, day) pairs into nine
    million groups was most of the engine's work for a CLV series, and the caller
    sums a day's orders itself after one sort of integer keys (`clientela.clv.engine.
    series`). Guest orders (no customer) are left out because they cannot repeat.
    """
    orders = _valid_orders(ctx, since=since, until=until)
    orders = orders.select("customer_id", "placed_at", cents=_cents(orders.revenue))
    orders = _local_days(ctx, orders, since=since, until=until)
    return orders.select("customer_id", "day", "cents")


def customer_summary(ctx: MetricContext, *, calibration_end: datetime, unit: Unit = "days",
                     holdout_end: datetime | None = None) -> ir.Table:
    """Per customer with a valid order before `calibration_end` (naive UTC, exclusive).

    Columns: customer_id, frequency (repeat purchases, int64), recency and
    age (float64, in `unit`), monetary (float64 mean revenue of the repeat
    purchases, 0 without any), first_day and last_day (local day numbers);
    with `holdout_end`, also holdout_purchases: purchase days in
    [calibration_end, holdout_end), 0 for a customer who did not come back.

    One scan and two aggregations, no window and no join: orders become
    purchase days (customer, local day, cents), then customers; the first
    purchase's value is `argmin(amount, day)` (days are unique per customer
    there), and the holdout is the same scan counted under a filter.
    """
    per_unit = DAYS_PER_UNIT[_checked_unit(unit)]
    end_day = last_day(calibration_end, ctx.timezone)
    until = calibration_end if holdout_end is None else max(holdout_end, calibration_end)
    orders = _valid_orders(ctx, since=None, until=until)
    orders = orders.select("customer_id", "placed_at", cents=_cents(orders.revenue))
    orders = _local_days(ctx, orders, since=None, until=until)
    keys = ["customer_id", "day"]
    # A calibration end at a local midnight splits no day, so `day` alone tells the periods
    # apart; otherwise a day astride the end is one purchase on each side, as before.
    straddles = holdout_end is not None and day_number(calibration_end, ctx.timezone) == end_day
    if straddles:
        orders = orders.mutate(_later=orders.placed_at >= calibration_end)
        keys.append("_later")
    days = orders.group_by(keys).aggregate(amount=orders.cents.sum())
    if holdout_end is None:
        inside = None
    elif straddles:
        inside = ~days._later
    else:
        inside = days.day <= end_day
    per = days.group_by("customer_id").aggregate(
        purchases=days.count(where=inside),
        first_day=days.day.min(where=inside),
        last_day=days.day.max(where=inside),
        total=days.amount.sum(where=inside),
        first_amount=days.amount.argmin(days.day, where=inside),
        **({} if inside is None else {"later": days.count(where=~inside)}),
    )
    if inside is not None:
        per = per.filter(per.purchases > 0)
    frequency = (per.purchases - 1).cast("int64")
    repeat_cents = per.total - per.first_amount
    columns: dict[str, ir.Value] = {
        "frequency": frequency,
        "recency": (per.last_day - per.first_day).cast("float64") / per_unit,
        "age": (ibis.literal(end_day, type="int64") - per.first_day).cast("float64") / per_unit,
        "monetary": ibis.ifelse(frequency > 0, repeat_cents / 100 / frequency.cast("float64"),
                                0.0),
        "first_day": per.first_day.cast("int64"),
        "last_day": per.last_day.cast("int64"),
    }
    if inside is not None:
        columns["holdout_purchases"] = per.later.cast("int64")
    return per.select("customer_id", **columns)


def _checked_unit(unit: str) -> str:
    periods_per_month(unit)
    return unit


@dataclass(frozen=True)
class CustomerSummary:
    """The summary back in Python: customer ids in a stable order and the models' arrays.

    The ids are `ids`, or `ids.take(rows)` when `rows` is given: a series of summaries
    holds every customer of the series once and picks each period's, and a million
    strings are only gathered for the periods that ask for them (slices, saved scores).
    """

    ids: pa.Array
    summary: RfmSummary
    unit: str
    calibration_end: datetime
    holdout_purchases: FloatArray | None = None
    rows: IntArray | None = None
    whole_days: tuple[IntArray, IntArray, IntArray] | None = None
    """x, t_x and T in whole days (int64) when the summary was made from them (a series):
    `distinct` groups those, without checking floats for fractions, then drops them."""

    def __len__(self) -> int:
        return len(self.summary)

    @cached_property
    def customer_id(self) -> pa.Array:
        """Each customer's id, in the summary's order."""
        return self.ids if self.rows is None else self.ids.take(pa.array(self.rows))

    @cached_property
    def distinct(self) -> tuple[RfmSummary, IntArray]:
        """`collapse(summary)`: the distinct (x, t_x, T) rows with their customer counts, and
        each customer's row. Made once, for the purchase fit and the predictions alike:
        both evaluate the models per distinct row (monthly as-of points and day-level
        times leave far fewer rows than customers at scale)."""
        if self.whole_days is None:
            return collapse(self.summary)
        found = collapse(self.summary, groups=unique_whole_rows(*self.whole_days))
        # their only use: the 24 MB a million customers' days take leave with the grouping
        object.__setattr__(self, "whole_days", None)
        return found


def fetch_summary(ctx: MetricContext, *, calibration_end: datetime, unit: Unit = "days",
                  holdout_end: datetime | None = None) -> CustomerSummary:
    """Run the summary query and hand the models plain arrays (sorted by customer_id)."""
    expr = customer_summary(ctx, calibration_end=calibration_end, unit=unit,
                            holdout_end=holdout_end).order_by("customer_id")
    table = expr.to_pyarrow()

    def column(name: str) -> FloatArray:
        return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)

    summary = RfmSummary(frequency=column("frequency"), recency=column("recency"),
                         age=column("age"), monetary=column("monetary"))
    holdout = column("holdout_purchases") if holdout_end is not None else None
    return CustomerSummary(ids=table["customer_id"].combine_chunks(), summary=summary,
                           unit=unit, calibration_end=calibration_end,
                           holdout_purchases=holdout)
