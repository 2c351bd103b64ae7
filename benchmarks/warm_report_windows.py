"""The rows `kpi_results` keeps after a year of monthly reports.

    python benchmarks/warm_report_windows.py --memory-limit 2GB    # 1M orders, 100k customers

A monthly report asks the catalogue warm over its window's months and the twelve before
(`clientela.report.gather`): 25 months, starting a month later every month. Answers kept per
series start (campaign ROI, `clv_predicted`, `p_alive`) add a series each month. Uses
benchmarks/kpis.py's cached demo store for the size, copied, and asks the catalogue as the
report does (`compute_available`) over 13 such windows, the last ending with the demo's 36
months; then prints the rows kept, in all and of the answers kept per series start, with
`warm.KEEP_SERIES_STARTS` as it is and then unbounded (on another copy): the code after and
before the bound. Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpis import answerable, demo_store
from kpis_warm import TIMEZONE, limit_of, store_arguments, timed

from clientela.kpi import warm
from clientela.metrics.api import Metric
from clientela.metrics.catalog import builtin_metrics
from clientela.report.gather import compute_available
from clientela.report.window import add_months, month_label
from clientela.store import Store
from clientela.store.touched import RESULTS_TABLE

WINDOWS = 13
MONTHS = 25
"""A report's 13 months and the twelve before them."""
LAST_END = "2026-01"


def reports(store: Store, metrics: list[Metric]) -> None:
    from datetime import datetime

    last_end = datetime.fromisoformat(f"{LAST_END}-01")
    for back in range(WINDOWS - 1, -1, -1):
        end = add_months(last_end, -back)
        start = add_months(end, -MONTHS)
        months = [(month_label(add_months(start, i)), month_label(add_months(start, i + 1)))
                  for i in range(MONTHS)]
        timed(f"report window {month_label(start)} .. {month_label(end)}",
              lambda s=start, e=end, m=months: compute_available(
                  store, metrics, periods=m, start=month_label(s), end=month_label(e),
                  grain="month", timezone=TIMEZONE, currency="BRL", reuse=True))


def kept(store: Store) -> str:
    total, keyed, starts = store.con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE metric IN ('campaign_roi', 'clv_predicted',
               'p_alive')),
               count(DISTINCT result_key) FILTER (WHERE metric IN ('campaign_roi',
               'clv_predicted', 'p_alive'))
        FROM {RESULTS_TABLE}""").fetchone()
    return (f"{total:,} rows kept; of campaign ROI, clv_predicted and p_alive {keyed:,} rows "
            f"in {starts} series")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    store_arguments(parser)
    args = parser.parse_args(argv)
    source = demo_store(args.orders, args.orders // 10)
    folder = Path(tempfile.mkdtemp(prefix="clientela-report-windows-"))
    bound = warm.KEEP_SERIES_STARTS
    try:
        for label, keep in ((f"KEEP_SERIES_STARTS = {bound}", bound),
                            ("unbounded (as before)", 10**9)):
            warm.KEEP_SERIES_STARTS = keep
            path = folder / "warm.duckdb"
            shutil.copy(source, path)
            with Store(path, memory_limit=limit_of(args)) as store:
                names = set(answerable(store))
                metrics = [m for m in builtin_metrics() if m.name in names]
                print(f"\n{args.orders:,} orders, {len(metrics)} metrics, {WINDOWS} report "
                      f"windows of {MONTHS} months: {label}", flush=True)
                reports(store, metrics)
                print(f"  {kept(store)}", flush=True)
            path.unlink()
    finally:
        warm.KEEP_SERIES_STARTS = bound
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
