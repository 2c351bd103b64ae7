"""Quiet hours: when a message may reach a person, in the person's own clock.

The window (default 09:00 to 21:00) is cut in the recipient's time zone when
the store knows it, else in the workspace's, with `zoneinfo`, so it follows
daylight-saving changes: 09:00 in New York is 13:00 UTC in summer and 14:00
in winter, and the day São Paulo moved its clocks (as it did until 2019)
is handled the same way. A moment inside the window is sent as it is; one
outside waits for the next opening (or, for marketing, may be dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class QuietHours:
    start: time = time(9, 0)
    """First minute a message may be sent, local time."""
    end: time = time(21, 0)
    """First minute it may not, local time."""

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("quiet hours: the window's start must be before its end "
                             "(e.g. 09:00 to 21:00)")

    def allows(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone).time()
        return self.start <= local < self.end

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first moment at or after `moment` (aware) inside the window, in UTC."""
        moment = moment.astimezone(UTC)
        if self.allows(moment, zone):
            return moment
        local_day = moment.astimezone(zone).date()
        for offset in (0, 1, 2):
            day = local_day + timedelta(days=offset)
            opening = _local(day, self.start, zone)
            if opening >= moment and self.allows(opening, zone):
                return opening
        raise AssertionError("a window opening is always found within two days")


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at `at` in `zone`, in UTC. A wall time skipped by a DST jump (00:30 on the night
    São Paulo went from 00:00 to 01:00) lands as far past the gap as it was into it (01:30):
    that is what `zoneinfo` does with fold=0 (PEP 495)."""
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def zone_of(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """A customer's zone by IANA name, or the workspace's when unknown or misspelt."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default
