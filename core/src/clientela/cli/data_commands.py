"""Commands that bring data in: init, demo, import, sync, schema, quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, progress_bar, workspace
from clientela.config import DEFAULT_CONFIG_FILE, EXAMPLE_CONFIG, plugin_config
from clientela.plugins import registry
from clientela.sources.files import FileSource, FileSourceConfig
from clientela.sync import SyncSummary, run_sync


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """'field=value' flags to a dict, or a UserError naming the flag."""
    result: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"{flag} {item!r}: expected FIELD=VALUE, e.g. {flag} email=E-mail")
        result[name.strip()] = value.strip()
    return result


def validation_context() -> dict[str, Any]:
    ws = workspace.settings.workspace
    return {"timezone": ws.timezone, "reporting_currency": ws.currency}


def print_summary(summary: SyncSummary) -> None:
    table = Table(title=f"{summary.source}: run {summary.run_id[:8]}", title_justify="left")
    for column in ("stream", "read", "new", "updated", "unchanged", "stale", "quarantined"):
        table.add_column(column, justify="left" if column == "stream" else "right")
    for stream in summary.streams:
        d = stream.as_dict()
        table.add_row(stream.stream, *(str(d[k]) for k in
                      ("read", "inserted", "updated", "unchanged", "stale", "quarantined")))
    console.print(table)
    quarantined = summary.totals().get("quarantined", 0)
    if quarantined:
        console.print(f"[yellow]{quarantined} record(s) quarantined with their reason:[/] "
                      f"see `clientela quarantine --source {summary.source}`")


def _run_with_progress(source_name: str, source: Any, *, kind: str) -> SyncSummary:
    with workspace.store() as store, progress_bar() as progress:
        task = progress.add_task(f"{kind} {source_name}", total=None)

        def on_batch(stream: Any, batch: Any) -> None:
            progress.update(task, description=f"{kind} {source_name}/{stream.stream}",
                            completed=stream.read)

        return run_sync(store, source_name, source, context=validation_context(),
                        on_batch=on_batch, kind=kind)


def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example clientela.toml in this folder."""
    target = workspace.config_file or DEFAULT_CONFIG_FILE
    if target.exists() and not force:
        raise UserError(f"{target} already exists; use --force to overwrite it")
    target.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    console.print(f"wrote {target}")


def demo(
    customers: Annotated[int, typer.Option(min=10, help="Customers to generate.")] = 20_000,
    orders: Annotated[int, typer.Option(min=10, help="Orders to generate (about).")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same store.")] = 42,
    years: Annotated[int, typer.Option(min=1, max=20, help="Years of history.")] = 3,
    report: Annotated[bool, typer.Option(help="Print the KPIs when loaded.")] = True,
) -> None:
    """Generate a realistic retail store, load it, and print its KPIs."""
    from clientela.demo import generate, load

    _demo_workspace()
    with console.status("generating the demo store..."):
        data = generate(customers=customers, orders=orders, seed=seed, years=years)
    with workspace.store() as store:
        with progress_bar() as progress:
            tasks: dict[str, Any] = {}

            def on_progress(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(f"loading {table}", total=total)
                progress.update(tasks[table], completed=done)

            load(store, data, progress=on_progress)
        counts = store.counts()
        console.print(f"demo store loaded into {workspace.store_path}: " + ", ".join(
            f"{n:,} {t}" for t, n in counts.items() if n))
        if report:
            from clientela.cli.report_view import print_store_report

            print_store_report(store, workspace.settings)


def _demo_workspace() -> None:
    """The demo store is a Brazilian retailer: without a configuration, write the example one
    (America/Sao_Paulo, BRL) so the demo's KPIs and the tour's commands cut months as it does."""
    target = workspace.config_file or DEFAULT_CONFIG_FILE
    if not target.exists():
        target.write_text(EXAMPLE_CONFIG, encoding="utf-8")
        workspace._settings = None
        console.print(f"wrote {target} for the demo store (time zone America/Sao_Paulo, "
                      "currency BRL); edit it for your own store")


def import_file(
    path: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .parquet file.")],
    entity: Annotated[str, typer.Option("--entity", "-e",
                                        help="customers, orders, order_lines, campaigns, ...")],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", "-m", help="FIELD=COLUMN: read canonical FIELD from the file's COLUMN.")] = None,
    default: Annotated[list[str] | None, typer.Option(
        "--default", "-d", help="FIELD=VALUE for rows that lack FIELD.")] = None,
    file_format: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet.")] = None,
    source_name: Annotated[str, typer.Option("--source-name", help="The source recorded.")] = "file",
    delimiter: Annotated[str, typer.Option(help="CSV delimiter.")] = ",",
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 5_000,
) -> None:
    """Import a file into an entity; bad rows are quarantined with their reason."""
    configured = workspace.settings.sources.get("file", {})
    mappings = configured.get("mappings", {})
    raw: dict[str, Any] = {
        "path": path,
        "entity": entity,
        "mapping": {**mappings.get(entity, {}), **_pairs(map_, "--map")},
        "defaults": _pairs(default, "--default"),
        "source_name": source_name,
        "delimiter": delimiter,
        "batch_size": batch_size,
    }
    if file_format is not None:
        raw["format"] = file_format
    config = plugin_config(FileSourceConfig, raw, "import")
    assert isinstance(config, FileSourceConfig)
    try:
        source = FileSource(config)
    except ValueError as error:
        raise UserError(str(error)) from None
    summary = _run_with_progress(config.source_name, source, kind="import")
    print_summary(summary)


def sync(
    source_name: Annotated[str, typer.Argument(help="A source plugin's name (see `clientela plugins`).")],
    stream: Annotated[list[str] | None, typer.Option(help="Only these streams.")] = None,
) -> None:
    """Bring a source's records up to date, incrementally and resumably."""
    spec = registry().get("source", source_name)
    section = workspace.settings.sources.get(source_name)
    if section is None:
        raise UserError(f"no [sources.{source_name}] section in the configuration; "
                        "`clientela init` writes an example")
    config = plugin_config(spec.config, section, f"sources.{source_name}")
    source = spec.open(config)
    if stream:
        known = {s.name for s in source.streams()}
        unknown = [s for s in stream if s not in known]
        if unknown:
            raise UserError(f"--stream {unknown[0]!r}: expected one of {', '.join(sorted(known))}")
    with workspace.store() as store, progress_bar() as progress:
        task = progress.add_task(f"sync {source_name}", total=None)
        summary = run_sync(
            store, source_name, source, context=validation_context(), streams=stream,
            on_batch=lambda s, b: progress.update(
                task, description=f"sync {source_name}/{s.stream}", completed=s.read),
        )
    print_summary(summary)


def schema(
    output: Annotated[Path, typer.Option(help="Folder for the JSON Schema files.")] = Path("schema"),
) -> None:
    """Export the JSON Schema of every entity."""
    from clientela.model.schema import write_json_schemas

    for path in write_json_schemas(output):
        console.print(str(path))


def quarantine(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity (Order, Customer, ...).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines with the raw payload.")] = False,
) -> None:
    """Show quarantined records and why they were rejected."""
    with workspace.store(read_only=True) as store:
        query = "SELECT source, entity, record_key, reason, payload, last_seen_at FROM quarantine"
        where, params = [], []
        if source:
            where.append("source = ?")
            params.append(source)
        if entity:
            where.append("lower(entity) = lower(?)")
            params.append(entity)
        if where:
            query += " WHERE " + " AND ".join(where)
        rows = store.con.execute(query + " ORDER BY last_seen_at DESC, record_key LIMIT ?",
                                 [*params, limit]).fetchall()
    if as_json:
        for row in rows:
            typer.echo(json.dumps({"source": row[0], "entity": row[1], "key": row[2],
                                   "reason": row[3], "payload": json.loads(row[4])}))
        return
    table = Table("source", "entity", "key", "reason")
    for row in rows:
        table.add_row(row[0], row[1], row[2], row[3])
    console.print(table if rows else "the quarantine is empty")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(demo)
    app.command("import")(import_file)
    app.command()(sync)
    app.command()(schema)
    app.command()(quarantine)
