"""`clientela consent EMAIL|PHONE|CUSTOMER_ID`: a person's consent history, masked on screen.

What an auditor asks a store to show under LGPD: every opt-in and opt-out,
when, from where and on what evidence, and what holds now. Addresses are
masked; the command reads the store and writes nothing.
"""

from __future__ import annotations

from typing import Annotated

import duckdb
import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace
from clientela.privacy import mask_email, mask_phone, mask_text


def _mask(channel: str, address: str | None) -> str:
    if not address:
        return "-"
    return mask_email(address) if channel == "email" else mask_phone(address)


def consent_command(
    who: Annotated[str, typer.Argument(help="An e-mail address, a phone number or a customer id.")],
) -> None:
    """Show a person's consent history (oldest first) and their current consent."""
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
