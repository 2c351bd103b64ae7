"""`clientela segments <name>`: customer segments from any registered segmenter.

The segmenter is looked up in the registry (`rfm` is built in; a plugin
adds others, e.g. `clusters`). `clientela.segments.save_segments` scores every
customer as of a date and replaces the store's `<name>_scores` table (so
destinations and reports read one current version); this command adds the
options, a CSV or Parquet file on request, and the segmenter's summary. With
`--engine spark|postgres` (or `[engine]`) the scores are computed there and still
saved to the workspace's store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.agency.engines import ENGINE_FLAG_HELP
from clientela.cli.common import UserError, console, kpi_problem, workspace


def _as_of(text: str | None, timezone: str) -> datetime:
    """A date means the start of that day in the workspace zone; default: the end of today."""
    from clientela.kpi.periods import parse_bound, to_utc, zone

    tz = zone(timezone)
    if text is None:
        today = datetime.now(UTC).astimezone(tz).replace(tzinfo=None)
        local = datetime(today.year, today.month, today.day) + timedelta(days=1)
        return to_utc(local, tz)
    try:
        return to_utc(parse_bound(text), tz)
    except ValueError as error:
        raise UserError(f"--as-of: {error}") from None


def _params(values: list[str]) -> dict[str, Any]:
    """`--param key=value`, values read as JSON when they parse (numbers, lists)."""
    import json

    found: dict[str, Any] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param {text!r}: expected key=value, e.g. seed=7")
        try:
            found[key.strip()] = json.loads(raw)
        except ValueError:
            found[key.strip()] = raw
    return found


def list_segmenters() -> None:
    from clientela.plugins import registry

    table = Table(title="segmenters")
    for column in ("name", "title", "description"):
        table.add_column(column, overflow="fold")
    for name, found in sorted(registry().segmenters.items()):
        table.add_row(name, found.title, found.description)
    console.print(table)


def _write(scores: Any, output: Path) -> None:
    if output.suffix.lower() == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(scores, output)
    else:
        import pyarrow.parquet as pq

        pq.write_table(scores, output)


def segments(
    name: Annotated[str | None, typer.Argument(
        help="A segmenter: rfm, or one a plugin adds (omit it to list them).")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Score as of this date (its start, workspace time zone); default: "
        "the end of today.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also write the scores to a .csv or .parquet file.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="A segmenter parameter, key=value (repeatable).")] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", metavar="ENGINE", help=ENGINE_FLAG_HELP)] = None,
) -> None:
    """Segment every customer with a registered segmenter, save the scores to the store table
    <name>_scores and print the segment summary."""
    from pydantic import ValidationError

    from clientela.agency.engines import computing_on, engine_config
    from clientela.kpi import KpiError
    from clientela.segments.registered import (
        UnknownSegmenter,
        save_segments,
        segmenter,
        summarize,
    )

    if name is None:
        list_segmenters()
        return
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"--output {output}: expected a file ending in .csv or .parquet")
    params = _params(param or [])
    settings = workspace.settings.workspace
    instant = _as_of(as_of, settings.timezone)
    engine_choice = engine_config(workspace.settings.engine, engine)
    with workspace.store() as store, computing_on(engine_choice, store) as source:
        try:
            scores = save_segments(store, name, instant, settings.timezone, settings.currency,
                                   params, engine=source)
        except UnknownSegmenter as error:
            raise UserError(str(error)) from None
        except ValidationError as error:
            raise UserError(f"--param for {name}: {error.errors()[0]['loc']}: "
                            f"{error.errors()[0]['msg']}") from None
        except KpiError as error:
            raise kpi_problem(error) from None
        summary = summarize(name, scores)
    if output is not None:
        _write(scores, output)
    table = Table(title=f"{segmenter(name).title} as of {instant:%Y-%m-%d %H:%M} UTC "
                  f"({scores.num_rows} customers)")
    for index, column in enumerate(summary.columns):
        table.add_column(column, justify="left" if index == 0 or column == "label" else "right")
    for row in summary.rows:
        table.add_row(*row)
    console.print(table)
    for note in summary.notes:
        console.print(note)
    if output is not None:
        console.print(f"wrote {scores.num_rows} customers to {output}")


def register(app: typer.Typer) -> None:
    app.command("segments")(segments)
