"""Quiet hours in the recipient's clock, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from clientela.journeys.quiet import QuietHours, zone_of

SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")
QUIET = QuietHours()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "opening"), [
    # 2018-11-04: São Paulo moved from -03 to -02 at local midnight. A message due at 22:00
    # local on the 3rd (01:00 UTC on the 4th) waits for 09:00 -02 = 11:00 UTC, not 12:00.
    (utc(2018, 11, 4, 1, 0), utc(2018, 11, 4, 11, 0)),
    # 2019-02-17: back from -02 to -03 at midnight (23:00 was repeated). 22:30 -02 on the 16th
    # (00:30 UTC on the 17th) waits for 09:00 -03 = 12:00 UTC.
    (utc(2019, 2, 17, 0, 30), utc(2019, 2, 17, 12, 0)),
    # no DST since 2019: 09:00 is always 12:00 UTC
    (utc(2026, 12, 10, 3, 0), utc(2026, 12, 10, 12, 0)),
    # inside the window: sent as it is
    (utc(2026, 12, 10, 15, 0), utc(2026, 12, 10, 15, 0)),
    # 21:00 local is already quiet (the end is excluded): next day at 09:00
    (utc(2026, 12, 11, 0, 0), utc(2026, 12, 11, 12, 0)),
])
def test_sao_paulo(moment: datetime, opening: datetime) -> None:
    assert QUIET.next_opening(moment, SP) == opening


@pytest.mark.parametrize(("moment", "opening"), [
    # 2026-03-08: New York springs forward at 02:00 (EST -05 -> EDT -04). 23:00 EST on the 7th
    # (04:00 UTC on the 8th) waits for 09:00 EDT = 13:00 UTC; the day before, 09:00 EST = 14:00.
    (utc(2026, 3, 8, 4, 0), utc(2026, 3, 8, 13, 0)),
    (utc(2026, 3, 7, 4, 0), utc(2026, 3, 7, 14, 0)),
    # 2026-11-01: falls back at 02:00. 06:00 local EST on the 1st (11:00 UTC) waits for
    # 09:00 EST = 14:00 UTC.
    (utc(2026, 11, 1, 11, 0), utc(2026, 11, 1, 14, 0)),
    # 20:59 EDT on 2026-10-31 is inside the window (00:59 UTC on 11-01)
    (utc(2026, 11, 1, 0, 59), utc(2026, 11, 1, 0, 59)),
])
def test_new_york(moment: datetime, opening: datetime) -> None:
    assert QUIET.next_opening(moment, NY) == opening


def test_a_window_opening_inside_a_dst_gap_lands_past_it() -> None:
    # São Paulo skipped 00:00-01:00 on 2018-11-04; a window opening at 00:30 becomes 01:30 -02
    early = QuietHours(time(0, 30), time(6, 0))
    assert early.next_opening(utc(2018, 11, 3, 12, 0), SP) == utc(2018, 11, 4, 3, 30)


def test_unknown_zone_falls_back_to_the_workspace() -> None:
    assert zone_of("Mars/Olympus", SP) is SP
    assert zone_of(None, SP) is SP
    assert zone_of("America/New_York", SP) == NY


def test_window_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="start must be before its end"):
        QuietHours(time(21), time(9))
