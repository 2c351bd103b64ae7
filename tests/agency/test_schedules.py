"""When a scheduled job is due: cron in its own time zone, across DST, after missed nights."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clientela.agency.schedules import Schedule, parse_schedules, plan
from clientela.config import ConfigError

NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def nightly(cron: str = "0 3 * * *", timezone: str = NEW_YORK) -> Schedule:
    return Schedule(workspace="acme", job="sync", args=["shopify"], cron=cron, timezone=timezone)


def test_never_run_is_due_at_once() -> None:
    assert nightly().due_since(None, utc(2026, 3, 1, 12)) == utc(2026, 3, 1, 12)


def test_spring_forward_03_00_local_is_07_00_utc_not_08_00() -> None:
    # 2026-03-07 03:00 EST = 08:00 UTC; the clocks jump on 2026-03-08, so 03:00 EDT = 07:00 UTC
    last_ok = utc(2026, 3, 7, 8, 0, 40)
    schedule = nightly()
    assert schedule.due_since(last_ok, utc(2026, 3, 8, 6, 59)) is None
    assert schedule.due_since(last_ok, utc(2026, 3, 8, 7, 0)) == utc(2026, 3, 8, 7, 0)
    # 24 hours after the last run would have been 08:00 UTC: already due at 07:30
    assert schedule.due_since(last_ok, utc(2026, 3, 8, 7, 30)) == utc(2026, 3, 8, 7, 0)


def test_a_time_that_does_not_exist_that_night_runs_right_after_the_jump() -> None:
    # 02:30 does not exist in New York on 2026-03-08 (02:00 -> 03:00): it runs at 03:00 EDT
    schedule = nightly("30 2 * * *")
    last_ok = utc(2026, 3, 7, 7, 30, 5)  # 02:30 EST
    assert schedule.next_after(last_ok) == utc(2026, 3, 8, 7, 0)
    assert schedule.next_after(utc(2026, 3, 8, 7, 0, 10)) == utc(2026, 3, 9, 6, 30)


def test_fall_back_03_00_local_moves_from_07_00_to_08_00_utc() -> None:
    last_ok = utc(2026, 10, 31, 7, 0, 12)  # 03:00 EDT
    schedule = nightly()
    assert schedule.due_since(last_ok, utc(2026, 11, 1, 7, 30)) is None
    assert schedule.due_since(last_ok, utc(2026, 11, 1, 8, 0)) == utc(2026, 11, 1, 8, 0)


def test_a_time_that_happens_twice_runs_once() -> None:
    # 01:30 happens twice on 2026-11-01 in New York (EDT then EST)
    schedule = nightly("30 1 * * *")
    first = schedule.next_after(utc(2026, 10, 31, 12))
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert schedule.next_after(first) == utc(2026, 11, 2, 6, 30)  # next night, 01:30 EST


def test_missed_nights_run_once_for_the_latest_slot() -> None:
    schedule = nightly("0 3 * * *", "America/Sao_Paulo")  # UTC-3 all year
    last_ok = utc(2026, 6, 1, 6, 0, 30)  # 03:00 local, 1 June
    now = utc(2026, 6, 4, 15, 0)  # the machine was off on the 2nd, 3rd and 4th
    assert schedule.due_since(last_ok, now) == utc(2026, 6, 4, 6, 0)
    # after the catch-up run succeeds at `now`, nothing is due until 5 June 03:00 local
    assert schedule.due_since(now, utc(2026, 6, 5, 5, 59)) is None
    assert schedule.due_since(now, utc(2026, 6, 5, 6, 0)) == utc(2026, 6, 5, 6, 0)


def test_the_label_is_the_command_line_unless_named() -> None:
    assert nightly().label == "sync shopify"
    named = Schedule(workspace="all", job="push", cron="0 * * * *", timezone="UTC", name="hourly")
    assert named.label == "hourly"


JOBS = {"sync", "push", "segments", "run", "serve"}


def test_schedules_name_the_field_that_is_wrong() -> None:
    raw = [
        {"workspace": "acme", "job": "sync", "cron": "0 3 * *", "timezone": "UTC"},
        {"workspace": "acme", "job": "journeys", "cron": "0 3 * * *", "timezone": "UTC"},
        {"workspace": "zulu", "job": "sync", "cron": "0 3 * * *", "timezone": "UTC"},
        {"workspace": "acme", "job": "sync", "cron": "0 3 * * *"},
        {"workspace": "acme", "job": "sync", "cron": "0 3 * * *", "timezone": "Mars/Olympus"},
        {"workspace": "acme", "job": "run", "cron": "0 3 * * *", "timezone": "UTC"},
    ]
    with pytest.raises(ConfigError) as caught:
        parse_schedules(raw, origin="agency.toml", workspaces={"acme"}, jobs=JOBS)
    lines = str(caught.value).splitlines()
    # lines 0, 3 and 4 come from pydantic through the config's error formatter
    assert lines[0].startswith("agency.toml: schedules[0]") and "cron" in lines[0]
    assert "expected a cron expression" in lines[0]
    assert lines[1] == ("agency.toml: schedules[1].job: 'journeys' is not an installed command "
                        "that can be scheduled; expected one of push, segments, sync")
    assert lines[2].startswith("agency.toml: schedules[2].workspace: 'zulu' is not a")
    assert lines[3].startswith("agency.toml: schedules[3]") and "timezone" in lines[3]
    assert "required" in lines[3].lower()
    assert lines[4].startswith("agency.toml: schedules[4]") and "timezone" in lines[4]
    assert "expected an IANA time zone" in lines[4]
    assert lines[5].startswith("agency.toml: schedules[5].job: 'run' is not an installed")
    assert len(lines) == 6


def test_all_applies_a_schedule_to_every_workspace() -> None:
    every = Schedule(workspace="all", job="sync", cron="0 3 * * *", timezone="UTC")
    one = Schedule(workspace="b", job="push", cron="0 4 * * *", timezone="UTC")
    planned = plan([every, one], ["a", "b", "c"])
    assert [(p.workspace, p.schedule.job) for p in planned] == [
        ("a", "sync"), ("b", "sync"), ("b", "push"), ("c", "sync")]
