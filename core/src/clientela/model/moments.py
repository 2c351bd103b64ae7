"""Reading dates and moments the way files write them, without guessing wrong.

`19970101` is a date (CDNOW's native format), never 19,970,101 seconds after
1970: an integer is read as a timestamp only when the caller says in which
unit (`timestamp_unit`). A `date_format` such as `DD/MM/YYYY` reads Brazilian
exports. Every moment must fall between `not_before` (1900-01-01 by default)
and `max_future_days` (1) after now: a year-0001 or year-9999 order is a
typo that would otherwise stretch every model over two millennia.

All options travel in the validation context, so every source (files, store
platforms, webhooks) reads values the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationInfo

DEFAULT_NOT_BEFORE = datetime(1900, 1, 1, tzinfo=UTC)
DEFAULT_MAX_FUTURE_DAYS = 1.0
TIMESTAMP_UNITS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
BOUNDS_KEY = "_time_bounds"
"""Where `time_bounds` caches its answer inside a validation context (one per batch)."""

_ISO_START = re.compile(r"^\d{4}-\d")
_DATE_TOKENS = (("YYYY", "%Y"), ("YY", "%y"), ("MM", "%m"), ("DD", "%d"))
_TIME_TOKENS = (("HH", "%H"), ("MM", "%M"), ("SS", "%S"))


def strptime_pattern(human: str) -> str:
    """'DD/MM/YYYY' (or 'dd/mm/yyyy HH:MM') to a strptime pattern; '%d/%m/%Y' stays itself."""
    if "%" in human:
        return human
    day_part, _, time_part = human.partition(" ")
    out = day_part.upper()
    for token, code in _DATE_TOKENS:
        out = out.replace(token, code)
    if time_part:
        clock = time_part.upper()
        for token, code in _TIME_TOKENS:
            clock = clock.replace(token, code)
        out += " " + clock
    return out


def check_date_format(human: str) -> str:
    """The strptime pattern for a user's `--date-format`, or ValueError saying what is wrong."""
    pattern = strptime_pattern(human)
    if not any(code in pattern for code in ("%d", "%m", "%Y", "%y")):
        raise ValueError(f"--date-format {human!r}: expected a pattern such as DD/MM/YYYY "
                         "or %d/%m/%Y")
    try:
        datetime(2024, 12, 31, 23, 59, 58).strftime(pattern)
    except ValueError as error:
        raise ValueError(f"--date-format {human!r}: {error}") from None
    return pattern


def time_bounds(context: Mapping[str, Any] | None) -> tuple[datetime, datetime]:
    """(earliest, latest) aware UTC moments a record may carry."""
    ctx = context or {}
    cached = ctx.get(BOUNDS_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    return compute_time_bounds(ctx)


def compute_time_bounds(ctx: Mapping[str, Any]) -> tuple[datetime, datetime]:
    earliest = ctx.get("not_before") or DEFAULT_NOT_BEFORE
    if isinstance(earliest, str):
        earliest = datetime.fromisoformat(earliest)
    if not isinstance(earliest, datetime):
        earliest = datetime(earliest.year, earliest.month, earliest.day)
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=UTC)
    days = ctx.get("max_future_days")
    ahead = timedelta(days=DEFAULT_MAX_FUTURE_DAYS if days is None else float(days))
    return earliest, datetime.now(UTC) + ahead


def _from_timestamp(number: float | int, unit: str) -> datetime:
    try:
        return datetime.fromtimestamp(number / TIMESTAMP_UNITS[unit], UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {number} ({unit}) is out of range") from None


def _compact(text: str) -> datetime | None:
    """'19970101' and '19970101103000' are dates (a time), not seconds since 1970."""
    try:
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d")
        if len(text) == 14:
            return datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(f"{text!r} is not a valid YYYYMMDD date") from None
    return None


def _with_format(text: str, pattern: str) -> datetime | None:
    for candidate in (pattern, pattern + " %H:%M:%S", pattern + " %H:%M"):
        try:
            return datetime.strptime(text, candidate)
        except ValueError:
            continue
    return None


def _numeric(value: Any, ctx: Mapping[str, Any]) -> datetime:
    unit = ctx.get("timestamp_unit")
    if unit is None:
        raise ValueError(f"{value!r} is a number, not a date: for Unix timestamps add "
                         "--timestamp-unit s|ms|us; dates are YYYY-MM-DD or YYYYMMDD")
    return _from_timestamp(value, unit)


def parse_moment(value: Any, info: ValidationInfo) -> Any:
    """Before pydantic parses a moment: compact dates, integer timestamps, date formats."""
    if isinstance(value, datetime | bool):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    ctx = info.context or {}
    if isinstance(value, int | float):
        return _numeric(value, ctx)
    if not isinstance(value, str):
        return value
    text = value.strip()
    digits = text[1:] if text[:1] == "-" else text
    if digits.isdigit():
        found = _compact(text)
        return found if found is not None else _numeric(int(text), ctx)
    pattern = ctx.get("date_format")
    if pattern and not _ISO_START.match(text):
        parsed = _with_format(text, pattern)
        if parsed is None:
            raise ValueError(f"expected a date as {ctx.get('date_format_label', pattern)}")
        return parsed
    return text


def parse_day(value: Any, info: ValidationInfo) -> Any:
    """Before pydantic parses a calendar day: compact dates and the date format."""
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) == 8:
            compact = _compact(text)
            return compact.date() if compact else text
        pattern = (info.context or {}).get("date_format")
        if pattern and not _ISO_START.match(text):
            parsed = _with_format(text, pattern)
            if parsed is None:
                raise ValueError(
                    f"expected a date as {(info.context or {}).get('date_format_label', pattern)}")
            return parsed.date()
    if isinstance(value, datetime):
        return value.date()
    return value
