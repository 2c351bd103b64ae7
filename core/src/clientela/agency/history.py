"""The run history of scheduled jobs, kept in each workspace's own store.

It is the store's `runs` table (kind `schedule`, target the schedule's label):
start, end, outcome, counts and error of every scheduled run, in the same
file as the data it describes, so it survives restarts and a short-lived
container as long as the store does. A run is written `running` before the
job starts and finished after it, so a run that was killed stays `running`
until the next run, holding the store's lock, marks it `interrupted`, together
with the rows the killed job wrote for itself (a sync's or a push's own run),
which would otherwise claim to be running forever.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clientela.store import Store

KIND = "schedule"
INTERRUPTED = "the process running it was killed or stopped before it finished"
INTERRUPTED_WITHIN = "started by a scheduled run that was killed or stopped before it finished"


def as_utc(moment: datetime | None) -> datetime | None:
    """The store keeps naive UTC timestamps; the schedules compare aware ones."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def interrupt_killed(store: Store) -> int:
    """Mark the scheduled runs a killed process left `running` as interrupted, and every run
    of any kind started since the oldest of them (the killed job's own rows); returns how
    many scheduled runs were found. Call it only under the store's lock."""
    killed = [run for run in store.run_log(KIND, limit=10_000) if run["status"] == "running"]
    if not killed:
        return 0
    since = min(run["started_at"] for run in killed)
    store.interrupt_runs(KIND, INTERRUPTED)
    store.interrupt_runs(None, INTERRUPTED_WITHIN, started_since=since)
    return len(killed)


def last_success(store: Store, label: str) -> datetime | None:
    """When the last successful run of this schedule started (aware UTC), if any."""
    for run in store.run_log(KIND, label, limit=1000):
        if run["status"] == "ok":
            return as_utc(run["started_at"])
    return None


def last_run(store: Store) -> dict[str, Any] | None:
    """The newest scheduled run of the workspace, whatever its outcome."""
    runs = store.run_log(KIND, limit=1)
    return runs[0] if runs else None


def changed_counts(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Rows each canonical table gained (or lost) during a job; unchanged tables left out."""
    return {table: after.get(table, 0) - count for table, count in before.items()
            if after.get(table, 0) != count}
