"""`clientela report`: the monthly metrics report as one self-contained HTML file.

A thin layer over `clientela.report.build_report`: flags are checked here
and every mistake becomes a one-line `UserError` naming the flag.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clientela.cli.common import UserError, console, workspace

if TYPE_CHECKING:
    from clientela.report import ReportRequest


def request_from_flags(lang: str, from_: str | None, to: str | None, compare: str | None,
                       title: str | None) -> ReportRequest:
    """The ReportRequest the flags describe, in the workspace's time zone and currency."""
    from clientela.formatting import LANGUAGES
    from clientela.report import ReportRequest

    if lang not in LANGUAGES:
        raise UserError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGES)}")
    if compare and (from_ or to):
        raise UserError("--compare names both periods itself; leave out --from and --to")
    settings = workspace.settings.workspace
    return ReportRequest(lang=lang, timezone=settings.timezone, currency=settings.currency,
                         store_name=title or workspace.store_path.name, start=from_, end=to,
                         compare=compare)


def report(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option("--lang", help="en or pt-BR.")] = "en",
    from_: Annotated[str | None, typer.Option(
        "--from", help="First month, e.g. 2025-01 (default: 13 months before --to).")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help="The month after the last, not included: --from 2025-01 --to 2026-01 is "
        "2025 (default: the month after the latest order's).")] = None,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="A before/after page instead: 2025-01:2025-04,2025-04:2025-07 "
        "(each side's end not included, like --to: January-March against April-June).")] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", help="Also write each chart as SVG and PNG into this folder.")] = None,
    title: Annotated[str | None, typer.Option(
        "--title", help="The store's name in the header (default: the store file's name).")
    ] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", metavar="ENGINE", help="duckdb, spark or postgres (default: [engine] kind, "
        "else duckdb).")] = None,
) -> None:
    """Write the monthly metrics report (month by month, charts, definitions) as one HTML
    file that opens offline, or a before/after page with --compare."""
    from clientela.agency.engines import engine_config, open_engine
    from clientela.kpi import KpiError
    from clientela.report import ReportWindowError, build_report, write_images

    request = request_from_flags(lang, from_, to, compare, title)
    engine_choice = engine_config(workspace.settings.engine, engine)
    # read-write, so the months computed are kept for the next report (docs/warm.md)
    keeps = workspace.store_path.exists()
    with open_engine(engine_choice,
                     lambda: workspace.store(read_only=not keeps, shows_figures=True)) as source:
        try:
            with console.status("computing the report..."):
                built = build_report(source, request)
        except (ReportWindowError, KpiError) as error:
            raise UserError(str(error)) from None
    output.write_text(built.html, encoding="utf-8")
    size = len(built.html.encode("utf-8"))
    console.print(f"wrote {output} ({size / 1024:,.0f} KiB, {len(built.charts)} charts)")
    if workspace.debug:
        for section, seconds in built.timings.seconds.items():
            console.print(f"  {section}: {seconds:.2f} s")
    if images is not None:
        written = write_images(built, images)
        console.print(f"wrote {len(written)} images to {images}")


def register(app: typer.Typer) -> None:
    app.command()(report)
