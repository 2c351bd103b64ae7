"""`clientela identity`: one person across every source.

`stats` counts records, persons and what joined them; `show` finds a person by CPF, e-mail or
phone (masked on screen); `conflicts` lists the keys held back for a person to decide;
`merge` and `split` record that decision with its reason; `resolve` resolves everything
again. See docs/identity.md.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace
from clientela.privacy import mask_cpf, mask_email, mask_phone, mask_text
from clientela.store import Store

identity_app = typer.Typer(
    help="One person across every source: stats, look-ups, conflicts, merges and splits.",
    no_args_is_help=True)

ReasonOption = Annotated[str, typer.Option(
    "--reason", help="Why (kept with the decision, e.g. 'same customer, confirmed by phone').")]


def _masked(value: str | None, masker: object) -> str:
    return masker(value) if value else "-"  # type: ignore[operator]


def _mask_query(who: str) -> str:
    """What was looked up, masked by what it looks like (mask_text knows no CPFs)."""
    if "@" in who:
        return mask_email(who.strip())
    digits = sum(c.isdigit() for c in who)
    return mask_cpf(who) if digits == 11 and "+" not in who and "(" not in who else (
        mask_phone(who) if digits else mask_text(who))


@identity_app.command()
def stats() -> None:
    """Records, persons, what joined them and the conflicts waiting for a decision."""
    from clientela.identity.overview import stats as read_stats

    with workspace.store() as store:
        found = read_stats(store.con)
    if not found.enabled:
        console.print("identity resolution is off ([identity] enabled = false): "
                      f"{found.records:,} records, each its own person")
        return
    table = Table("", "count", title="identity")
    table.add_row("customer records", f"{found.records:,}")
    table.add_row("persons", f"{found.persons:,}")
    table.add_row("persons with two or more records", f"{found.multi_record_persons:,}")
    for rule, count in found.linked_by_rule.items():
        table.add_row(f"records joined by {rule}", f"{count:,}")
    for kind, count in found.conflicts_by_kind.items():
        table.add_row(f"conflicts ({kind})", f"{count:,}")
    for kind, count in found.decisions.items():
        table.add_row(f"decisions in force ({kind})", f"{count:,}")
    console.print(table)


@identity_app.command()
def show(
    who: Annotated[str, typer.Argument(help="A CPF, an e-mail address or a phone number.")],
) -> None:
    """The person (or persons) holding a CPF, e-mail or phone, and all their records."""
    from clientela.identity.overview import find

    with workspace.store() as store:
        persons = find(store.con, who)
    if not persons:
        raise UserError(f"nobody holds {_mask_query(who)} (read as a CPF, an e-mail and a phone; "
                        "an invalid CPF or a number that cannot be normalised matches nobody)")
    for person in persons:
        table = Table("customer", "source", "e-mail", "phone", "CPF", "joined by",
                      title=f"person {person.person_id} (found by {person.matched_by})")
        for record in person.records:
            table.add_row(record.customer_id, record.source, _masked(record.email, mask_email),
                          _masked(record.phone, mask_phone), _masked(record.cpf, mask_cpf),
                          record.rule or "-")
        console.print(table)


@identity_app.command()
def conflicts(
    kind: Annotated[str | None, typer.Option(
        help="Only 'cpf' (different valid CPFs) or 'shared' (a key many persons share).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
) -> None:
    """Keys that were not allowed to join what they connect, largest first."""
    from clientela.identity.overview import conflicts as read_conflicts

    if kind not in (None, "cpf", "shared"):
        raise UserError(f"--kind {kind!r}: expected cpf or shared")
    with workspace.store() as store:
        rows, total = read_conflicts(store.con, kind=kind, limit=limit)
    if not rows:
        console.print("no identity conflicts")
        return
    table = Table("id", "kind", "rule", "key", "persons", "CPFs", "records")
    for row in rows:
        records = ", ".join(row.customer_ids[:6]) + (" ..." if len(row.customer_ids) > 6 else "")
        table.add_row(row.conflict_id, row.kind, row.rule, row.key_shown or "-",
                      str(row.persons), str(row.cpfs), records)
    console.print(table)
    if total > len(rows):
        console.print(f"{len(rows):,} of {total:,} shown; --limit shows more")
    console.print("decide with `clientela identity merge ID1 ID2 --reason ...` or "
                  "`clientela identity split ID --reason ...`")


def _decide(action: str, *args: str) -> None:
    from clientela.identity import decisions

    with workspace.store() as store, store.transaction() as con:
        try:
            decision = getattr(decisions, action)(con, *args)
        except ValueError as error:
            raise UserError(str(error)) from None
    moved = decision.resolution.moved if decision.resolution else 0
    console.print(decision.note + (f" ({moved:,} record(s) changed person)"
                                   if decision.decision_id else ""))


@identity_app.command()
def merge(
    first: Annotated[str, typer.Argument(help="A customer id.")],
    second: Annotated[str, typer.Argument(help="Another customer id.")],
    reason: ReasonOption,
) -> None:
    """Record that two customers' persons are one person."""
    _decide("merge", first, second, reason)


@identity_app.command()
def split(
    customer_id: Annotated[str, typer.Argument(help="A customer id.")],
    reason: ReasonOption,
) -> None:
    """Undo the merges involving a customer, or take it out of its person."""
    _decide("split", customer_id, reason)


@identity_app.command()
def resolve() -> None:
    """Resolve every customer record again (after changing the rules, say)."""
    from clientela.identity.resolve import resolve_all

    with workspace.store() as store, store.transaction() as con:
        result = resolve_all(con, workspace.settings.identity)
    if not workspace.settings.identity.enabled:
        console.print("identity resolution is off ([identity] enabled = false): "
                      "every record is its own person")
        return
    console.print(f"{result.records:,} records resolved into {result.persons:,} persons; "
                  f"{result.moved:,} changed person; {result.conflicts:,} conflict(s)")


def bind_identity(store: Store) -> None:
    """Make a writable store follow the workspace's `[identity]` (a change of rules resolves
    everything again; `enabled = false` drops every link)."""
    from clientela.identity.resolve import bind_config

    with store.transaction() as con:
        bind_config(con, workspace.settings.identity)


def register(app: typer.Typer) -> None:
    app.add_typer(identity_app, name="identity")
