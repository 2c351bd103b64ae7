"""The loyalty metrics, each alone, monthly over 36 months: the shipped definitions against
the ones they replaced (kept in tests/kpi/_loyalty_reference.py), side by side in one process.

    python benchmarks/loyalty_metrics.py                      # the 1M-order demo store
    python benchmarks/loyalty_metrics.py --orders 10000000 --customers 1000000
    python benchmarks/loyalty_metrics.py --metrics loyalty_points_expiring
    python benchmarks/loyalty_metrics.py --together            # in catalogue order, one call

Uses the cached demo store of benchmarks/kpis.py (built on first use), or --store PATH. For
each metric, the reference runs first, then the shipped definition, each in its own engine
call (so neither reads the other's shared tables); their answers are checked equal before
any time is shown. --together instead answers all the loyalty metrics in one call, in the
catalogue's order and after three order metrics (orders, revenue, gross_sales), so that the
call, like the catalogue's, shares its valid orders and the loyalty tables; each metric's
figure is then the engine's own timing of it (its wall seconds, logged at DEBUG), with the
CPU seconds spent between the engine's log lines, for the reference and the shipped
definitions (two calls), and the loyalty metrics' totals. Wall and CPU seconds (every thread of the process; on a shared machine CPU is the
steadier figure) and the load average. Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "kpi"))

from kpis import END, START, demo_store, load  # noqa: E402


def timed(store: object, metric: object) -> tuple[float, float, list[tuple[str, ...]]]:
    from clientela.kpi import compute

    wall, cpu = time.perf_counter(), time.process_time()
    result = compute(store, [metric.name], start=START, end=END, grain="month",  # type: ignore[attr-defined]
                     catalog={metric.name: metric})  # type: ignore[attr-defined]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = sorted(tuple(str(v) for k, v in sorted(row.items()) if k != "metric")
                  for row in result.rows())
    return wall, cpu, rows


PREFIX = ("orders", "revenue", "gross_sales")
"""Metrics answered before the loyalty ones in --together: with them the call has as many
metrics as the catalogue needs to write the valid orders out once (MANY_METRICS)."""


def together(store: object, metrics: list[object]) -> tuple[dict[str, tuple[float, float]],
                                                             list[tuple[str, ...]]]:
    """Each metric's (wall, CPU) seconds in one engine call of PREFIX + `metrics`, and the
    loyalty metrics' rows (names without the reference's prefix)."""
    import logging

    from clientela.kpi import compute
    from clientela.metrics.catalog import builtin_metrics

    marks: list[tuple[float, str]] = []

    class Mark(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            marks.append((time.process_time(), record.getMessage()))

    log = logging.getLogger("clientela.kpi.engine")
    handler, level = Mark(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    builtin = {m.name: m for m in builtin_metrics()}
    catalog = {**{n: builtin[n] for n in PREFIX},
               **{m.name: m for m in metrics}}  # type: ignore[attr-defined]
    try:
        started = time.process_time()
        result = compute(store, list(catalog), start=START, end=END, grain="month",
                         catalog=catalog)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    figures: dict[str, tuple[float, float]] = {}
    for cpu, message in marks:
        name, _, rest = message.partition(":")
        wall = float(rest.split(" in ")[1].split(" s")[0])
        figures[name.removeprefix("ref_")] = (wall, cpu - started)
        started = cpu
    rows = sorted(tuple(str(v) for k, v in sorted(row.items()) if k != "metric")
                  + (str(row["metric"]).removeprefix("ref_"),)
                  for row in result.rows() if str(row["metric"]) not in PREFIX)
    return figures, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--metrics", nargs="*", default=None)
    parser.add_argument("--store", type=Path, default=None,
                        help="a store to read instead of the demo store")
    parser.add_argument("--together", action="store_true",
                        help="all the loyalty metrics in one call, in catalogue order")
    args = parser.parse_args()

    import _loyalty_reference as reference

    from clientela.metrics.loyalty import metrics
    from clientela.store import Store

    path = args.store or demo_store(args.orders, args.customers or args.orders // 10)
    new = {m.name: m for m in metrics()}
    old = {m.name: replace(m, name="ref_" + m.name) for m in reference.metrics()}
    names = args.metrics or sorted(new)
    if args.together:
        order = [m.name for m in metrics()]  # the catalogue's order
        with Store(path, read_only=True) as store:
            print(f"{path.name}, monthly {START}..{END}, in catalogue order after "
                  f"{', '.join(PREFIX)}, one call each [{load()}]")
            b_fig, before = together(store, [old[n] for n in order])
            a_fig, after = together(store, [new[n] for n in order])
        if before != after:
            raise SystemExit("the answers differ")
        print(f"  {'metric':32s} {'before wall/CPU s':>18s} {'after wall/CPU s':>18s}")
        for name in [*PREFIX, *order, "total"]:
            if name == "total":
                b = [sum(b_fig[n][i] for n in order) for i in (0, 1)]
                a = [sum(a_fig[n][i] for n in order) for i in (0, 1)]
            else:
                b, a = list(b_fig[name]), list(a_fig[name])
            print(f"  {name:32s} {b[0]:8.2f} /{b[1]:7.2f}  {a[0]:8.2f} /{a[1]:7.2f}")
        print(f"[{load()}] pid {os.getpid()} done")
        return
    print(f"{path.name}, monthly {START}..{END}, each metric alone [{load()}]")
    print(f"  {'metric':32s} {'before wall/CPU s':>18s} {'after wall/CPU s':>18s} "
          f"{'CPU ratio':>9s}")
    with Store(path, read_only=True) as store:
        timed(store, new[names[0]])  # imports and first-query setup, outside the figures
        for name in names:
            b_wall, b_cpu, before = timed(store, old[name])
            a_wall, a_cpu, after = timed(store, new[name])
            if before != after:
                raise SystemExit(f"{name}: the answers differ")
            print(f"  {name:32s} {b_wall:8.2f} /{b_cpu:7.2f}  {a_wall:8.2f} /{a_cpu:7.2f}  "
                  f"{b_cpu / a_cpu:8.2f}x  [{load()}]", flush=True)
    print(f"pid {os.getpid()} done")


if __name__ == "__main__":
    main()
