"""`clientela run --due` and `clientela run --loop`: the agency's scheduled jobs.

`--due` runs what is due since each job's last success and exits, for cron, a
systemd timer or a Kubernetes CronJob; `--loop` does the same in one process,
waking at the next cron time. Each job runs in this process exactly as
`clientela --workspace NAME <job> <args>` would, and its outcome is recorded in
that workspace's store. Exit code: 0 when every due job ran and succeeded, 1 when a job failed or a
workspace was busy (another run held its lock: its jobs did not run, like every
locked store in the CLI); the summary line counts failed and busy apart.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clientela.agency.notify import notify_failures
from clientela.agency.runner import BUSY, FAILED, OK, Execute, RunReport, run_due
from clientela.agency.schedules import Planned, Schedule, parse_schedules, plan
from clientela.agency.workspaces import Agency
from clientela.cli import workspaces as workspaces_cli
from clientela.cli.common import EXIT_FAILURE, EXIT_OK, UserError, console, err_console, workspace
from clientela.hookspecs import marked_reaching_people
from clientela.privacy import mask_text

LOOP_NAP = 60.0
"""Longest sleep of `--loop` between looks at the schedule (a new file is read each time)."""


def installed_cli() -> Any:
    """The `clientela` command of this installation, plugins' commands included."""
    from clientela import plugins
    from clientela.cli.app import app

    plugins.add_plugin_commands(app)
    return typer.main.get_command(app)


def installed_commands() -> set[str]:
    """Every top-level command of this installation, plugins' included."""
    return set(getattr(installed_cli(), "commands", {}))


def commands_reaching_people(command: Any, path: tuple[str, ...] = ()
                             ) -> set[tuple[str, ...]]:
    """The paths (`("journeys", "run")`) of the commands under `command` marked with
    `clientela.hookspecs.reaches_people`, a plugin's as well as a built-in one."""
    found = {path} if path and marked_reaching_people(getattr(command, "callback", None)) \
        else set()
    for name, sub in getattr(command, "commands", {}).items():
        found |= commands_reaching_people(sub, (*path, name))
    return found


def load_plan(agency: Agency, only: str | None, cli: Any = None) -> list[Planned]:
    """The planned jobs; `cli` is the installed command when the caller has built it
    already (it names the jobs a schedule may run)."""
    jobs = set(getattr(installed_cli() if cli is None else cli, "commands", {}))
    schedules = parse_schedules(agency.raw.get("schedules"), origin=str(agency.path),
                                workspaces=agency.workspaces, jobs=jobs)
    if not schedules:
        raise UserError(f"{agency.path}: no [[schedules]] entries; see docs/agencies.md")
    names = [only] if only else list(agency.workspaces)
    return plan(schedules, names)


def execute_in_process(agency: Agency) -> Execute:
    """A job runs as `clientela --config AGENCY --workspace NAME JOB ARGS` in this process."""
    from clientela.cli.app import FAILURES, USER_ERRORS, app
    from clientela.cli.common import EXIT_USAGE

    def execute(name: str, schedule: Schedule) -> tuple[int, str | None]:
        argv = ["--config", str(agency.path), "--workspace", name, schedule.job, *schedule.args]
        err_console.print(f"[bold]── {escape(name)}: {escape(schedule.label)}[/]")
        saved = (workspace.config_file, workspace.store_override, workspace.debug,
                 workspace._settings, workspaces_cli.selected)
        try:
            # standalone: typer reports a usage error itself and ends with SystemExit
            app(args=argv, prog_name="clientela")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            return code, (None if code == 0 else f"exited with code {code}")
        except USER_ERRORS as error:
            return EXIT_USAGE, mask_text(str(error))
        except FAILURES as error:
            return EXIT_FAILURE, mask_text(str(error))
        finally:
            (workspace.config_file, workspace.store_override, workspace.debug,
             workspace._settings, workspaces_cli.selected) = saved
        return EXIT_OK, None

    return execute


def print_summary(report: RunReport) -> None:
    for name, count in report.interrupted.items():
        console.print(f"[yellow]{escape(name)}: {count} earlier run(s) had been killed; recorded "
                      "as interrupted and retried when due[/]")
    if not report.outcomes:
        console.print("nothing was due")
        return
    table = Table("workspace", "job", "outcome", "rows", title="clientela run")
    colours = {OK: "green", FAILED: "red", BUSY: "yellow"}
    for o in report.outcomes:
        rows = ", ".join(f"{t} {n:+d}" for t, n in o.counts.items()) or "-"
        table.add_row(escape(o.workspace), escape(o.job), f"[{colours[o.outcome]}]{o.outcome}[/]",
                      rows)
    console.print(table)
    for o in report.outcomes:
        if o.error:
            first = o.error.splitlines()[0]
            console.print(f"[{colours[o.outcome]}]{escape(o.workspace)}[/] ({escape(o.job)}): "
                          f"{escape(first)}", highlight=False)
    ok = sum(o.outcome == OK for o in report.outcomes)
    console.print(f"{len(report.outcomes)} job(s): {ok} ok, {len(report.failed)} failed, "
                  f"{len(report.busy)} busy")


def exit_code(report: RunReport) -> int:
    """1 when any job did not run to success: failed, or left to the run holding its lock."""
    return EXIT_FAILURE if report.failed or report.busy else EXIT_OK


def _once(wait: float, only: str | None) -> RunReport:
    agency = workspaces_cli.current_agency()
    cli = installed_cli()  # built once: it names both the jobs and those that reach people
    report = run_due(agency, load_plan(agency, only, cli), execute_in_process(agency),
                     wait=wait, reaching=commands_reaching_people(cli))
    print_summary(report)
    for warning in notify_failures(report, agency.notify):
        err_console.print(f"[yellow]warning:[/] {warning}")
    return report


def _next_wake(planned: list[Planned]) -> float:
    now = datetime.now(UTC)
    soonest = min((p.schedule.next_after(now) for p in planned), default=None)
    if soonest is None:
        return LOOP_NAP
    return max(1.0, min(LOOP_NAP, (soonest - now).total_seconds() + 1))


def run_command(
    due: Annotated[bool, typer.Option("--due", help="Run what is due, then exit.")] = False,
    loop: Annotated[bool, typer.Option("--loop", help="Keep running jobs as they fall due.")] = False,
    wait: Annotated[float, typer.Option(
        min=0, help="Seconds to wait for a workspace another run is working on (default: "
        "leave it to that run).")] = 0.0,
    max_rounds: Annotated[int | None, typer.Option(hidden=True, min=1)] = None,
) -> None:
    """Run the jobs of the agency file's schedules that are due, in every workspace."""
    if due == loop:
        raise UserError("expected exactly one of --due or --loop")
    only = workspaces_cli.selected
    if due:
        raise typer.Exit(exit_code(_once(wait, only)))
    rounds = 0
    while True:
        report = _once(wait, only)
        rounds += 1
        if max_rounds is not None and rounds >= max_rounds:
            raise typer.Exit(exit_code(report))
        agency = workspaces_cli.current_agency()
        time.sleep(_next_wake(load_plan(agency, only)))


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
