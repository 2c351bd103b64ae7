"""`clientela consent EMAIL|PHONE|CUSTOMER_ID`: a person's consent history, masked on screen;
`clientela consent --pull`: every destination's opt-outs read into the store.

The history is what an auditor asks a store to show under LGPD: every opt-in and opt-out,
when, from where and on what evidence, and what holds now. Addresses are masked; it reads
the store and writes nothing. `--pull` is the read `clientela push` makes of the other
destinations before pushing (`clientela.destinations.read_first`), for all of them at
once: `clientela run` makes it once per workspace before its push and messaging jobs.
"""

from __future__ import annotations

from typing import Annotated

import duckdb
import typer
from rich.table import Table

from clientela.cli.common import Failure, UserError, console, workspace
from clientela.privacy import mask_email, mask_phone, mask_text


def _mask(channel: str, address: str | None) -> str:
    if not address:
        return "-"
    return mask_email(address) if channel == "email" else mask_phone(address)


def consent_command(
    who: Annotated[str | None, typer.Argument(
        help="An e-mail address, a phone number or a customer id.")] = None,
    pull: Annotated[bool, typer.Option(
        "--pull", help="Instead: read the opt-outs of every configured destination into the "
        "store (what `clientela push` does for the others before it pushes).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="With --pull: read and count, record nothing.")] = False,
) -> None:
    """Show a person's consent history and current consent; or, with --pull, read every
    destination's opt-outs into the store."""
    if pull == (who is not None):
        raise UserError("expected either WHO (an e-mail, a phone or a customer id) or --pull")
    if dry_run and not pull:
        raise UserError("--dry-run goes with --pull")
    if who is None:
        pull_command(dry_run=dry_run)
        return
    _show(who)


def pull_command(*, dry_run: bool) -> None:
    """Read every configured destination's opt-outs; exit 1 when one could not be read."""
    from clientela.cli.destinations import configured_destinations, print_reads
    from clientela.destinations.read_first import failures, read_all

    openers = configured_destinations()
    if not openers:
        raise UserError("no [destinations.<name>] section in the configuration: nothing to read")
    with workspace.store() as store:
        if dry_run:
            with store.rolled_back():
                outcomes = read_all(store, openers, dry_run=True)
        else:
            outcomes = read_all(store, openers)
    print_reads(outcomes, "opt-outs read from the destinations"
                + (" (dry run: nothing recorded)" if dry_run else ""))
    unread = failures(outcomes)
    if unread:
        raise Failure(f"could not read {', '.join(o.destination for o in unread)}; the others "
                      "were recorded; run the same command again")


def _show(who: str) -> None:
    from clientela.consent import current_sql, history

    with workspace.store(read_only=True) as store:
        try:
            events = history(store, who)
        except duckdb.CatalogException:
            raise UserError("this store predates the consent ledger: run any command that "
                            "writes to it (an import, a sync) to migrate it, then again") from None
        if not events:
            raise UserError(f"no consent recorded for {mask_text(who)} (looked it up as an "
                            "e-mail, a phone and a customer id)")
        ids = sorted({event.customer_id for event in events})
        now = store.con.execute(
            f"SELECT customer_id, channel, purpose, status, address, changed_at, source "
            f"FROM ({current_sql()}) WHERE customer_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) "
            "ORDER BY 1, 2, 3", [ids]).fetchall()
    table = Table(title=f"consent history of {mask_text(who)}")
    for column in ("when (UTC)", "customer", "channel", "purpose", "status", "address", "source",
                   "evidence"):
        table.add_column(column)
    for event in events:
        colour = "green" if event.status == "opted_in" else "red"
        table.add_row(event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), event.customer_id,
                      event.channel, event.purpose, f"[{colour}]{event.status}[/]",
                      _mask(event.channel, event.address), event.source,
                      mask_text(event.evidence))
    console.print(table)
    state = Table(title="current consent (newest event for the current address wins)")
    for column in ("customer", "channel", "purpose", "status", "address", "since", "source"):
        state.add_column(column)
    for cid, channel, purpose, status, address, changed_at, source in now:
        state.add_row(cid, channel, purpose, status, _mask(channel, address),
                      changed_at.strftime("%Y-%m-%d %H:%M:%S"), source)
    if not now:
        state.add_row(", ".join(ids), "-", "-", "no consent", "-", "-", "-")
    console.print(state)


def register(app: typer.Typer) -> None:
    app.command("consent")(consent_command)
