"""`clientela export --format parquet DIR`: the canonical tables, by month, for a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clientela.agency.parquet_export import export_parquet
from clientela.cli.common import UserError, console, workspace

FORMATS = ("parquet",)


def export_command(
    folder: Annotated[Path, typer.Argument(help="Folder to write (created if missing).")],
    fmt: Annotated[str, typer.Option("--format", help="parquet.")] = "parquet",
    full: Annotated[bool, typer.Option(
        "--full", help="Rewrite every partition (default: only those that changed).")] = False,
) -> None:
    """Export the store's tables as Parquet partitioned by month, incrementally."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    with workspace.store(read_only=True) as store:
        report = export_parquet(store, folder, full=full)
    for table, months in report.written.items():
        shown = ", ".join(months[:6]) + (f" and {len(months) - 6} more" if len(months) > 6 else "")
        console.print(f"{table}: wrote {shown}")
    for table, months in report.removed.items():
        console.print(f"{table}: removed {', '.join(months)}")
    console.print(f"{report.files_written} partition(s) written, {report.unchanged} unchanged, "
                  f"in {folder}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
