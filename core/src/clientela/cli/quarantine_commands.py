"""`clientela quarantine`: what was rejected and why, and what to do about it.

Open records are shown by default (`--all` adds the resolved history). A
record is resolved when its source lands the same key later; `retry`
re-validates open records with the current mapping (configuration and
`--map`), and `clear` forgets them. E-mails and phones are masked here as in
every other output.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace
from clientela.errors import NotFound
from clientela.model.entities import entity_for
from clientela.model.validation import validate_rows
from clientela.privacy import mask_email, mask_phone, mask_text
from clientela.sources.files import ERROR_KEY
from clientela.store import Store
from clientela.store.quarantine import (
    QuarantinedRow,
    clear_quarantined,
    count_quarantined,
    list_quarantined,
    mark_resolved,
    note_still_rejected,
)

quarantine_app = typer.Typer(
    help="Show quarantined records and why they were rejected; retry or clear them.",
    no_args_is_help=False)

SourceOption = Annotated[str | None, typer.Option(help="Only this source.")]
EntityOption = Annotated[str | None, typer.Option(
    help="Only this entity: orders, customers, ... (or Order, Customer).")]

_PERSONAL = {"email": mask_email, "phone": mask_phone}


def _entity_name(entity: str | None) -> str | None:
    if entity is None:
        return None
    try:
        return entity_for(entity).entity
    except NotFound as error:
        raise UserError(f"--entity: {error}") from None


def _masked(value: Any, field: str = "") -> Any:
    if isinstance(value, str):
        masker = _PERSONAL.get(field)
        return masker(value) if masker else mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


@quarantine_app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    source: SourceOption = None,
    entity: EntityOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    all_: Annotated[bool, typer.Option("--all", help="Resolved records too (history).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines with the raw payload.")] = False,
) -> None:
    """Show open quarantined records and why they were rejected."""
    if ctx.invoked_subcommand is not None:
        return
    from clientela.cli.data_commands import open_store

    name = _entity_name(entity)
    # writable when the store exists, so an older store gains the life-cycle column first
    with open_store(read_only=not workspace.store_path.exists()) as store:
        rows = list_quarantined(store.con, source=source, entity=name, include_resolved=all_,
                                limit=limit)
        total = count_quarantined(store.con, source=source, entity=name, include_resolved=all_)
        resolved = 0 if all_ else count_quarantined(
            store.con, source=source, entity=name, include_resolved=True) - total
    if as_json:
        for row in rows:
            typer.echo(json.dumps({
                "source": row.source, "entity": row.entity, "key": mask_text(row.key),
                "reason": mask_text(row.reason), "payload": _masked(row.payload),
                "resolved": row.resolved_at is not None}, ensure_ascii=False, default=str))
        return
    if not rows:
        console.print("the quarantine is empty" if not resolved else
                      f"nothing open in the quarantine ({resolved:,} resolved; --all shows them)")
        return
    table = Table("source", "entity", "key", "reason", *(["status"] if all_ else []))
    for row in rows:
        status = ["resolved" if row.resolved_at else "open"] if all_ else []
        table.add_row(row.source, row.entity, mask_text(row.key), mask_text(row.reason), *status)
    console.print(table)
    if total > len(rows):
        console.print(f"{len(rows):,} of {total:,} shown; --limit shows more")


def _retry_rows(store: Store, rows: list[QuarantinedRow], mapping_for: Any,
                context: dict[str, Any]) -> tuple[int, int]:
    """Re-validate rows with the current mapping; land the good ones. (landed, still bad)"""
    groups: dict[tuple[str, str], list[QuarantinedRow]] = defaultdict(list)
    for row in rows:
        groups[(row.source, row.entity)].append(row)
    landed = still = 0
    for (source, entity), members in groups.items():
        model = entity_for(entity)
        mapping = mapping_for(model.table)
        retriable = [m for m in members if ERROR_KEY not in m.payload]
        still += len(members) - len(retriable)
        payloads = [_remap(m.payload, mapping, source) for m in retriable]
        good, bad = validate_rows(model, payloads, context=context)
        by_payload = {id(b.raw): b for b in bad}
        good_hashes = [m.payload_hash for m, p in zip(retriable, payloads, strict=True)
                       if id(p) not in by_payload]
        if good:
            store.write_batch(model, good, source=source)
        with store.transaction() as con:
            mark_resolved(con, source, entity, good_hashes)
            for member, payload in zip(retriable, payloads, strict=True):
                rejection = by_payload.get(id(payload))
                if rejection is not None:
                    note_still_rejected(con, source, entity, member.payload_hash,
                                        rejection.reason)
        landed += len(good)
        still += len(bad)
    return landed, still


def _remap(payload: dict[str, Any], mapping: dict[str, str], source: str) -> dict[str, Any]:
    row = dict(payload)
    for field_name, column in mapping.items():
        if column in row and column != field_name:
            row[field_name] = row.pop(column)
    row["source"] = source
    return row


@quarantine_app.command()
def retry(
    source: SourceOption = None,
    entity: EntityOption = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", "-m", help="FIELD=COLUMN, on top of [sources.file.mappings.<entity>].")] = None,
) -> None:
    """Validate open records again with the current mapping; those that pass land."""
    from clientela.cli.data_commands import _pairs, open_store, validation_context

    name = _entity_name(entity)
    extra = _pairs(map_, "--map")
    mappings = workspace.settings.sources.get("file", {}).get("mappings", {})

    def mapping_for(table: str) -> dict[str, str]:
        return {**mappings.get(table, {}), **extra}

    with open_store() as store:
        rows = list_quarantined(store.con, source=source, entity=name)
        if not rows:
            console.print("nothing open in the quarantine")
            return
        landed, still = _retry_rows(store, rows, mapping_for, validation_context())
    console.print(f"retried {len(rows):,}: {landed:,} landed, {still:,} still quarantined")


@quarantine_app.command()
def clear(
    source: SourceOption = None,
    entity: EntityOption = None,
    resolved_only: Annotated[bool, typer.Option(
        "--resolved-only", help="Only the resolved history; open records stay.")] = False,
) -> None:
    """Forget quarantined records (all of them, or those of a source or entity)."""
    from clientela.cli.data_commands import open_store

    name = _entity_name(entity)
    with open_store() as store, store.transaction() as con:
        removed = clear_quarantined(con, source=source, entity=name, resolved_only=resolved_only)
    console.print(f"removed {removed:,} record(s) from the quarantine")

