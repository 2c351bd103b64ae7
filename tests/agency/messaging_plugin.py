"""A local plugin adding `sms blast`, a command that messages people, marked as such the way
any plugin marks one (`reaches_people`), and `sms status`, which messages nobody.

`blast` writes to OUT whether the customer may get marketing now, by the store's ledger: what
a sender decides on. Scheduled, it must see opt-outs the destinations hold.
"""

from __future__ import annotations

from pathlib import Path

import typer

from clientela.hookspecs import hookimpl, reaches_people


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    sms = typer.Typer(help="Text messages (a test plugin).")

    @sms.command("blast")
    @reaches_people
    def blast(customer: str, out: Path) -> None:
        """Write 'send' or 'suppress' to OUT for CUSTOMER, as the ledger decides now."""
        from clientela.cli.common import workspace
        from clientela.consent import can_contact

        with workspace.store() as store:
            allowed = can_contact(store, customer, "email", "marketing")
        out.write_text("send" if allowed else "suppress", encoding="utf-8")

    @sms.command("status")
    def status(out: Path) -> None:
        """Write 'ok' to OUT."""
        out.write_text("ok", encoding="utf-8")

    cli.add_typer(sms, name="sms")
