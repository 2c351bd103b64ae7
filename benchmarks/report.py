"""`clientela report` at scale: the monthly report of the demo store and of larger ones.

    python benchmarks/report.py                         # the demo store (100k orders)
    python benchmarks/report.py --sizes 100000 1000000  # and 1M orders (100k customers)
    python benchmarks/report.py --sizes 10000000        # the 10M-order store (1M customers)

Stores are built (or reused) by benchmarks/kpis.py's `demo_store`, cached under the temp
dir. Per size, in one process: the baseline, the bare KPI engine over the months the report
reads (the whole catalogue, month by month, the 13 shown and the 12 before, what
`clientela kpi --grain month` would compute), then the whole report (numbers, charts, page),
with the time of each section, the peak RSS and the ratio report / engine. Targets: the demo
store within 10 s; 10M orders within 60 s and 2 GB.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpi_rfm import PeakRss
from kpis import demo_store

from clientela.kpi import compute
from clientela.plugins import registry
from clientela.report import ReportRequest, build_report
from clientela.report.gather import _fits_a_model
from clientela.store import Store

TIMEZONE = "America/Sao_Paulo"
WINDOW = ("2024-01", "2025-12")
"""What the report over the demo's last 13 months (2024-12..2025-12) asks the engine: 12
more months for the year-ago change (the demo ends on 31 December 2025)."""
CUSTOMERS = {100_000: 20_000, 1_000_000: 100_000, 10_000_000: 1_000_000}
TARGETS = {100_000: "10 s", 10_000_000: "60 s, 2 GB"}


def run(orders: int, memory_limit: str | None) -> None:
    path = demo_store(orders, CUSTOMERS.get(orders, max(orders // 10, 10)))
    metrics = list(registry().metrics)
    with Store(path, read_only=True, memory_limit=memory_limit) as store:
        started = time.perf_counter()
        with PeakRss() as engine_rss:
            # the report asks the model-fitting metrics apart (they may refuse early months)
            fitted = [m for m in metrics if _fits_a_model(registry().metrics[m])]
            for names in ([m for m in metrics if m not in fitted], fitted):
                compute(store, names, start=WINDOW[0], end="2026-01", grain="month",
                        timezone=TIMEZONE, currency="BRL")
        engine = time.perf_counter() - started
        started = time.perf_counter()
        with PeakRss() as report_rss:
            report = build_report(store, ReportRequest(
                timezone=TIMEZONE, currency="BRL", store_name=path.name,
                generated_at=datetime.now(UTC)))
        total = time.perf_counter() - started
    size = len(report.html.encode("utf-8"))
    print(f"\n{orders:,} orders ({path.name}), memory_limit {memory_limit or 'default'}")
    print(f"  {'baseline: the KPI engine alone, 25 months':<46} {engine:7.1f} s  "
          f"peak RSS {engine_rss.peak / 2**30:.2f} GiB")
    print(f"  {'the report (numbers, charts, page)':<46} {total:7.1f} s  "
          f"peak RSS {report_rss.peak / 2**30:.2f} GiB  ratio {total / engine:.2f}x")
    for section, seconds in report.timings.seconds.items():
        print(f"    {section:<44} {seconds:7.2f} s")
    print(f"  page: {size / 1024:,.0f} KiB, {len(report.charts)} charts inline as SVG, "
          "no script")
    if orders in TARGETS:
        print(f"  target: {TARGETS[orders]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000],
                        help="Orders per store (100000 is the demo store).")
    parser.add_argument("--memory-limit", default="1GB",
                        help="the store's memory_limit, the process's cap ('none': DuckDB's default).")
    args = parser.parse_args()
    limit = None if args.memory_limit == "none" else args.memory_limit
    for orders in args.sizes:
        run(orders, limit)


if __name__ == "__main__":
    main()
