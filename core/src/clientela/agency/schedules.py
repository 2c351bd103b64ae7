"""`[[schedules]]`: which job runs for which workspace, and when it is due.

A schedule's cron expression is read in its own, explicit time zone by
`cronsim` (which follows cron's rules across daylight-saving changes: a time
that does not exist that night runs at the first minute after the jump, a
time that happens twice runs once). A job is due when one of its cron times
has passed since the last run that succeeded: a failed or interrupted run
does not count, so it is retried by the next `clientela run --due`, and a
machine that was off for three nights runs the job once, not three times.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clientela.config import ConfigError, check_timezone, describe_validation_error

ALL = "all"
NOT_SCHEDULABLE = frozenset({"run", "workspaces", "serve", "init"})
"""Commands that never end, or that manage the agency itself."""


class Schedule(BaseModel):
    """One `[[schedules]]` entry."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = Field(description="A workspace name, or \"all\".")
    job: str = Field(description="The command to run: sync, segments, push, report, ...")
    args: list[str] = Field(default_factory=list, description="Its arguments, e.g. [\"shopify\"].")
    cron: str = Field(description="Five-field cron expression, e.g. \"0 3 * * *\".")
    timezone: str = Field(description="IANA time zone the cron expression is read in.")
    name: str | None = Field(default=None, description="How the run history names it.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronSim(value, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as error:
            raise ValueError(f"expected a cron expression such as \"0 3 * * *\" ({error})") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @property
    def label(self) -> str:
        """The name in the run history: `name`, or the command line (`sync shopify`)."""
        return self.name or " ".join([self.job, *self.args])

    def next_after(self, moment: datetime) -> datetime:
        """The first cron time strictly after `moment` (an aware datetime), in UTC."""
        local = moment.astimezone(ZoneInfo(self.timezone)).replace(second=0, microsecond=0)
        return next(CronSim(self.cron, local)).astimezone(UTC)

    def due_since(self, last_ok: datetime | None, now: datetime) -> datetime | None:
        """The latest cron time in (last_ok, now] if there is one: the run is due for it.

        With no successful run yet the job is due at once.
        """
        if last_ok is None:
            return now
        slot = self.next_after(last_ok)
        if slot > now:
            return None
        latest = slot
        while (following := self.next_after(latest)) <= now:
            latest = following
        return latest


@dataclass(frozen=True)
class Planned:
    """A schedule applied to one workspace."""

    workspace: str
    schedule: Schedule


def parse_schedules(raw: Any, *, origin: str, workspaces: Collection[str],
                    jobs: Collection[str]) -> list[Schedule]:
    """Validate `[[schedules]]`: every problem named by its field, all reported at once.

    `jobs` are the commands this installation has: a job whose command is not
    installed (a plugin missing on this machine) is refused here, not at 3 a.m.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: schedules: expected [[schedules]] entries")
    schedules: list[Schedule] = []
    problems: list[str] = []
    allowed = sorted(set(jobs) - NOT_SCHEDULABLE)
    for index, entry in enumerate(raw):
        where = f"{origin}: schedules[{index}]"
        try:
            schedule = Schedule.model_validate(entry)
        except ValidationError as error:
            problems.append(describe_validation_error(error, where))
            continue
        if schedule.job not in allowed:
            problems.append(f"{where}.job: {schedule.job!r} is not an installed command that "
                            f"can be scheduled; expected one of {', '.join(allowed)}")
        if schedule.workspace != ALL and schedule.workspace not in workspaces:
            problems.append(f"{where}.workspace: {schedule.workspace!r} is not a "
                            f"[workspaces.<name>] section; expected one of "
                            f"{', '.join(sorted(workspaces))} or \"{ALL}\"")
        schedules.append(schedule)
    if problems:
        raise ConfigError("\n".join(problems))
    return schedules


def plan(schedules: Iterable[Schedule], workspaces: Iterable[str]) -> list[Planned]:
    """Every (workspace, schedule) pair, in the order of the workspaces then the file."""
    names = list(workspaces)
    listed = list(schedules)
    return [Planned(name, schedule) for name in names for schedule in listed
            if schedule.workspace in (ALL, name)]
