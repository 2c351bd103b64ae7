"""`clientela clv`: fit the CLV models, check them on a holdout, value the customers.

A thin layer over `clientela.clv.engine.run_clv`, which fits, checks, values
and saves `clv_scores` (a script calls it the same way); this module checks
the options and prints. A fit the data cannot support, or a store without
orders, ends with one line saying what to change, never a traceback. With
`--engine spark|postgres` the purchase summary is computed there, the models are
fitted here, and `clv_scores` is saved to the workspace's store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clientela.agency.engines import ENGINE_FLAG_HELP
from clientela.cli.common import UserError, console, kpi_problem, workspace
from clientela.store.derived import CLV_SCORES

MODELS = ("bgnbd", "paretonbd")
UNITS = ("days", "weeks")
_NAMES = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD", "gammagamma": "Gamma-Gamma"}


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def clv_command(
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=600,
                                         help="Months of future revenue to value.")] = 12,
    holdout: Annotated[int, typer.Option("--holdout", min=0, max=120,
                                         help="Last months kept out of the fit to check it "
                                         "(0: fit on everything, no check).")] = 6,
    model: Annotated[str, typer.Option("--model", help="Purchase model: bgnbd or "
                                       "paretonbd.")] = "bgnbd",
    unit: Annotated[str, typer.Option("--unit", help="Time unit: days or weeks.")] = "days",
    discount_rate: Annotated[float, typer.Option("--discount-rate",
                                                 help="Monthly discount rate.")] = 0.01,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Also write per-customer predictions to a .csv or .parquet "
        "file.")] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", metavar="ENGINE", help=ENGINE_FLAG_HELP)] = None,
) -> None:
    """Fit BG/NBD (or Pareto/NBD) and Gamma-Gamma on the history minus the holdout, print the
    parameters, CLV per RFM segment and predicted against actual holdout purchases."""
    from clientela.agency.engines import computing_on, engine_config
    from clientela.clv import ClvFitError
    from clientela.clv.engine.run import run_clv
    from clientela.kpi import KpiError

    if model not in MODELS:
        raise UserError(f"--model {model}: expected one of {', '.join(MODELS)}")
    if unit not in UNITS:
        raise UserError(f"--unit {unit}: expected one of {', '.join(UNITS)}")
    if discount_rate <= -1:
        raise UserError(f"--discount-rate {discount_rate}: must be greater than -1")
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"--output {output}: expected a file ending in .csv or .parquet")
    settings = workspace.settings.workspace
    engine_choice = engine_config(workspace.settings.engine, engine)
    with workspace.store() as store, computing_on(engine_choice, store) as source:
        try:
            report = run_clv(store, horizon_months=horizon, holdout_months=holdout,
                             model=model, unit=unit, discount_rate=discount_rate,
                             timezone=settings.timezone, currency=settings.currency,
                             engine=source)
        except ClvFitError as error:
            raise UserError(" ".join(str(error).split())) from None
        except KpiError as error:
            raise kpi_problem(error) from None
    _print_fits(report, unit)
    _print_segments(report, horizon, settings.currency)
    _print_holdout(report, unit)
    console.print(f"saved CLV and P(alive) of {report.customer_table.num_rows:,} customers "
                  f"to the store table {CLV_SCORES.name} (pushable as fields clv and p_alive)")
    if output is not None:
        _write(report.customer_table, output)
        console.print(f"wrote {report.customer_table.num_rows:,} customers to {output}")


def _print_fits(report: object, unit: str) -> None:
    from clientela.clv.engine.report import ClvReport

    assert isinstance(report, ClvReport)
    purchases, spend = report.fits.purchases, report.fits.spend
    table = Table(title=f"Parameters fitted on {report.local_day(report.calibration_start)} "
                  f"to {report.local_day(report.calibration_end, exclusive=True)} "
                  f"({purchases.n_customers:,} customers, rates per {unit[:-1]})")
    for name in ("model", "parameter", "estimate", "std. error"):
        table.add_column(name, justify="left" if name in ("model", "parameter") else "right")
    for fit in (purchases, spend):
        for name, value in fit.params.items():
            table.add_row(_NAMES[fit.model], name, _number(value),
                          _number(fit.standard_errors[name]))
        table.add_row(_NAMES[fit.model], "log-likelihood", f"{fit.log_likelihood:,.2f}", "",
                      end_section=True)
    console.print(table)


def _print_segments(report: object, horizon: int, currency: str) -> None:
    from clientela.clv.engine.report import ClvReport

    assert isinstance(report, ClvReport)
    source = "RFM segment" if report.segmented else "all customers (no RFM segmenter)"
    table = Table(title=f"{horizon}-month CLV ({currency}) after "
                  f"{report.local_day(report.history_end, exclusive=True)}, by {source}")
    for name in ("segment", "customers", "P(alive)", "purchases", "mean CLV", "total CLV",
                 "share"):
        table.add_column(name, justify="left" if name == "segment" else "right",
                         no_wrap=name != "segment")
    for row in report.segments:
        share = row["share"]
        table.add_row(row["segment"], f"{row['customers']:,}", _number(row["p_alive"], 3),
                      f"{row['expected_purchases']:,.1f}", _money(row["mean_clv"]),
                      f"{row['total_clv']:,.0f}", "-" if share is None else f"{share:.1%}",
                      end_section=row is report.segments[-2] if len(report.segments) > 1
                      else False)
    console.print(table)


def _print_holdout(report: object, unit: str) -> None:
    from clientela.clv.engine.report import ClvReport

    assert isinstance(report, ClvReport)
    check = report.holdout
    if check is None:
        console.print("Holdout check: none (--holdout 0)")
        return
    table = Table(title=f"Holdout check: purchases per customer in the {report.holdout_months} "
                  f"months from {report.local_day(report.calibration_end)} "
                  f"({report.holdout_length:.4g} {unit}), by calibration repeat purchases")
    for name in ("repeat purchases", "customers", "predicted", "actual"):
        table.add_column(name, justify="left" if name == "repeat purchases" else "right")
    for label, customers, predicted, actual in zip(
            check.labels, check.customers, check.predicted_mean, check.actual_mean, strict=True):
        table.add_row(label, f"{int(customers):,}", _number(float(predicted), 3),
                      _number(float(actual), 3))
    table.add_row("all (total)", f"{int(check.customers.sum()):,}",
                  f"{check.predicted_total:,.1f}", f"{check.actual_total:,.0f}",
                  end_section=False)
    console.print(table)


def _write(table: object, output: Path) -> None:
    import pyarrow as pa

    assert isinstance(table, pa.Table)
    if output.suffix.lower() == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, output)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, output)


def register(app: typer.Typer) -> None:
    app.command("clv")(clv_command)
