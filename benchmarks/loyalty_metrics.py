"""The loyalty metrics, each alone, monthly over 36 months: the shipped definitions against
the ones they replaced (kept in tests/kpi/_loyalty_reference.py), side by side in one process.

    python benchmarks/loyalty_metrics.py                      # the 1M-order demo store
    python benchmarks/loyalty_metrics.py --orders 10000000 --customers 1000000
    python benchmarks/loyalty_metrics.py --metrics loyalty_points_expiring

Uses the cached demo store of benchmarks/kpis.py (built on first use). For each metric,
the reference runs first, then the shipped definition, each in its own engine call (so
neither reads the other's shared tables); their answers are checked equal before any time
is shown. Wall and CPU seconds (every thread of the process; on a shared machine CPU is the
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--metrics", nargs="*", default=None)
    args = parser.parse_args()

    import _loyalty_reference as reference

    from clientela.metrics.loyalty import metrics
    from clientela.store import Store

    path = demo_store(args.orders, args.customers or args.orders // 10)
    new = {m.name: m for m in metrics()}
    old = {m.name: replace(m, name="ref_" + m.name) for m in reference.metrics()}
    names = args.metrics or sorted(new)
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
