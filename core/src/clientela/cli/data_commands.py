"""Commands that bring data in: init, demo, import, sync, schema, quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from clientela.cli.common import UserError, console, err_console, progress_bar, workspace
from clientela.cli.quarantine_commands import quarantine_app
from clientela.config import DEFAULT_CONFIG_FILE, EXAMPLE_CONFIG, example_config, plugin_config
from clientela.model.moments import TIMESTAMP_UNITS, check_date_format
from clientela.plugins import registry
from clientela.sources.files import FileSource, FileSourceConfig
from clientela.store import Store, StorePathError
from clientela.sync import StreamSummary, SyncSummary, run_sync


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


@contextmanager
def open_store(*, read_only: bool = False) -> Iterator[Store]:
    """The workspace's store; a path that is not a DuckDB file is a user mistake (exit 2)."""
    try:
        store = Store(workspace.store_target, read_only=read_only,
                      memory_limit=workspace.settings.workspace.memory_limit)
    except StorePathError as error:
        raise UserError(str(error)) from None
    with store:
        if not read_only:
            from clientela.cli.identity import bind_identity

            bind_identity(store)
        yield store


def print_summary(summary: SyncSummary) -> None:
    table = Table(title=f"{summary.source}: run {summary.run_id[:8]}", title_justify="left")
    for column in ("stream", "read", "new", "updated", "unchanged", "stale", "quarantined",
                   "dup"):
        table.add_column(column, justify="left" if column == "stream" else "right")
    for stream in summary.streams:
        d = stream.as_dict()
        table.add_row(stream.stream, *(str(d[k]) for k in (
            "read", "inserted", "updated", "unchanged", "stale", "quarantined", "duplicates")))
    console.print(table)
    quarantined = summary.totals().get("quarantined", 0)
    if quarantined:
        console.print(f"[yellow]{quarantined:,} record(s) quarantined with their reason:[/] "
                      f"see `clientela quarantine --source {summary.source}`")
    duplicates = summary.totals().get("duplicates", 0)
    if duplicates:
        console.print(f"{duplicates:,} row(s) repeated a key of the same file: the last "
                      "version of each key was kept")


def byte_progress() -> Progress:
    """A bar over the file's bytes, with speed and time left (rows have no known total)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn(),
        console=err_console, disable=not err_console.is_terminal)


def _interrupted(kept: dict[str, int], command: str) -> typer.Exit:
    err_console.print(
        f"interrupted: {kept['read']:,} row(s) of committed batches are kept "
        f"({kept['inserted']:,} new, {kept['quarantined']:,} quarantined); the batch under way "
        f"was rolled back. Run the same {command} again to finish: what is already in is "
        "counted unchanged.", highlight=False)
    return typer.Exit(1)


def _run_file_import(source: FileSource, *, context: dict[str, Any]) -> SyncSummary:
    name = source.config.source_name
    kept = {"read": 0, "inserted": 0, "quarantined": 0}
    try:
        with open_store() as store, byte_progress() as progress:
            task = progress.add_task(f"import {source.config.path.name}",
                                     total=source.bytes_total or None, rows=0)

            def on_batch(stream: StreamSummary, batch: Any) -> None:
                kept.update(read=stream.read, inserted=stream.counts.inserted,
                            quarantined=stream.quarantined)
                progress.update(task, completed=source.bytes_done(), rows=stream.read)

            return run_sync(store, name, source, context=context, on_batch=on_batch,
                            kind="import")
    except KeyboardInterrupt:
        raise _interrupted(kept, "import") from None


def init(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    timezone: Annotated[str, typer.Option(
        "--timezone", metavar="ZONE", help="The workspace's IANA time zone, e.g. "
        "America/Sao_Paulo.")] = "America/Sao_Paulo",
    currency: Annotated[str, typer.Option(
        "--currency", metavar="CODE", help="The reporting currency (ISO 4217), e.g. BRL.")] = "BRL",
) -> None:
    """Write a commented example clientela.toml in this folder."""
    target = workspace.config_file or DEFAULT_CONFIG_FILE
    if target.exists() and not force:
        raise UserError(f"{target} already exists; use --force to overwrite it")
    target.write_text(example_config(timezone, currency), encoding="utf-8")
    console.print(f"wrote {target}")


def demo(
    customers: Annotated[int, typer.Option(min=10, help="Customers to generate.")] = 20_000,
    orders: Annotated[int, typer.Option(min=10, help="Orders to generate (about).")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same store.")] = 42,
    years: Annotated[int, typer.Option(min=1, max=20, help="Years of history.")] = 3,
    report: Annotated[bool, typer.Option(help="Print the KPIs when loaded.")] = True,
    force: Annotated[bool, typer.Option(
        "--force", help="Load even into a store that holds other sources' data.")] = False,
    pos: Annotated[bool, typer.Option(
        "--pos/--no-pos", help="Also import the shops' point-of-sale export (CSV files "
        "written next to the store), a second source with CPFs.")] = True,
) -> None:
    """Generate a realistic retail store, load it, and print its KPIs.

    A previous demo in the store is replaced; a store with other data is refused
    unless --force.
    """
    from clientela.demo import DemoBuilder, Tables, load
    from clientela.demo.guard import (
        holds_demo_rows,
        mark_complete,
        mark_loading,
        replace_previous_demo,
        rows_of_other_sources,
    )

    _demo_workspace()
    with open_store() as store:
        others = rows_of_other_sources(store)
        if others and not force:
            held = ", ".join(f"{n:,} {t}" for t, n in others.items())
            raise UserError(f"{workspace.store_path} already holds other data ({held}); the demo "
                            "would mix with it. Use another --store, or --force to add it anyway")
        # generated and loaded block by block, so memory stays flat at any size
        builder = DemoBuilder(customers=customers, orders=orders, seed=seed, years=years,
                              keep_per_customer=False)
        mark_loading(store)
        removed = replace_previous_demo(store, {"customers": customers, "orders": orders,
                                                "seed": seed, "years": years, "pos": pos})
        if removed:
            console.print(f"replaced the previous demo ({removed:,} rows)")
        fresh = not holds_demo_rows(store)  # nothing to compare with: insert, not upsert
        try:
            with progress_bar() as progress:
                tasks: dict[str, Any] = {}
                loaded: dict[str, int] = {}  # rows of earlier blocks, per table

                def on_progress(table: str, done: int, total: int) -> None:
                    if table not in tasks:
                        tasks[table] = progress.add_task(f"loading {table}", total=total)
                        loaded[table] = 0
                    progress.update(tasks[table], completed=loaded[table] + done,
                                    total=loaded[table] + total)
                    if done == total:
                        loaded[table] += total

                for block in builder.blocks():
                    load(store, Tables(block), progress=on_progress, fresh=fresh)
                load(store, Tables(builder.store_wide()), progress=on_progress, fresh=fresh)
            if pos:
                from clientela.demo.pos_load import load_pos_demo

                with console.status("importing the point-of-sale export..."):
                    window = builder.shared.window
                    load_pos_demo(store, seed, window.start, window.end,
                                  workspace.store_path.parent / "demo-pos",
                                  validation_context())
        except KeyboardInterrupt:
            err_console.print("interrupted: the demo store is incomplete (KPIs will warn "
                              "until it is); run `clientela demo` again to finish")
            raise typer.Exit(1) from None
        mark_complete(store)
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
    delimiter: Annotated[str | None, typer.Option(
        metavar="CHAR", help="CSV delimiter (default: detected from the header).")] = None,
    encoding: Annotated[str, typer.Option(
        metavar="NAME", help="The file's text encoding, e.g. latin-1 for many ERP exports.")
    ] = "utf-8-sig",
    date_format: Annotated[str | None, typer.Option(
        metavar="PATTERN", help="How dates are written, e.g. DD/MM/YYYY (ISO 8601 and "
        "YYYYMMDD are always read).")] = None,
    decimal_comma: Annotated[bool, typer.Option(
        "--decimal-comma", help="Amounts are written 1.234,56.")] = False,
    timestamp_unit: Annotated[str | None, typer.Option(
        metavar="s|ms|us", help="Read whole numbers in date fields as Unix timestamps in this "
        "unit (without it they are refused).")] = None,
    status_map: Annotated[list[str] | None, typer.Option(
        metavar="FILE=OURS,...", help="Order statuses: e.g. Paid=paid,complete=fulfilled.")
    ] = None,
    not_before: Annotated[str, typer.Option(
        metavar="YYYY-MM-DD", help="Earlier dates are quarantined.")] = "1900-01-01",
    max_future_days: Annotated[float, typer.Option(
        min=0, metavar="DAYS", help="Dates further ahead of now are quarantined.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 20_000,
) -> None:
    """Import a file into an entity; bad rows are quarantined with their reason.

    Safe to interrupt and to run again: each batch is one transaction, and a re-run
    counts what is already in as unchanged.
    """
    configured = workspace.settings.sources.get("file", {})
    mappings = configured.get("mappings", {})
    raw: dict[str, Any] = {
        "path": path,
        "entity": entity,
        "mapping": {**mappings.get(entity, {}), **_pairs(map_, "--map")},
        "defaults": _pairs(default, "--default"),
        "status_map": _pairs(_split_commas(status_map), "--status-map"),
        "source_name": source_name,
        "delimiter": delimiter,
        "encoding": encoding,
        "batch_size": batch_size,
    }
    if file_format is not None:
        raw["format"] = file_format
    context = {**validation_context(),
               **reading_options(date_format, decimal_comma, timestamp_unit, not_before,
                                 max_future_days)}
    config = plugin_config(FileSourceConfig, raw, "import")
    assert isinstance(config, FileSourceConfig)
    try:
        source = FileSource(config)
    except ValueError as error:
        raise UserError(str(error)) from None
    summary = _run_file_import(source, context=context)
    if not summary.totals().get("read"):
        console.print(f"[yellow]{source.describe_nothing()}[/]")
        return
    print_summary(summary)


def _split_commas(values: list[str] | None) -> list[str]:
    return [part for value in values or [] for part in value.split(",") if part.strip()]


def reading_options(date_format: str | None, decimal_comma: bool, timestamp_unit: str | None,
                    not_before: str, max_future_days: float) -> dict[str, Any]:
    """The import flags that say how values are written, as validation context."""
    options: dict[str, Any] = {"decimal_comma": decimal_comma,
                               "max_future_days": max_future_days}
    if date_format:
        try:
            options["date_format"] = check_date_format(date_format)
        except ValueError as error:
            raise UserError(str(error)) from None
        options["date_format_label"] = date_format
    if timestamp_unit is not None:
        if timestamp_unit not in TIMESTAMP_UNITS:
            raise UserError(f"--timestamp-unit {timestamp_unit!r}: expected one of "
                            f"{', '.join(TIMESTAMP_UNITS)}")
        options["timestamp_unit"] = timestamp_unit
    try:
        options["not_before"] = date.fromisoformat(not_before)
    except ValueError:
        raise UserError(f"--not-before {not_before!r}: expected a date as YYYY-MM-DD") from None
    return options


def sync(
    source_name: Annotated[str, typer.Argument(help="A source plugin's name (see `clientela plugins`).")],
    stream: Annotated[list[str] | None, typer.Option(help="Only these streams.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Forget the saved cursors and read everything again.")] = False,
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
    read_by_stream: dict[str, int] = {}

    def on_batch(progress: Progress, task: Any, stream: StreamSummary) -> None:
        read_by_stream[stream.stream] = stream.read
        progress.update(task, description=f"sync {source_name}/{stream.stream}",
                        completed=sum(read_by_stream.values()))

    try:
        with open_store() as store, progress_bar() as progress:
            if full:
                dropped = store.reset_state(source_name, stream)
                console.print(f"--full: {dropped} saved cursor(s) of {source_name} forgotten; "
                              "reading everything again")
            task = progress.add_task(f"sync {source_name}", total=None)
            summary = run_sync(
                store, source_name, source, context=validation_context(), streams=stream,
                on_batch=lambda s, b: on_batch(progress, task, s),
            )
    except KeyboardInterrupt:
        err_console.print(
            f"interrupted: {sum(read_by_stream.values()):,} record(s) of committed batches are "
            "kept with their "
            "cursors; the batch under way was rolled back. Run the same sync again to go on "
            "from there.", highlight=False)
        raise typer.Exit(1) from None
    print_summary(summary)


def schema(
    output: Annotated[Path, typer.Option(help="Folder for the JSON Schema files.")] = Path("schema"),
) -> None:
    """Export the JSON Schema of every entity."""
    from clientela.model.schema import write_json_schemas

    for path in write_json_schemas(output):
        console.print(str(path))


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(demo)
    app.command("import")(import_file)
    app.command()(sync)
    app.command()(schema)
    app.add_typer(quarantine_app, name="quarantine")
