"""Run what is due, workspace by workspace, and say what happened.

Each workspace is worked on under its store's lock, so two runs never overlap on
one store: the second one waits up to `wait` seconds, then leaves that workspace
with a clear message. For a DuckDB store it is `<store>.lock`, an OS file lock
the kernel releases when the process dies; for a PostgreSQL store (`[store] url`),
which several machines may share, it is the server's advisory lock `clientela run`
on that database, released when the holding connection ends. Either way a killed
run never leaves it stuck.
Anything that goes wrong in one workspace (a bad section, a missing secret, a
failing job, a locked store) is recorded against it and the next workspace
runs all the same.

Consent first: when jobs that push or message people are due in a workspace, the
runner reads every configured destination's opt-outs once (`consent --pull`, its
own line in the summary and the history) before the first of them, and runs each
push with `--no-pull`, so it reads only its own destination again. Which commands
reach people is not listed here: each says so itself with
`clientela.hookspecs.reaches_people` (`push`, `journeys run`, `campaign send`, and
any command a plugin adds), and `clientela run` hands the runner what it found
marked (`reaching`). An opt-out made at one destination
thus reaches every destination pushed, and every journey or campaign sent, in
the same run, whatever their order. A destination that cannot be read fails
that line (and the run's exit code), not the jobs after it. A workspace that
configures no destination has nothing to read: the runner adds no read there
(a `consent --pull` typed by hand still says "nothing to read" and fails, since
someone asked for it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from clientela.agency import history
from clientela.agency.schedules import Planned, Schedule
from clientela.agency.workspaces import Agency, StoreTarget, store_target
from clientela.privacy import mask_text
from clientela.store import Store
from clientela.store.postgres import AdvisoryLockBusy, advisory_lock, is_postgres_url

RUN_LOCK = "clientela run"
"""The advisory lock's name on a PostgreSQL store (one per database)."""

PUSH_JOB = "push"
Reaching = Collection[tuple[str, ...]]
"""The commands that push or message people, as word paths: `("push",)`,
`("journeys", "run")`, a plugin's `("sms", "blast")`."""
PULL = Schedule(workspace="all", job="consent", args=["--pull"], cron="* * * * *",
                timezone="UTC")
"""The read of every destination's opt-outs before a workspace's push and messaging jobs
(never due by itself: it runs with them)."""
NO_PULL = "--no-pull"

OK = "ok"
FAILED = "failed"
BUSY = "busy"

Execute = Callable[[str, Schedule], tuple[int, str | None]]
"""Runs one job for one workspace: (workspace name, schedule) -> (exit code, error text)."""


@dataclass
class JobOutcome:
    """One line of the summary."""

    workspace: str
    job: str
    outcome: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class RunReport:
    outcomes: list[JobOutcome] = field(default_factory=list)
    interrupted: dict[str, int] = field(default_factory=dict)
    """Runs found still `running` (killed earlier), per workspace, now marked interrupted."""

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.outcome == FAILED]

    @property
    def busy(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.outcome == BUSY]


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


class StoreBusy(RuntimeError):
    """Another `clientela run` holds this store's lock (the message says which)."""


@contextmanager
def store_lock(target: StoreTarget, wait: float) -> Iterator[None]:
    """The store's run lock (see the module docstring), tried for `wait` seconds."""
    if is_postgres_url(target):
        try:
            with advisory_lock(str(target), RUN_LOCK, wait=wait):
                yield
        except AdvisoryLockBusy as busy:
            raise StoreBusy(f"another `clientela run` holds this store's lock ({busy.holder}); "
                            "left this workspace to it") from None
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(path)), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise StoreBusy(f"another `clientela run` holds {lock_path(path).name}; left this "
                        "workspace to it") from None
    try:
        yield
    finally:
        lock.release()


def _now() -> datetime:
    return datetime.now(UTC)


def run_due(agency: Agency, planned: Sequence[Planned], execute: Execute, *,
            wait: float = 0.0, now: Callable[[], datetime] = _now,
            reaching: Reaching = ()) -> RunReport:
    """Run every planned job that is due, one workspace after the other; the opt-outs are
    read first where one of the `reaching` commands is due (`consent_first`)."""
    report = RunReport()
    by_workspace: dict[str, list[Schedule]] = {}
    for item in planned:
        by_workspace.setdefault(item.workspace, []).append(item.schedule)
    for name, schedules in by_workspace.items():
        try:
            _run_workspace(agency, name, schedules, execute, wait, now, reaching, report)
        except Exception as error:  # one workspace's trouble never stops the next one
            report.outcomes.append(JobOutcome(name, "(workspace)", FAILED,
                                              error=mask_text(str(error)) or type(error).__name__))
    return report


def _run_workspace(agency: Agency, name: str, schedules: list[Schedule], execute: Execute,
                   wait: float, now: Callable[[], datetime], reaching: Reaching,
                   report: RunReport) -> None:
    settings = agency.settings_for(name)
    target = store_target(settings)
    memory_limit = settings.workspace.memory_limit
    try:
        with store_lock(target, wait):
            with Store(target, memory_limit=memory_limit) as store:
                found = history.interrupt_killed(store)
                if found:
                    report.interrupted[name] = found
                moment = now()
                due = [s for s in schedules
                       if s.due_since(history.last_success(store, s.label), moment) is not None]
            for schedule in consent_first(due, reaching, read=bool(settings.destinations)):
                report.outcomes.append(_run_job(name, schedule, target, memory_limit, execute))
    except StoreBusy as busy:
        report.outcomes.append(JobOutcome(name, ", ".join(s.label for s in schedules), BUSY,
                                          error=str(busy)))


def consent_first(due: Sequence[Schedule], reaching: Reaching, *, read: bool = True
                  ) -> list[Schedule]:
    """`due` with the opt-out read before the first job that pushes or messages (one of the
    `reaching` commands), and every push told that it happened (its label, hence its
    history, unchanged).

    `read` is False when the workspace configures no destination: there is nothing to
    read, and a read that can only fail must not fail the run nor stop its journeys.
    """
    if not read:
        return list(due)
    jobs: list[Schedule] = []
    for schedule in due:
        if not reaches_people(schedule, reaching):
            jobs.append(schedule)
            continue
        if PULL not in jobs:
            jobs.append(PULL)
        if schedule.job == PUSH_JOB:
            schedule = schedule.model_copy(update={"args": [*schedule.args, NO_PULL],
                                                   "name": schedule.label})
        jobs.append(schedule)
    return jobs


def reaches_people(schedule: Schedule, reaching: Reaching) -> bool:
    """Whether the job runs one of the `reaching` commands: its command and first arguments
    are one of their paths."""
    words = (schedule.job, *schedule.args)
    return any(words[:len(path)] == tuple(path) for path in reaching)


def _run_job(name: str, schedule: Schedule, target: StoreTarget, memory_limit: str | None,
             execute: Execute) -> JobOutcome:
    with Store(target, memory_limit=memory_limit) as store:
        run_id = store.start_run(history.KIND, schedule.label)
        before = store.counts()
    started = _now()
    try:
        code, error = execute(name, schedule)
    except Exception as failure:
        code, error = 1, mask_text(str(failure)) or type(failure).__name__
    if code != 0 and not error:
        error = f"exited with code {code}"
    outcome = OK if code == 0 else FAILED
    with Store(target, memory_limit=memory_limit) as store:
        counts = history.changed_counts(before, store.counts())
        store.finish_run(run_id, outcome, {"exit_code": code, "rows": counts}, error)
    return JobOutcome(name, schedule.label, outcome, started, _now(), counts, error)
