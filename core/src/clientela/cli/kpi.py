"""`clientela kpi`: the catalogue on the command line.

A thin layer over `clientela.kpi.compute`: flags are parsed and checked
here, and every mistake becomes a one-line `UserError` that names the flag
and what was expected.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace

FORMATS = ("table", "csv", "json", "parquet")


def parse_param_flags(values: list[str]) -> dict[str, dict[str, Any]]:
    """`--param metric.key=value` pairs, values read as JSON when they parse (numbers, lists)."""
    found: dict[str, dict[str, Any]] = {}
    for text in values:
        name, sep, raw = text.partition("=")
        metric, dot, key = name.partition(".")
        if not sep or not dot or not metric or not key:
            raise UserError(f"--param {text!r}: expected metric.key=value, e.g. "
                            "lapsed_customers.lapse_days=90")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        found.setdefault(metric.strip(), {})[key.strip()] = value
    return found


def parse_compare(text: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """`--compare 2025-01:2025-03,2025-04:2025-06` -> two half-open local ranges."""
    from clientela.kpi.periods import parse_bound

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or any(p.count(":") != 1 for p in parts):
        raise UserError(f"--compare {text!r}: expected BEFORE_FROM:BEFORE_TO,AFTER_FROM:AFTER_TO "
                        "such as 2025-01:2025-03,2025-04:2025-06")
    pairs = []
    for part in parts:
        lo, hi = part.split(":")
        try:
            start, end = parse_bound(lo), parse_bound(hi, inclusive=True)
        except ValueError as error:
            raise UserError(f"--compare: {error}") from None
        pairs.append((start.isoformat(), end.isoformat()))
    return pairs[0], pairs[1]


def _bound(flag: str, text: str, *, inclusive: bool) -> str:
    from clientela.kpi.periods import parse_bound

    try:
        return parse_bound(text, inclusive=inclusive).isoformat()
    except ValueError as error:
        raise UserError(f"{flag}: {error}") from None


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(name, justify="right" if name in (
            "value", "before", "after", "change", "relative_change") else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)


def write_output(result: Any, fmt: str, output: Path | None) -> None:
    arrow = result.to_arrow()
    if fmt == "table":
        hide = {"period_start", "period_end"}
        columns = [c for c in arrow.column_names if c not in hide]
        rows = arrow.to_pylist()
        if all(r.get("item") is None for r in rows):
            columns.remove("item")
        print_table(rows, columns, "KPIs")
        return
    if fmt == "parquet":
        if output is None:
            raise UserError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        pq.write_table(arrow, output)
        console.print(f"wrote {arrow.num_rows} rows to {output}")
        return
    frame = result.to_pandas()
    text = frame.to_csv(index=False) if fmt == "csv" else frame.to_json(
        orient="records", date_format="iso", indent=2)
    if output is None:
        typer.echo(text, nl=fmt == "json")
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {arrow.num_rows} rows to {output}")


def list_metrics() -> None:
    from clientela.plugins import registry

    table = Table(title="Metrics")
    for name in ("name", "title", "título", "unit", "slices", "description"):
        table.add_column(name, overflow="fold", no_wrap=name == "name")
    found = list(registry().metrics.values())
    groups = list(dict.fromkeys(m.group for m in found))  # catalogue order, KPIS.md sections
    for metric in sorted(found, key=lambda m: groups.index(m.group)):
        table.add_row(metric.name, metric.title, metric.title_pt, metric.unit,
                      ", ".join(metric.slices) or "—", metric.description)
    console.print(table)


def kpi(
    metrics: Annotated[list[str] | None, typer.Argument(
        help="Metric names (see --list), e.g. revenue aov retention_rate.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the metrics and exit.")] = False,
    grain: Annotated[str | None, typer.Option(
        "--grain", help="day, week, month, quarter or year: a time series.")] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", help="First period, e.g. 2025-01 or 2025-01-15 (workspace time zone).")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help="Last period, inclusive, e.g. 2025-12 (default: the current month).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Slice: channel, store_id, salesperson_id, acquisition_channel or "
        "segment.")] = None,
    segmenter: Annotated[str, typer.Option(
        "--segmenter", help="The segmenter behind --by segment (see `clientela segments`).")
    ] = "rfm",
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Before and after periods: 2025-01:2025-03,2025-04:2025-06.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Instant for point-in-time metrics (recency, RFM, LTV); a date means "
        "its start.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="metric.key=value, e.g. lapsed_customers.lapse_days=90 (repeatable).")
    ] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="duckdb, spark or postgres (default: [engine] kind, else duckdb).")
    ] = None,
) -> None:
    """Compute KPIs over a period, as a time series, by slice, or before vs after."""
    if list_:
        list_metrics()
        return
    from clientela.kpi import GRAINS, SLICES, KpiError, compute

    if not metrics:
        raise UserError("name at least one metric (see `clientela kpi --list`)")
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if grain is not None and grain not in GRAINS:
        raise UserError(f"--grain {grain!r}: expected one of {', '.join(GRAINS)}")
    if by is not None and by not in SLICES:
        raise UserError(f"--by {by!r}: expected one of {', '.join(SLICES)}")
    params = parse_param_flags(param or [])
    pair = parse_compare(compare) if compare else None
    start = end = None
    if pair is None:
        if from_ is None:
            raise UserError("--from is required (e.g. --from 2025-01), unless --compare is given")
        start = _bound("--from", from_, inclusive=False)
        end = _bound("--to", to or date.today().strftime("%Y-%m"), inclusive=True)
    settings = workspace.settings.workspace
    from clientela.agency.engines import engine_config, open_engine

    chosen = engine_config(workspace.settings.engine, engine)
    with open_engine(chosen, lambda: workspace.store(read_only=True)) as store:
        try:
            result = compute(store, metrics, start=start, end=end, grain=grain, by=by,
                             timezone=settings.timezone, currency=settings.currency,
                             params=params, as_of=as_of, compare=pair, segmenter=segmenter)
        except KpiError as error:
            raise UserError(str(error)) from None
    write_output(result, fmt, output)


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi)
