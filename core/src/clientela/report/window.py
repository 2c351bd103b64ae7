"""Which months a report covers.

A report is read month by month, so its window is always whole local
months: by default the 13 months ending with the month of the store's
latest order (a year and the month that closes it, so the first and last
columns are the same month a year apart), or what the caller names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clientela.kpi.periods import from_utc, parse_bound, zone

DEFAULT_MONTHS = 13


class ReportWindowError(ValueError):
    """A period the report cannot cover (bad bound, empty range, no orders)."""


def add_months(month: datetime, count: int) -> datetime:
    index = month.year * 12 + month.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1)


def month_label(month: datetime) -> str:
    return f"{month.year:04d}-{month.month:02d}"


@dataclass(frozen=True)
class Window:
    """[start, end) in local wall time, both the first instant of a month."""

    start: datetime
    end: datetime

    @property
    def months(self) -> list[datetime]:
        found, month = [], self.start
        while month < self.end:
            found.append(month)
            month = add_months(month, 1)
        return found

    @property
    def labels(self) -> list[str]:
        return [month_label(m) for m in self.months]

    def widened(self, months_before: int) -> Window:
        """The same end, starting `months_before` months earlier (for year-ago values)."""
        return Window(add_months(self.start, -months_before), self.end)


def latest_order_month(backend: Any, timezone: str) -> datetime:
    """The local month of the newest order (an Ibis aggregate, so any engine answers it)."""
    if "orders" not in backend.list_tables():
        raise ReportWindowError("the store has no orders table: import orders or run "
                                "`clientela demo` first")
    latest = backend.table("orders").placed_at.max().execute()
    if latest is None or latest != latest:  # None or NaT: no order at all
        raise ReportWindowError("the store holds no orders yet: import orders or run "
                                "`clientela demo` first")
    local = from_utc(latest.to_pydatetime() if hasattr(latest, "to_pydatetime") else latest,
                     zone(timezone))
    return datetime(local.year, local.month, 1)


def _month_bound(flag: str, text: str) -> datetime:
    try:
        moment = parse_bound(text)
    except ValueError as error:
        raise ReportWindowError(f"{flag}: {error}") from None
    if (moment.day, moment.hour, moment.minute, moment.second) != (1, 0, 0, 0):
        raise ReportWindowError(f"{flag} {text!r}: the report covers whole months; expected "
                                "YYYY-MM (or YYYY, YYYY-Qn)")
    return moment


def resolve_window(backend: Any, timezone: str, start: str | None = None,
                   end: str | None = None, months: int = DEFAULT_MONTHS) -> Window:
    """`start` and `end` half-open, as `clientela kpi` and the Python API read them (`--to
    2026-01` stops at the end of December 2025); a missing `end` is the month after the
    latest order's, a missing `start` `months` months before `end`."""
    last = (_month_bound("--to", end) if end is not None
            else add_months(latest_order_month(backend, timezone), 1))
    first = (_month_bound("--from", start) if start is not None
             else add_months(last, -months))
    if first >= last:
        raise ReportWindowError(f"--to {month_label(last)} must come after --from "
                                f"{month_label(first)} (--to is not included: --from 2025-01 "
                                "--to 2026-01 is the year 2025)")
    return Window(first, last)


def parse_compare(text: str) -> tuple[Window, Window]:
    """`2025-01:2025-04,2025-04:2025-07` -> two windows, each half-open like `--to` and
    `clientela kpi --compare` (so 2025-01:2025-04 is the first quarter)."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or any(part.count(":") != 1 for part in parts):
        raise ReportWindowError(f"--compare {text!r}: expected BEFORE_FROM:BEFORE_TO,"
                                "AFTER_FROM:AFTER_TO such as 2025-01:2025-04,2025-04:2025-07")
    windows = []
    for part in parts:
        lo, hi = (side.strip() for side in part.split(":"))
        first = _month_bound("--compare", lo)
        last = _month_bound("--compare", hi)
        if first >= last:
            raise ReportWindowError(f"--compare {part!r}: the end must come after the start "
                                    "(the end is not included: 2025-01:2025-04 is January "
                                    "to March)")
        windows.append(Window(first, last))
    return windows[0], windows[1]
