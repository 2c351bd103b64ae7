"""Periods and calendar grains, cut in the workspace's time zone.

Bucket boundaries are computed here in Python with zoneinfo and handed to
metrics as naive UTC instants (the store's convention), so no metric and no
engine ever needs to know about time zones: a month in America/Sao_Paulo
is just the half-open UTC interval between two local midnights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clientela.kpi.errors import KpiError

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
Bound = date | datetime | str

_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) in local wall time, with its UTC instants."""

    start: datetime
    """Local wall time (naive) in the workspace time zone."""
    end: datetime
    start_utc: datetime
    """Naive UTC: what metrics compare stored timestamps against."""
    end_utc: datetime
    label: str

    @property
    def length(self) -> timedelta:
        return self.end_utc - self.start_utc


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise KpiError(f"unknown time zone {name!r}; expected an IANA name such as "
                       "'America/Sao_Paulo'") from None


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A local wall time (naive, or aware in any zone) as a naive UTC instant."""
    aware = local.replace(tzinfo=tz) if local.tzinfo is None else local
    return aware.astimezone(UTC).replace(tzinfo=None)


def from_utc(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def parse_bound(value: Bound, *, inclusive: bool = False) -> datetime:
    """Read a bound as local wall time.

    Strings may be 'YYYY', 'YYYY-MM', 'YYYY-Qn', 'YYYY-MM-DD' or an ISO
    date-time. With `inclusive`, a string naming a whole year, quarter,
    month or day means the end of it (the CLI's `--to 2025-12` covers
    December); otherwise it means its start.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) + (
            timedelta(days=1) if inclusive else timedelta())
    text = value.strip()
    try:
        if _YEAR.match(text):
            year = int(text)
            return datetime(year + 1 if inclusive else year, 1, 1)
        if _MONTH.match(text):
            first = datetime.strptime(text, "%Y-%m")
            return _add_months(first, 1) if inclusive else first
        quarter = _QUARTER.match(text)
        if quarter:
            first = datetime(int(quarter[1]), 3 * int(quarter[2]) - 2, 1)
            return _add_months(first, 3) if inclusive else first
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d")
            return day + timedelta(days=1) if inclusive else day
        return datetime.fromisoformat(text)
    except ValueError:
        raise KpiError(f"cannot read {value!r} as a date: expected YYYY, YYYY-MM, YYYY-Qn, "
                       "YYYY-MM-DD or an ISO date-time") from None


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1)


def _floor(moment: datetime, grain: str) -> datetime:
    day = datetime(moment.year, moment.month, moment.day)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return day.replace(month=1, day=1)


def _next(moment: datetime, grain: str) -> datetime:
    if grain == "day":
        return moment + timedelta(days=1)
    if grain == "week":
        return moment + timedelta(days=7)
    return _add_months(moment, {"month": 1, "quarter": 3, "year": 12}[grain])


def _label(start: datetime, end: datetime, grain: str | None) -> str:
    if grain == "day":
        return f"{start:%Y-%m-%d}"
    if grain == "week":
        iso = start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if grain == "month":
        return f"{start:%Y-%m}"
    if grain == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if grain == "year":
        return f"{start.year}"
    last = end - timedelta(microseconds=1)
    return f"{start:%Y-%m-%d}..{last:%Y-%m-%d}"


def make_period(start: datetime, end: datetime, tz: ZoneInfo, grain: str | None = None) -> Period:
    start = from_utc(to_utc(start, tz), tz) if start.tzinfo else start
    end = from_utc(to_utc(end, tz), tz) if end.tzinfo else end
    if end <= start:
        raise KpiError(f"the period is empty: end {end:%Y-%m-%d %H:%M} is not after start "
                       f"{start:%Y-%m-%d %H:%M}")
    return Period(start, end, to_utc(start, tz), to_utc(end, tz), _label(start, end, grain))


def buckets(start: datetime, end: datetime, grain: str | None, tz: ZoneInfo) -> list[Period]:
    """Cut [start, end) into calendar buckets; the first and last are clipped to the range."""
    whole = make_period(start, end, tz)
    if grain is None:
        return [whole]
    if grain not in GRAINS:
        raise KpiError(f"unknown grain {grain!r}; expected one of: {', '.join(GRAINS)}")
    found: list[Period] = []
    cursor = _floor(whole.start, grain)
    while cursor < whole.end:
        following = _next(cursor, grain)
        lo, hi = max(cursor, whole.start), min(following, whole.end)
        label = _label(cursor, following, grain)
        found.append(Period(lo, hi, to_utc(lo, tz), to_utc(hi, tz), label))
        cursor = following
    return found


def previous(period: Period, tz: ZoneInfo) -> Period:
    """The period just before, of the same length: calendar-aware for whole months, quarters
    and years (March's predecessor is February), otherwise the same number of days."""
    start, end = period.start, period.end
    months = (end.year - start.year) * 12 + end.month - start.month
    if start.day == 1 and end.day == 1 and start.time() == end.time() == datetime.min.time() \
            and months > 0:
        prior = _add_months(start, -months)
    else:
        prior = start - (end - start)
    return make_period(prior, start, tz)
