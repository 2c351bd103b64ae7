"""The demo store's calendar: its window, its seasons and its clock.

Retail demand is not flat, and a demo whose daily orders are flat would let
every seasonal metric pass by accident. Purchases are therefore generated in
*operational time*: a clock that runs faster on busy days. A customer's
purchases are a homogeneous process on that clock (so the buy-till-you-die
truth stays exact there) and land on the calendar through the inverse of the
cumulative seasonal intensity, which is how Black Friday, Christmas and
Mother's Day show up without a loop per order.

The store lives in Sao Paulo time. Brazil has had no daylight saving since
2019, so local time is UTC-3 all year and the conversion is a constant shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_END = date(2025, 12, 31)
"""A fixed last day, so a seed gives the same store whatever today's date is."""

UTC_OFFSET_HOURS = -3
SECONDS_PER_DAY = 86_400
_UNIX_EPOCH = date(1970, 1, 1)


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = 1 + (3 - first.weekday()) % 7
    return date(year, 11, first_thursday + 21 + 1)


def _second_sunday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return date(year, month, 1 + (6 - first.weekday()) % 7 + 7)


def mothers_day(year: int) -> date:
    """Brazil's Dia das Maes: the second Sunday of May."""
    return _second_sunday(year, 5)


def fathers_day(year: int) -> date:
    """Brazil's Dia dos Pais: the second Sunday of August."""
    return _second_sunday(year, 8)


def black_friday_week(year: int) -> tuple[date, date]:
    """The seven days the promotions run: Monday before Black Friday to the Sunday after."""
    friday = black_friday(year)
    return friday - timedelta(days=4), friday + timedelta(days=2)


@dataclass(frozen=True)
class Window:
    """The local days the store has been trading, inclusive at both ends."""

    start: date
    end: date

    @classmethod
    def ending(cls, end: date, years: int) -> Window:
        try:
            anniversary = end.replace(year=end.year - years)
        except ValueError:  # 29 February
            anniversary = end.replace(year=end.year - years, day=28)
        return cls(start=anniversary + timedelta(days=1), end=end)

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_epoch_s(self) -> int:
        """The window's first local midnight, in UTC seconds since the Unix epoch."""
        return (self.start - _UNIX_EPOCH).days * SECONDS_PER_DAY - UTC_OFFSET_HOURS * 3600

    @property
    def end_s(self) -> int:
        """Window length in seconds: every local-seconds time is below it."""
        return self.n_days * SECONDS_PER_DAY

    def day_index(self, day: date) -> int:
        return (day - self.start).days

    def dates(self) -> NDArray[np.datetime64]:
        return np.arange(
            np.datetime64(self.start, "D"), np.datetime64(self.end + timedelta(days=1), "D")
        )

    def utc_us(self, local_s: IntArray) -> IntArray:
        """Local seconds since the window's start to naive-UTC microseconds (the store's clock)."""
        return (np.asarray(local_s, dtype=np.int64) + self.start_epoch_s) * 1_000_000

    def epoch_days(self, day_index: IntArray) -> IntArray:
        return np.asarray(day_index, dtype=np.int64) + (self.start - _UNIX_EPOCH).days


_WEEKDAY = np.array([0.95, 0.95, 1.0, 1.0, 1.05, 1.15, 0.9])  # Monday first
_MONTH = np.array([0.85, 0.85, 0.95, 0.95, 1.05, 1.0, 0.95, 1.0, 0.95, 1.0, 1.05, 1.2])


@dataclass(frozen=True)
class Seasonality:
    """Daily purchase intensity over the window, normalised to a mean of 1.

    The multipliers are kept so `truth` can say what was put in.
    """

    window: Window
    intensity: FloatArray
    multipliers: dict[str, float] = field(default_factory=dict)

    @classmethod
    def retail(cls, window: Window) -> Seasonality:
        days = window.dates()
        n = len(days)
        weekday = (days.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was Thu
        month = days.astype("datetime64[M]").astype(np.int64) % 12
        s = _WEEKDAY[weekday] * _MONTH[month]
        events = {
            "black_friday_week": 2.3,
            "black_friday": 4.5,
            "cyber_monday": 2.6,
            "christmas_run_up_peak": 2.2,
            "christmas_day": 0.3,
            "mothers_day_run_up": 1.8,
            "valentines_run_up": 1.3,
            "fathers_day_run_up": 1.3,
        }
        boost = np.ones(n)

        def span(first: date, last: date, factor: float | FloatArray) -> None:
            lo = max(window.day_index(first), 0)
            hi = min(window.day_index(last) + 1, n)
            if lo < hi:
                if isinstance(factor, np.ndarray):
                    offset = lo - window.day_index(first)
                    boost[lo:hi] = factor[offset : offset + hi - lo]
                else:
                    boost[lo:hi] = factor

        for year in range(window.start.year, window.end.year + 1):
            monday, sunday = black_friday_week(year)
            friday = black_friday(year)
            span(monday, sunday, events["black_friday_week"])
            span(friday, friday, events["black_friday"])
            span(friday + timedelta(days=3), friday + timedelta(days=3), events["cyber_monday"])
            ramp = np.linspace(1.3, events["christmas_run_up_peak"], 14)
            span(date(year, 12, 10), date(year, 12, 23), ramp)
            span(date(year, 12, 24), date(year, 12, 24), 1.6)
            span(date(year, 12, 25), date(year, 12, 25), events["christmas_day"])
            mom = mothers_day(year)
            span(mom - timedelta(days=10), mom - timedelta(days=1), events["mothers_day_run_up"])
            span(mom, mom, 0.8)
            span(date(year, 6, 5), date(year, 6, 11), events["valentines_run_up"])
            dad = fathers_day(year)
            span(dad - timedelta(days=7), dad - timedelta(days=1), events["fathers_day_run_up"])
            span(date(year, 1, 1), date(year, 1, 1), 0.4)
        s = s * boost
        return cls(window=window, intensity=s / s.mean(), multipliers=events)


@dataclass(frozen=True)
class TimeWarp:
    """Calendar days <-> operational days; both are floats counted from the window's start."""

    cumulative: FloatArray

    @classmethod
    def of(cls, seasonality: Seasonality) -> TimeWarp:
        return cls(np.concatenate([[0.0], np.cumsum(seasonality.intensity)]))

    @property
    def _knots(self) -> FloatArray:
        return np.arange(len(self.cumulative), dtype=np.float64)

    def to_operational(self, calendar_days: FloatArray) -> FloatArray:
        return np.interp(calendar_days, self._knots, self.cumulative)

    def to_calendar(self, operational_days: FloatArray) -> FloatArray:
        return np.interp(operational_days, self.cumulative, self._knots)

    @property
    def total(self) -> float:
        return float(self.cumulative[-1])


def sample_days(rng: np.random.Generator, weights: FloatArray, n: int) -> FloatArray:
    """Continuous calendar days drawn with a daily density proportional to `weights`."""
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, np.arange(len(cdf), dtype=np.float64))


# Share of a channel's orders in each local hour 0..23.
_HOURS: dict[str, list[float]] = {
    "online": [2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 6, 7, 8, 9, 8, 4],
    "app": [2, 1, 0.5, 0.3, 0.3, 0.5, 1.5, 3, 4, 4, 4, 5, 6, 5, 4, 4, 4, 5, 6, 7, 9, 10, 9, 4],
    "store": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 7, 7, 7, 8, 9, 10, 10, 9, 8, 6, 0, 0],
    "whatsapp": [0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 7, 6, 5, 6, 7, 7, 7, 6, 5, 4, 2, 0, 0],
    "marketplace": [3, 2, 1, 0.5, 0.5, 1, 1.5, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8, 7, 5],
}


def seconds_of_day(
    rng: np.random.Generator, channel: NDArray[np.int8], channels: tuple[str, ...]
) -> IntArray:
    """A local time of day per order, shaped by its channel (shops open 10h-22h)."""
    out = np.empty(len(channel), dtype=np.int64)
    for code, name in enumerate(channels):
        chosen = np.flatnonzero(channel == code)
        if len(chosen) == 0:
            continue
        cdf = np.cumsum(np.asarray(_HOURS[name], dtype=np.float64))
        cdf /= cdf[-1]
        hours = np.searchsorted(cdf, rng.random(len(chosen)), side="right")
        out[chosen] = hours * 3600 + rng.integers(0, 3600, len(chosen))
    return out
