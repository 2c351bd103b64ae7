"""How `clientela kpi` shows and saves a result: an 80-column table a person reads, or a
file (csv, json, parquet, xlsx) a program reads.

The table formats each number by its metric's unit through `clientela.formatting` (money
with two decimals, ratios as percentages, in en or pt-BR) and leaves out columns that carry
nothing (`item`, `measure` when every row is the headline value). Files keep the numbers as
numbers; JSON money is rounded to the cent, so 2163973.08 never reads 2163973.0800000001.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.table import Table

from clientela import formatting
from clientela.cli.common import UserError, console

FILE_FORMATS = ("csv", "json", "parquet", "xlsx")
FORMATS = ("table", *FILE_FORMATS)
NUMBER_COLUMNS = ("value", "before", "after", "change", "relative_change")
PERIOD_COLUMNS = ("period", "before_period", "after_period")
HEADERS = {"relative_change": "change %"}
HIDDEN = ("period_start", "period_end", "before_start", "before_end", "after_start", "after_end")


def output_format(fmt: str | None, output: Path | None) -> str:
    """--format, or the --output file's extension when --format is not given."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UserError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        if fmt == "table" and output is not None:
            raise UserError("--format table prints to the terminal; drop --output, or name "
                            "a .csv, .json, .parquet or .xlsx file")
        return fmt
    if output is None:
        return "table"
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in FILE_FORMATS:
        raise UserError(f"--output {output}: expected a file ending in "
                        f"{', '.join('.' + f for f in FILE_FORMATS)} (or give --format)")
    return suffix


# -- numbers as a reader expects them ---------------------------------------------------------


def format_number(value: Any, unit: str, *, currency: str, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if not isinstance(value, int | float | Decimal):
        return str(value)
    if unit == "currency":
        return formatting.money(value, currency, lang)
    if unit == "ratio":
        return formatting.percent(value, lang)
    if unit in ("count", "points") or float(value).is_integer():
        return formatting.number(value, lang)
    return formatting.number(value, lang, decimals=2)


def _unit(units: Mapping[str, str], metric: str, measure: str | None, column: str) -> str:
    """A metric's unit describes its headline value; a companion measure (e.g. retained
    customers beside a retention rate) is a plain number."""
    if column == "relative_change":
        return "ratio"
    if measure not in (None, "value"):
        return "number"
    unit = units.get(metric, "number")
    return "number" if unit == "table" else unit


def table_columns(columns: Iterable[str], rows: list[dict[str, Any]]) -> list[str]:
    shown = [c for c in columns if c not in HIDDEN]
    if "item" in shown and all(r.get("item") is None for r in rows):
        shown.remove("item")
    if "measure" in shown and all(r.get("measure") in (None, "value") for r in rows):
        shown.remove("measure")
    return shown


def print_table(result_table: pa.Table, *, units: Mapping[str, str], currency: str, lang: str,
                title: str = "KPIs") -> None:
    """Fits the terminal (80 columns and up): text columns wrap whole words, numbers never
    split."""
    rows = result_table.to_pylist()
    columns = table_columns(result_table.column_names, rows)
    # a period every row shares goes in the title, where it does not take a column's width
    constant = [c for c in columns if c in PERIOD_COLUMNS and rows
                and len({r.get(c) for r in rows}) == 1]
    if constant:
        title += ": " + ", ".join(
            f"{c.removesuffix('_period').replace('period', '').strip() or ''} {rows[0][c]}".strip()
            for c in constant)
        columns = [c for c in columns if c not in constant]
    table = Table(title=title, title_justify="left", show_lines=False)
    for name in columns:
        numeric = name in NUMBER_COLUMNS
        table.add_column(HEADERS.get(name, name), justify="right" if numeric else "left",
                         no_wrap=numeric or name == "metric", overflow="fold")
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name)
            if name in NUMBER_COLUMNS:
                unit = _unit(units, str(row.get("metric")), row.get("measure"), name)
                cells.append(format_number(value, unit, currency=currency, lang=lang))
            else:
                cells.append("—" if value is None else str(value))
        table.add_row(*cells)
    console.print(table)


# -- files ------------------------------------------------------------------------------------


def _json_value(value: Any, money: bool) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(round(value, 2)) if money else float(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 2) if money else value
    return value


def json_rows(result_table: pa.Table, units: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows with money rounded to the cent (a float sum is not), everything else as computed."""
    rows = []
    for row in result_table.to_pylist():
        metric, measure = str(row.get("metric")), row.get("measure")
        rows.append({
            key: _json_value(value, key in NUMBER_COLUMNS and key != "relative_change"
                             and _unit(units, metric, measure, key) == "currency")
            for key, value in row.items()})
    return rows


def write_file(result_table: pa.Table, fmt: str, output: Path | None,
               units: Mapping[str, str]) -> None:
    """csv or json to stdout without --output; parquet and xlsx need a file."""
    if fmt in ("parquet", "xlsx") and output is None:
        raise UserError(f"--format {fmt} needs --output FILE")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert output is not None
        pq.write_table(result_table, output)
    elif fmt == "xlsx":
        assert output is not None
        _write_xlsx(result_table, output)
    else:
        if fmt == "json":
            text = json.dumps(json_rows(result_table, units), indent=2, ensure_ascii=False) + "\n"
        else:
            frame = result_table.to_pandas()
            text = frame.to_csv(index=False)
        if output is None:
            import sys

            sys.stdout.write(text)
            return
        output.write_text(text, encoding="utf-8")
    console.print(f"wrote {result_table.num_rows} rows to {output}")


def _write_xlsx(result_table: pa.Table, output: Path) -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise UserError("writing .xlsx needs openpyxl: pip install 'clientela[xlsx]' (or write "
                        ".csv or .parquet)") from None
    frame = result_table.to_pandas()
    for column in frame.columns:  # Excel has no time zones
        if hasattr(frame[column], "dt") and getattr(frame[column].dt, "tz", None) is not None:
            frame[column] = frame[column].dt.tz_localize(None)
    frame.to_excel(output, index=False, sheet_name="kpis")
