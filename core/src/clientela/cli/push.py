"""`clientela push` and `clientela forget`: segments out to destinations, people out of all.

Thin layers over `clientela.destinations.push.push` and `...forget.forget`:
the CLI resolves the destination's config section, opens it (`cli.destinations`), shows a
progress bar and prints a summary a person can act on (masked e-mails only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import Failure, UserError, console, progress_bar, workspace
from clientela.cli.destinations import configured_destinations, open_destination, print_reads
from clientela.destinations.read_first import failures
from clientela.hookspecs import reaches_people
from clientela.plugins import registry
from clientela.privacy import mask_email


def _as_of(text: str | None, timezone: str) -> datetime:
    from clientela.cli.segments import _as_of as segments_as_of

    return segments_as_of(text, timezone)


@reaches_people
def push_command(
    destination: Annotated[str, typer.Argument(help="A destination plugin (see `clientela plugins`).")],
    segment: Annotated[str, typer.Option(
        "--segment", help="A segmenter (`rfm`, the default, or one a plugin adds, e.g. "
        "`clusters`), or a name for the segment that --rule defines.")] = "rfm",
    rule: Annotated[str | None, typer.Option(
        "--rule", help="Customers in the segment, e.g. \"days_since_last_order >= 120 and "
        "total_spent > 500\" (fields, numbers, strings, comparisons, and/or/not).")] = None,
    fields: Annotated[str | None, typer.Option(
        "--fields", help="Comma-separated fields to send (default: all the store has): "
        "rfm_segment,r,f,m,clv,p_alive,last_order,orders,total_spent,avg_ticket,"
        "loyalty_points.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Compute segments and fields as of this date (workspace time zone); "
        "default: the end of today.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be created, updated, unsubscribed, archived, "
        "skipped and moved; read the destination, write nothing anywhere.")
    ] = False,
    reconcile: Annotated[bool, typer.Option(
        "--reconcile", help="Read the destination's segment memberships and repair them (done "
        "anyway after an interrupted run).")] = False,
    sample: Annotated[int, typer.Option(min=0, help="Contacts shown per action.")] = 5,
    pull: Annotated[bool, typer.Option(
        "--pull/--no-pull", help="First read the opt-outs of every other configured "
        "destination into the store (the default); --no-pull when they were just read "
        "(`clientela consent --pull`, as `clientela run` does before its pushes).")] = True,
) -> None:
    """Push a segmentation to a destination: only the contacts that changed since the last push."""
    from clientela.destinations.contacts import ContactsError, Segmentation
    from clientela.destinations.lock import PushLocked
    from clientela.destinations.push import push
    from clientela.destinations.rules import RuleError

    known = registry().segmenters
    if segment in known and rule is not None:
        raise UserError(f"--rule defines its own segment: name it with --segment NAME (not "
                        f"{segment!r}, which is a segmenter)")
    if segment not in known and rule is None:
        raise UserError(f"--segment {segment!r}: no segmenter of that name (installed: "
                        f"{', '.join(sorted(known))}); or define this segment with --rule")
    segmentation = Segmentation(name=segment) if rule is None else \
        Segmentation.from_rule(segment, rule)
    settings = workspace.settings.workspace
    instant = _as_of(as_of, settings.timezone)
    chosen = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    opened = open_destination(destination)
    try:
        with workspace.store() as store, progress_bar() as bar:
            task = bar.add_task(f"push {destination}", total=None)
            try:
                report = push(store, destination, opened, segmentation, as_of=instant,
                              timezone=settings.timezone, currency=settings.currency,
                              fields=chosen, dry_run=dry_run, sample=sample, reconcile=reconcile,
                              progress=lambda n, total: bar.update(task, completed=n, total=total),
                              others=configured_destinations() if pull else None)
            except (ContactsError, RuleError) as error:
                raise UserError(str(error)) from None
            except PushLocked as error:
                raise Failure(str(error)) from None
    finally:
        opened.close()
    _print(report)
    if report.failed:
        raise Failure(f"{report.failed} contact(s) failed; they are retried on the next push "
                      f"(see push_log, run {report.run_id})")
    unread = failures(report.read_first)
    if unread:
        raise Failure(f"pushed, but the opt-outs of {', '.join(o.destination for o in unread)} "
                      "could not be read first; they reach this destination once read (run the "
                      "same command, or `clientela consent --pull`, again)")


def _print(report: Any) -> None:
    title = ("Dry run: nothing sent" if report.dry_run else f"Pushed (run {report.run_id})")
    table = Table(title=f"{title}: {report.segmentation} -> {report.destination}, "
                  f"{report.contacts:,} contacts")
    table.add_column("what")
    table.add_column("contacts", justify="right")
    table.add_column("sample")
    rows = [("create", "created"), ("update", "updated"), ("remove", "removed"),
            ("skip", "skipped")]
    for planned, done in rows:
        count = report.planned[planned] if report.dry_run else report.outcomes[done]
        label = planned if report.dry_run else done
        if planned == "skip":
            label += " (no consent)"
        if planned == "remove":
            label += " from segment"
        table.add_row(label, f"{count:,}", ", ".join(report.sample.get(planned, [])))
    table.add_row("unchanged", f"{report.unchanged:,}", "")
    table.add_row("segment moves", f"{report.moved:,}", "")
    if not report.dry_run:
        table.add_row("[red]failed[/]", f"{report.failed:,}",
                      "; ".join(f"{cid}: {error}" for cid, error in report.errors[:3]))
    console.print(table)
    if report.read_first:
        print_reads(report.read_first, "opt-outs read first from the other destinations"
                    + (" (rolled back)" if report.dry_run else ""))
    _print_consent(report)


CONSENT_ROWS = (
    ("learned", "opt-outs read from the destination into the store"),
    ("subscribed", "created subscribed (a current opt-in)"),
    ("pending", "invited (double opt-in)"),
    ("unsubscribed", "unsubscribed there (no current opt-in)"),
    ("archived", "archived there (no current opt-in)"),
    ("untagged", "untagged only (already unsubscribed there)"),
    ("retagged", "segment tags repaired or moved"),
    ("skipped_no_consent", "skipped: no consent"),
    ("not_recreated_deleted", "not re-created: deleted or archived there"),
    ("already_unsubscribed", "skipped: unsubscribed there already"),
    ("opted_out_relationship", "handed a new opt-out of relationship e-mail"),
    ("opt_outs_written", "written an opt-out beyond this push's changes"),
)


def _print_consent(report: Any) -> None:
    table = Table(title="consent" + (" (would be)" if report.dry_run else "")
                  + (": memberships reconciled after an unfinished run" if report.healed else ""))
    table.add_column("what")
    table.add_column("contacts", justify="right")
    table.add_column("sample")
    for key, label in CONSENT_ROWS:
        table.add_row(label, f"{report.consent[key]:,}",
                      ", ".join(report.consent_sample.get(key, [])))
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")


def forget_command(
    email: Annotated[str, typer.Argument(help="The person's e-mail address.")],
) -> None:
    """Erase a person: anonymise them in the store and delete them from every destination."""
    from clientela.destinations.forget import forget

    with workspace.store() as store:
        report = forget(store, email, configured_destinations())
    who = mask_email(email.strip().lower())
    table = Table(title=f"forget {who}: request {report.request_id}, "
                  f"{report.customers} customer(s) anonymised in the store")
    table.add_column("destination")
    table.add_column("outcome")
    table.add_column("detail")
    for name, status in sorted(report.outcomes.items()):
        colour = "red" if status == "failed" else "green"
        table.add_row(name, f"[{colour}]{status}[/]", report.details.get(name, "done earlier"))
    console.print(table)
    if not report.done:
        raise Failure("some destinations could not forget this person; run the same command "
                      "again to complete the request")


def register(app: typer.Typer) -> None:
    app.command("push")(push_command)
    app.command("forget")(forget_command)
