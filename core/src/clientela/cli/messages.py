"""`clientela messages`: the message ledger, filterable, with addresses masked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace


def messages(
    status: Annotated[str | None, typer.Option(help="planned, suppressed, calling, sent, "
                                                    "delivered, read or failed.")] = None,
    reason: Annotated[str | None, typer.Option(help="A suppression or failure reason.")] = None,
    origin: Annotated[str | None, typer.Option(help="A journey or campaign name.")] = None,
    customer: Annotated[str | None, typer.Option(help="A customer id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    summary: Annotated[bool, typer.Option("--summary", help="Counts by origin, status and "
                                                             "reason instead of rows.")] = False,
    tasks: Annotated[bool, typer.Option("--tasks", help="The salespeople's follow-up tasks "
                                                         "instead.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write the rows as CSV here.")] = None,
) -> None:
    """Show the message ledger: what was planned, sent or suppressed, and why."""
    from clientela.privacy import mask_email, mask_phone
    from clientela.store.migrations import FOLLOW_UP_TASKS_TABLE, MESSAGES_TABLE

    where, params = [], []
    for column, value in (("status", status), ("reason", reason), ("origin", origin),
                          ("customer_id", customer)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with workspace.store(read_only=True) as store:
        con = store.con
        if tasks:
            if any(v is not None for v in (status, reason, origin)):
                raise UserError("--tasks takes only --customer")
            sql = (f"SELECT task_id, journey, salesperson_id, customer_id, order_id, due_at, "
                   f"status, outcome FROM {FOLLOW_UP_TASKS_TABLE} {clause} ORDER BY due_at "
                   f"LIMIT {limit}")
            columns = ["task", "journey", "salesperson", "customer", "order", "due (UTC)",
                       "status", "outcome"]
        elif summary:
            sql = (f"SELECT origin, step, medium, status, reason, count(*) FROM {MESSAGES_TABLE} "
                   f"{clause} GROUP BY ALL ORDER BY ALL")
            columns = ["origin", "step", "channel", "status", "reason", "messages"]
        else:
            sql = (f"SELECT message_key, origin, step, customer_id, medium, address, status, "
                   f"reason, due_at, sent_at FROM {MESSAGES_TABLE} {clause} "
                   f"ORDER BY due_at, message_key LIMIT {limit}")
            columns = ["key", "origin", "step", "customer", "channel", "to", "status", "reason",
                       "due (UTC)", "sent (UTC)"]
        rows = [list(r) for r in con.execute(sql, params).fetchall()]
    if not tasks and not summary:
        for row in rows:
            address = row[5]
            row[5] = "" if not address else (mask_email(address) if "@" in address
                                             else mask_phone(address))
    if output is not None:
        import csv

        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
        console.print(f"wrote {len(rows)} row(s) to {output}")
        return
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(messages)
