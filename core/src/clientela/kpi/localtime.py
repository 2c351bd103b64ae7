"""Local calendar days of UTC instants, computed the same way on every engine.

The store keeps naive UTC timestamps and reports cut time in the workspace's
zone. Engines disagree on time-zone functions (DuckDB needs an extension,
Spark's depend on a session setting, PostgreSQL's on the column type), and
they are slow per row, so the conversion here is plain arithmetic that every
engine runs alike: whole epoch seconds plus the zone's UTC offset, floored to
days. The offset comes from `zoneinfo`, looked up in Python for the span of
the data: one literal when the zone did not change its offset there (a fixed
zone, or Sao Paulo since 2019), otherwise a CASE over the few instants where
it changed (two a year for a zone with daylight saving), latest first since
most orders are recent.

Use `local_day` for "which local day was this instant on" (days since
1970-01-01, an integer that subtracts and compares without a date type) and
`local_seconds` when the local time of day matters too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import ibis

from clientela.kpi.periods import Period, buckets, from_utc, zone
from clientela.kpi.sql import bucket_index

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    import ibis.expr.types as ir

    from clientela.kpi.context import MetricContext

SECONDS_PER_DAY = 86_400
_EPOCH = datetime(1970, 1, 1)
Interval = tuple[datetime, datetime, int]
"""Half-open naive-UTC range [start, end) and the zone's UTC offset in seconds there."""

_FIXED_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal",
                          "Etc/Zulu", "Zulu", "GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0",
                          "Etc/GMT0", "GMT0", "GMT+0", "GMT-0", "Etc/Greenwich", "Greenwich"})
"""Zones whose offset never changes: their local day needs no look at the data's span."""


def is_fixed(timezone: str) -> bool:
    """True when the zone's offset to UTC never changes, so no span of data is needed."""
    return zone(timezone).key in _FIXED_ZONES


def _offset(tz: ZoneInfo, instant: datetime) -> int:
    delta = instant.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_intervals(timezone: str, lo: datetime, hi: datetime) -> list[Interval]:
    """Half-open naive-UTC intervals covering [lo, hi] in which the zone's offset is constant.

    Found by a daily scan and a bisection to the second at each change, so the
    result is exactly zoneinfo's; the last interval runs a day past `hi` so
    that an instant rounded up to the next second is still covered.
    """
    tz = zone(timezone)
    start = lo.replace(microsecond=0)
    stop = hi.replace(microsecond=0) + timedelta(seconds=1)
    intervals: list[Interval] = []
    current_start, current = start, _offset(tz, start)
    probe = start
    while probe < stop:
        step = min(probe + timedelta(days=1), stop)
        if _offset(tz, step) != current:
            low, high = 0, int((step - probe).total_seconds())  # offset changes in (low, high]
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, probe + timedelta(seconds=middle)) == current:
                    low = middle
                else:
                    high = middle
            change = probe + timedelta(seconds=high)
            intervals.append((current_start, change, current))
            current_start, current = change, _offset(tz, change)
        probe = step
    intervals.append((current_start, stop + timedelta(days=1), current))
    return intervals


def utc_offset(moment: ir.TimestampValue, intervals: list[Interval]) -> ir.IntegerValue:
    """The UTC offset in seconds in force at `moment`, from `offset_intervals`.

    A CASE on the timestamp itself (compared with literals, exact to the
    microsecond) rather than a range join against a table of intervals: a
    join costs a probe per row, the CASE a comparison per change.
    """
    if len(intervals) == 1:
        return ibis.literal(intervals[0][2], type="int64")
    branches = [(moment >= ibis.literal(start, type="timestamp"),
                 ibis.literal(offset, type="int64"))
                for start, _, offset in reversed(intervals[1:])]
    return ibis.cases(*branches, else_=ibis.literal(intervals[0][2], type="int64"))


def local_seconds(moment: ir.TimestampValue, timezone: str, lo: datetime,
                  hi: datetime) -> ir.NumericValue:
    """Seconds since 1970-01-01 00:00 local time, for instants in [lo, hi] (naive UTC).

    Whole seconds on engines that drop sub-second parts of epochs (Spark),
    fractional on those that keep them (DuckDB); floor it before comparing
    across engines. `lo` and `hi` bound the instants the expression will see
    (the data's span, or the report's period): outside them the offset of the
    nearest interval is used.
    """
    return moment.epoch_seconds() + utc_offset(moment, offset_intervals(timezone, lo, hi))


def local_day(moment: ir.TimestampValue, timezone: str, lo: datetime,
              hi: datetime) -> ir.IntegerValue:
    """The local calendar day of `moment` as whole days since 1970-01-01 (int64).

    Flooring the fractional epoch gives the same day as flooring whole
    seconds, so every engine agrees. See `local_seconds` for `lo` and `hi`.
    """
    day = (local_seconds(moment, timezone, lo, hi) / SECONDS_PER_DAY).floor()
    return day.cast("int64")


def day_number(moment: datetime, timezone: str) -> int:
    """`local_day` of one naive UTC instant, in Python: for literals and for tests."""
    return (from_utc(moment, zone(timezone)).date() - _EPOCH.date()).days


def day_date(day: int) -> date:
    """The calendar date of a `local_day` number."""
    return _EPOCH.date() + timedelta(days=day)


# -- time in SQL expressions: days between instants, local months --------------------

def epoch(moment: ir.TimestampValue) -> ir.IntegerValue:
    """Whole epoch seconds: engines disagree on sub-second parts (DuckDB keeps them, Spark
    drops them), so they are dropped everywhere."""
    return moment.epoch_seconds().cast("float64").floor().cast("int64")


def days_between(earlier: ir.TimestampValue, later: ir.TimestampValue | datetime) -> ir.Value:
    """Whole days elapsed from `earlier` to `later` (floor), computed from epoch seconds so
    that every engine agrees."""
    later_expr = ibis.literal(later) if isinstance(later, datetime) else later
    seconds = epoch(later_expr) - epoch(earlier)
    return (seconds.cast("float64") / SECONDS_PER_DAY).floor().cast("int64")


def calendar_days_between(ctx: MetricContext, earlier: ir.TimestampValue,
                          later: ir.TimestampValue | datetime) -> ir.IntegerValue:
    """Calendar days from the local date of `earlier` to the local date of `later`, both in
    the workspace time zone: an order placed yesterday, at any hour, is 1 day ago, one
    placed today 0 (recency, RFM's R). Whole local days since 1970 subtracted, so every
    engine agrees."""
    later_expr = ibis.literal(later, type="timestamp") if isinstance(later, datetime) else later
    intervals = calendar_day_intervals(ctx)
    return calendar_day(later_expr, intervals) - calendar_day(earlier, intervals)


def calendar_day_intervals(ctx: MetricContext) -> list[Interval]:
    """The zone's offsets over the data's span: what `calendar_day` and
    `calendar_day_number` read (found once, passed to both)."""
    return offset_intervals(ctx.timezone, *_order_span(ctx))


def calendar_day(moment: ir.TimestampValue, intervals: list[Interval]) -> ir.IntegerValue:
    """The local day (days since 1970) of each `moment` as `calendar_days_between` counts
    it: whole epoch seconds plus the offset of `intervals`, floored to days."""
    # whole epoch seconds as float before dividing: PostgreSQL truncates integer division
    local = (epoch(moment) + utc_offset(moment, intervals)).cast("float64")
    return (local / SECONDS_PER_DAY).floor().cast("int64")


def calendar_day_number(moment: datetime, intervals: list[Interval]) -> int:
    """`calendar_day` of one naive UTC instant, worked out in Python by the same rule (the
    same offsets, also outside the intervals): a per-period constant can then be a literal
    instead of an expression every row computes again."""
    offset = intervals[0][2]
    for start, _, later_offset in reversed(intervals[1:]):
        if moment >= start:
            offset = later_offset
            break
    elapsed = moment - _EPOCH  # days and seconds normalised: whole seconds floored, exactly
    seconds = elapsed.days * SECONDS_PER_DAY + elapsed.seconds
    return (seconds + offset) // SECONDS_PER_DAY


def _order_span(ctx: MetricContext) -> tuple[datetime, datetime]:
    """From the first order in the store to the latest instant the context looks at: the
    range a zone's offset changes must cover for local days to be exact. Asked of the engine
    only for a zone that has ever changed its offset."""
    from clientela.kpi.retail import first_order_at  # the store's span, asked only when needed

    hi = max(ctx.end, ctx.as_of)
    if is_fixed(ctx.timezone):
        return hi, hi
    lo = first_order_at(ctx) or hi
    return min(lo, hi), hi


def first_day(local: datetime) -> date:
    """The first local day whose midnight is at or after the local wall time `local`."""
    day = local.date()
    return day if local == datetime(day.year, day.month, day.day) else day + timedelta(days=1)


def local_months(ctx: MetricContext, start: datetime, end: datetime) -> list[Period]:
    """The calendar months (cut in the workspace time zone) covering [start, end) in UTC,
    whole: the first begins on the 1st of start's local month."""
    tz = zone(ctx.timezone)
    local_start = from_utc(start, tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return buckets(local_start, from_utc(end, tz), "month", tz)


def month_number(month: Period) -> int:
    """A running month index (year * 12 + month - 1): consecutive months differ by one."""
    return month.start.year * 12 + month.start.month - 1


def with_month(table: ir.Table, column: str, months: list[Period]) -> ir.Table:
    """Add `month` (month_number) and `label` ('YYYY-MM') of the local calendar month of
    `column`; rows outside `months` are dropped. A binary search over the months' UTC starts
    gives a timestamp its local month with no engine-specific time-zone function (and no
    range join)."""
    value = table[column]
    table = table.filter((value >= months[0].start_utc) & (value < months[-1].end_utc))
    month = bucket_index(table[column], [m.start_utc for m in months]) + month_number(months[0])
    return table.mutate(month=month, label=month_label(month))


def month_label(month: ir.IntegerValue) -> ir.StringValue:
    """'YYYY-MM' of a month_number, by arithmetic (a lookup written as CASEs would repeat the
    expression of `month` in every branch)."""
    number = (month % 12 + 1).cast("string")
    year = ((month - month % 12).cast("float64") / 12).cast("int64")  # exact: a multiple of 12
    return year.cast("string") + "-" + ibis.ifelse(month % 12 < 9, "0" + number, number)
