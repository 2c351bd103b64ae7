"""`clientela segments`: customer segments computed from the store.

`rfm` scores every customer as of a date, replaces the store's `rfm_scores`
table (so destinations and reports read one current version), optionally
writes a CSV or Parquet file, and prints the segment summary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.table import Table

from clientela.cli.common import UserError, console, kpi_problem, workspace

SCORES_TABLE = "rfm_scores"
segments_app = typer.Typer(help="Segment customers (RFM) and save the segments.",
                           no_args_is_help=True)


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


def compute_rfm(store: object, as_of: datetime, timezone: str, currency: str) -> pa.Table:
    """Customer-level RFM as Arrow (customer_id, recency_days, frequency, monetary, revenue,
    r, f, m, fm, segment, as_of)."""
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.engine import backend_of
    from clientela.kpi.periods import Period
    from clientela.segments.rfm import rfm_table

    backend = backend_of(store)
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    ctx = MetricContext(backend=backend, period=period, as_of=as_of, timezone=timezone,
                        currency=currency, metric="rfm", cache=TableCache(backend))
    scored = rfm_table(ctx).order_by("customer_id").to_pyarrow()
    return scored.append_column("as_of", pa.array([as_of] * scored.num_rows, pa.timestamp("us")))


def summary(scores: pa.Table) -> list[dict[str, object]]:
    rows: dict[str, dict[str, float]] = {}
    for rec in scores.to_pylist():
        seg = rows.setdefault(rec["segment"], {"customers": 0, "revenue": 0.0, "r": 0, "f": 0,
                                               "m": 0})
        seg["customers"] += 1
        seg["revenue"] += float(rec["revenue"])
        for key in ("r", "f", "m"):
            seg[key] += rec[key]
    total = scores.num_rows or 1
    return [
        {"segment": name, "customers": int(s["customers"]), "share": s["customers"] / total,
         "revenue": s["revenue"], "mean_r": s["r"] / s["customers"],
         "mean_f": s["f"] / s["customers"], "mean_m": s["m"] / s["customers"]}
        for name, s in sorted(rows.items(), key=lambda kv: -kv[1]["customers"])
    ]


def rfm(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Score as of this date (its start, workspace time zone); default: "
        "the end of today.")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also write the scores to a .csv or .parquet file.")] = None,
) -> None:
    """Score every customer (R, F, M, segment), save to the store table rfm_scores and print
    the segment summary."""
    from clientela.kpi import KpiError

    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"--output {output}: expected a file ending in .csv or .parquet")
    settings = workspace.settings.workspace
    instant = _as_of(as_of, settings.timezone)
    with workspace.store() as store:
        try:
            scores = compute_rfm(store, instant, settings.timezone, settings.currency)
        except KpiError as error:
            raise kpi_problem(error) from None
        with store.transaction() as con:
            con.register("_rfm_new", scores)
            con.execute(f"CREATE OR REPLACE TABLE {SCORES_TABLE} AS SELECT * FROM _rfm_new")
            con.unregister("_rfm_new")
    if output is not None:
        if output.suffix.lower() == ".csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(scores, output)
        else:
            import pyarrow.parquet as pq

            pq.write_table(scores, output)
    table = Table(title=f"RFM segments as of {instant:%Y-%m-%d %H:%M} UTC "
                  f"({scores.num_rows} customers)")
    for name in ("segment", "customers", "share", "revenue", "mean R", "mean F", "mean M"):
        table.add_column(name, justify="left" if name == "segment" else "right")
    for row in summary(scores):
        table.add_row(str(row["segment"]), f"{row['customers']:,}", f"{row['share']:.1%}",
                      f"{row['revenue']:,.2f}", f"{row['mean_r']:.2f}", f"{row['mean_f']:.2f}",
                      f"{row['mean_m']:.2f}")
    console.print(table)
    if output is not None:
        console.print(f"wrote {scores.num_rows} customers to {output}")


segments_app.command("rfm")(rfm)


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")
