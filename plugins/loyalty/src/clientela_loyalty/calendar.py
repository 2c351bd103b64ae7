"""Months in the workspace's time zone: when a lot expires, when a tier is reviewed.

"Twelve months after" is a wall-clock rule: points earned at 10:00 on 31
August in São Paulo expire at 10:00 on the last day of the month twelve
months on (31 August, or 28 February for a lot of 31 August + 6 months),
whatever daylight-saving time did in between. So instants go to local time,
move by calendar months (the day is clamped to the month's end), and come
back to UTC. A local time that does not exist (the hour skipped when clocks
go forward) moves forward to the first one that does; one that happens twice
(clocks go back) is the first of the two.

Instants are int64 microseconds since the epoch, UTC, as the ledger keeps them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Micros = NDArray[np.int64]
US_PER_DAY = 86_400_000_000


def _local(instants: Micros, timezone: str) -> pd.DatetimeIndex:
    utc = pd.to_datetime(np.asarray(instants, dtype=np.int64), unit="us", utc=True)
    return pd.DatetimeIndex(utc).tz_convert(timezone).tz_localize(None)


def _to_utc(local: pd.DatetimeIndex, timezone: str) -> Micros:
    first = np.ones(len(local), dtype=bool)
    aware = local.tz_localize(timezone, nonexistent="shift_forward", ambiguous=first)
    return np.asarray(aware.tz_convert("UTC").tz_localize(None).as_unit("us").asi8,
                      dtype=np.int64)


def add_months(instants: Micros, months: int, timezone: str, *,
               month_end: bool = False) -> Micros:
    """Each instant moved `months` calendar months in local time; with `month_end`, to the
    end of that local month (the first instant of the next one)."""
    if len(instants) == 0:
        return np.zeros(0, dtype=np.int64)
    local = _local(instants, timezone) + pd.DateOffset(months=months)
    if month_end:
        local = local.to_period("M").to_timestamp() + pd.DateOffset(months=1)
    return _to_utc(pd.DatetimeIndex(local), timezone)


def review_instants(start_us: int, end_us: int, every_months: int, timezone: str) -> Micros:
    """Tier reviews in (start, end]: the first local instant of January 1st and of every
    `every_months` months after it, as UTC micros."""
    first = _local(np.array([start_us]), timezone)[0]
    last = _local(np.array([end_us]), timezone)[0]
    months = pd.date_range(datetime(first.year, 1, 1), last, freq="MS")
    months = months[(months.month - 1) % every_months == 0]
    found = _to_utc(pd.DatetimeIndex(months), timezone)
    return found[(found > start_us) & (found <= end_us)]


def to_micros(moment: datetime) -> int:
    """An aware datetime (or a naive one taken as UTC) as epoch microseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC).replace(
        microsecond=int(value % 1_000_000))


def expiry_instants(instants: Micros, months: int, days: int | None, timezone: str, *,
                    month_end: bool = False) -> Micros:
    """When points earned (or last bought) at `instants` expire: `days` whole days later when
    set, else `months` calendar months (see add_months)."""
    if days is not None:
        later = np.asarray(instants, dtype=np.int64) + days * US_PER_DAY
        if not month_end:
            return later
        return add_months(later, 0, timezone, month_end=True)
    return add_months(instants, months, timezone, month_end=month_end)
