"""`clientela journeys`: run the automatic journeys, or show what they would do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace
from clientela.hookspecs import reaches_people

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from clientela.journeys.ledger import Planned
    from clientela.journeys.workspace import MessagingWorkspace
    from clientela.store import Store

NO_CHANNEL_ERROR = ("no channel sends messages: set [messaging] send = { sms = \"twilio_sms\" } "
                    "and the channel's [channels.<name>] section")

journeys_app = typer.Typer(help="Automatic journeys: welcome, reminders, expiry warnings, "
                                "birthdays, win-back and post-sale follow-ups.",
                           no_args_is_help=True)


def parse_moment(text: str | None, zone: str, option: str) -> datetime:
    """An ISO date-time (local to the workspace when it has no offset), or now."""
    if text is None:
        return datetime.now(UTC)
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a date and time such as "
                        "2026-12-10T10:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def load_workspace() -> MessagingWorkspace:
    """The messaging sections, and the core settings validated without them."""
    from clientela.journeys.workspace import MessagingWorkspace

    loaded = MessagingWorkspace.load(workspace.config_file)
    workspace._settings = loaded.settings
    return loaded


def channel_webhooks() -> Starlette | None:
    """For `clientela serve`: the channels' webhook app to mount at /channels, or None."""
    from clientela.journeys.webhooks import channel_webhooks_app

    loaded = load_workspace()
    return channel_webhooks_app(loaded, workspace.store_target)


def print_plan(planned: Sequence[Planned], sample: int) -> None:
    """Counts per journey, step and channel; suppressions by reason with a sample."""
    counts: Counter[tuple[str, str, str, str]] = Counter()
    reasons: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for p in planned:
        outcome = "send" if p.status == "planned" else str(p.reason)
        counts[(p.origin, p.step, p.medium or "-", outcome)] += 1
        if p.status == "suppressed":
            reasons[str(p.reason)] += 1
            bucket = examples.setdefault(str(p.reason), [])
            if len(bucket) < sample:
                bucket.append(p.customer_id)
    table = Table(title="Plan", title_justify="left")
    for column in ("journey / campaign", "step", "channel", "outcome"):
        table.add_column(column)
    table.add_column("messages", justify="right")
    for (origin, step, medium, outcome), n in sorted(counts.items()):
        table.add_row(origin, step, medium, outcome, str(n))
    console.print(table)
    sent = sum(n for key, n in counts.items() if key[3] == "send")
    console.print(f"would send {sent}, suppress {sum(reasons.values())}")
    if reasons:
        why = Table(title="Suppressed, by reason", title_justify="left")
        why.add_column("reason")
        why.add_column("messages", justify="right")
        why.add_column("sample of customers")
        for reason, n in reasons.most_common():
            why.add_row(reason, str(n), ", ".join(examples[reason]))
        console.print(why)


@journeys_app.command("run")
@reaches_people
def run(
    due: Annotated[bool, typer.Option("--due/--no-due", help=(
        "Send the messages that are due (journeys' and campaigns'); --no-due only plans."))] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=(
        "Show the plan (per journey, step and channel, and suppressions by reason); write "
        "nothing and call no provider."))] = False,
    horizon: Annotated[int | None, typer.Option(min=0, max=366, help=(
        "Days ahead to plan (default: a month for a dry run, none otherwise)."))] = None,
    now: Annotated[str | None, typer.Option(help="Run as of this moment (ISO; default now).")
                   ] = None,
    sample: Annotated[int, typer.Option(min=0, max=50, help="Customers shown per reason.")] = 5,
) -> None:
    """Plan what the journeys call for and send what is due."""
    from clientela.journeys.runner import JourneyRunner

    loaded = load_workspace()
    journeys = loaded.journeys()
    moment = parse_moment(now, loaded.settings.workspace.timezone, "--now")
    days = horizon if horizon is not None else (30 if dry_run else 0)
    if not journeys:
        # markup off: rich would read "[[journeys]]" as a tag and print "[]"
        console.print("no journeys are declared ([[journeys]] in clientela.toml or "
                      "journeys/*.toml)", markup=False)
    if not dry_run and not loaded.messaging.send:
        # planning without a channel would record every message as suppressed for good
        raise UserError(NO_CHANNEL_ERROR)
    with workspace.store(read_only=False) as store:
        runner = JourneyRunner(store, loaded.messaging, journeys, loaded.zone,
                               loaded.settings.workspace.currency,
                               loaded.settings.loyalty.redemption_threshold, moment)
        report = runner.run_plan(horizon=timedelta(days=days), dry_run=dry_run)
        if dry_run:
            print_plan(report.planned, sample)
            return
        suppressed = sum(report.reasons().values())
        console.print(f"planned {report.new} new message(s): {report.new - suppressed} to send, "
                      f"{suppressed} suppressed")
        if due:
            send_due(store, loaded, moment if now is not None else None)


def send_due(store: Store, loaded: MessagingWorkspace, moment: datetime | None) -> None:
    """Dispatch every due message of the ledger; as of `moment` (tests, replays) or now."""
    from clientela import plugins
    from clientela.journeys.dispatch import Dispatcher
    from clientela.journeys.routing import close_routes, open_routes
    from clientela.journeys.tasks import close_sent
    from clientela.journeys.touches import sync_touches

    if not loaded.messaging.send:
        raise UserError(NO_CHANNEL_ERROR)
    routes = open_routes(plugins.registry(), loaded.messaging, loaded.channels_raw)
    try:
        dispatcher = Dispatcher(store, loaded.messaging, routes, loaded.zone,
                                clock=lambda: moment or datetime.now(UTC))
        report = dispatcher.run()
    finally:
        close_routes(routes)
    sync_touches(store)
    close_sent(store, datetime.now(UTC))
    suppressed = ", ".join(f"{k} {v}" for k, v in sorted(report.suppressed.items())) or "none"
    console.print(f"sent {report.sent}, failed {report.failed}, opted out {report.opted_out}, "
                  f"deferred {report.deferred}, suppressed: {suppressed}")
    if report.settled_sent or report.settled_requeued or report.unsettled:
        console.print(f"after an interrupted run: {report.settled_sent} found at the provider, "
                      f"{report.settled_requeued} re-queued, {report.unsettled} still unknown")


@journeys_app.command("list")
def list_journeys() -> None:
    """The declared journeys, checked (templates, audiences, triggers)."""
    loaded = load_workspace()
    table = Table()
    for column in ("journey", "trigger", "purpose", "channels", "steps", "audience"):
        table.add_column(column)
    for j in loaded.journeys():
        table.add_row(j.name, j.trigger, j.purpose, ", ".join(j.channels),
                      ", ".join(s.name for s in j.steps), j.audience or "everyone")
    console.print(table)


@journeys_app.command("task")
def task(
    task_id: Annotated[str, typer.Argument(help="The task (see `clientela messages --tasks`).")],
    outcome: Annotated[str, typer.Option(help="call_logged, no_answer or message_sent.")
                       ] = "call_logged",
    channel: Annotated[str, typer.Option(help="How the salesperson made contact.")] = "call",
) -> None:
    """Record a salesperson's follow-up (a call, say): the task closes and the contact counts
    in relationship_activity."""
    from clientela.journeys.tasks import log_outcome

    load_workspace()
    with workspace.store(read_only=False) as store:
        try:
            log_outcome(store, task_id, outcome, datetime.now(UTC), channel=channel)
        except ValueError as error:
            raise UserError(str(error)) from None
    console.print(f"task {task_id}: {outcome}")


def register(app: typer.Typer) -> None:
    app.add_typer(journeys_app, name="journeys")
