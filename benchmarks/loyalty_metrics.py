"""The loyalty metrics before and after, side by side in one process: each alone, monthly
over 36 months, or all of them in one call in the catalogue's order (--together).

    python benchmarks/loyalty_metrics.py                      # the 1M-order demo store
    python benchmarks/loyalty_metrics.py --orders 10000000 --customers 1000000
    python benchmarks/loyalty_metrics.py --metrics loyalty_points_expiring
    python benchmarks/loyalty_metrics.py --baseline 6b64bb5   # against another commit's
    python benchmarks/loyalty_metrics.py --together --store PATH
    python benchmarks/loyalty_metrics.py --newest-month --baseline main --memory-limit 2GB

Uses the cached demo store of benchmarks/kpis.py (built on first use), or --store PATH.
"Before" is the reference definitions kept in tests/kpi/_loyalty_reference.py, or with
--baseline the module metrics/loyalty.py as of that git revision (--together: `main` unless
given). Alone, each metric's before runs first, then its after, each in its own engine call
(so neither reads the other's shared tables). --together answers all the loyalty metrics
in one call after three order metrics (orders, revenue, gross_sales), so that the call,
like the catalogue's, shares its valid orders and the loyalty tables among them; each
metric's figure is the engine's own wall time for it and the CPU seconds between the
engine's log lines, with the loyalty metrics' total. --newest-month times what a warm call
asks after one new day: the newest month, on a copy of the store with a day of orders
added and the customer state (with its loyalty ledger) kept as of the month's start, each
metric alone, the two balance metrics in one call and the seven in one call, the
baseline's definitions (`main` unless given) against the working tree's, `--rounds` times
each (the best CPU figure). Either way the answers are checked equal before any time is
shown. Wall and CPU seconds (every thread of the process; on a shared machine CPU is the
steadier figure) and the load average. Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "kpi"))

from campaigns import Timing, engine_timing, module_at  # noqa: E402
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


MODULE = "core/src/clientela/metrics/loyalty.py"
PREFIX = ("orders", "revenue", "gross_sales")
"""Metrics answered before the loyalty ones in --together: with them the call has as many
metrics as the catalogue needs to write the valid orders out once (MANY_METRICS)."""


BALANCES = ("loyalty_members_with_points", "loyalty_redeemable_members")
"""The two metrics that answer from the same balances (--newest-month asks them together
too)."""


def together(store: object, metrics: list[Any]) -> tuple[Timing, list[tuple[str, ...]]]:
    """Each metric's wall and CPU seconds in one engine call of PREFIX + `metrics`, and the
    loyalty metrics' rows."""
    from clientela.kpi import compute
    from clientela.metrics.catalog import builtin_metrics

    builtin = {m.name: m for m in builtin_metrics()}
    catalog = {**{n: builtin[n] for n in PREFIX}, **{m.name: m for m in metrics}}
    with engine_timing() as timing:
        result = compute(store, list(catalog), start=START, end=END, grain="month",
                         catalog=catalog)
    rows = sorted(tuple(str(v) for k, v in sorted(row.items()))
                  for row in result.rows() if str(row["metric"]) not in PREFIX)
    return timing, rows


def newest_month(source: Path, baseline: str, memory_limit: str | None, rounds: int) -> None:
    """See the module's docstring (--newest-month)."""
    import shutil
    import tempfile

    from kpis_warm import cpu, new_day

    from clientela.kpi import compute, warm
    from clientela.kpi.carried import carrying
    from clientela.kpi.periods import buckets, parse_bound, zone
    from clientela.metrics.catalog import builtin_metrics
    from clientela.store import Store

    folder = Path(tempfile.mkdtemp(prefix="clientela-loyalty-"))
    path = folder / "newest.duckdb"
    shutil.copy(source, path)
    builtin = {m.name: m for m in builtin_metrics()}
    catalogs = {"before": {**builtin, **{m.name: m for m in module_at(baseline, MODULE).metrics()}},
                "after": builtin}
    names = [n for n in builtin if n.startswith("loyalty_")]
    calls = [[n] for n in names] + [list(BALANCES), names]
    try:
        with Store(path, memory_limit=memory_limit) as store:
            new_day(store, 0)
            periods = buckets(parse_bound(START), parse_bound(END), "month", zone("UTC"))
            spent, started = cpu(), time.perf_counter()
            carried = warm._carry(store, store.con, periods, len(periods) - 1, "UTC", "BRL", 0)
            if carried is None:
                raise SystemExit("the customer state could not be kept in this store")
            print(f"{source.name} + one new day, the newest month; state as of {carried.as_of} "
                  f"kept in {time.perf_counter() - started:.2f} s (CPU {cpu() - spent:.2f} s); "
                  f"before = {baseline} [{load()}]", flush=True)
            best: dict[tuple[str, int], tuple[float, float]] = {}
            rows: dict[tuple[str, int], Any] = {}
            for _ in range(rounds):
                for label, catalog in catalogs.items():
                    for index, call in enumerate(calls):
                        with carrying(replace(carried, call_start=carried.as_of)):
                            spent, started = cpu(), time.perf_counter()
                            result = compute(store, call, start="2025-12", end=END,
                                             grain="month", timezone="UTC", catalog=catalog)
                            figure = (cpu() - spent, time.perf_counter() - started)
                        best[label, index] = min(best.get((label, index), figure), figure)
                        rows[label, index] = result.rows()
            print(f"  {'metric':32s} {'before CPU/wall s':>18s} {'after CPU/wall s':>18s}")
            for index, call in enumerate(calls):
                if rows["before", index] != rows["after", index]:
                    raise SystemExit(f"{call}: the answers differ")
                (bc, bw), (ac, aw) = best["before", index], best["after", index]
                label = (call[0] if len(call) == 1 else "the two balances in one call"
                         if call == list(BALANCES) else "all seven in one call")
                print(f"  {label:32s} {bc:8.2f} /{bw:7.2f}  {ac:8.2f} /{aw:7.2f}")
            print(f"[{load()}] pid {os.getpid()} done")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--metrics", nargs="*", default=None)
    parser.add_argument("--store", type=Path, default=None,
                        help="a store to read instead of the demo store")
    parser.add_argument("--together", action="store_true",
                        help="all the loyalty metrics in one call, in catalogue order")
    parser.add_argument("--memory-limit", default=None,
                        help="the store's memory_limit (e.g. 2GB; default DuckDB's)")
    parser.add_argument("--newest-month", action="store_true",
                        help="the newest month's warm engine call, before and after")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default=None,
                        help="the git revision whose loyalty metrics are the 'before' "
                             "(default: the reference definitions alone, main together)")
    args = parser.parse_args()

    import _loyalty_reference as reference

    from clientela.metrics.loyalty import metrics
    from clientela.store import Store

    path = args.store or demo_store(args.orders, args.customers or args.orders // 10)
    if args.newest_month:
        newest_month(path, args.baseline or "main", args.memory_limit, args.rounds)
        return
    new = {m.name: m for m in metrics()}
    was = reference if args.baseline is None else module_at(args.baseline, MODULE)
    old = {m.name: replace(m, name="ref_" + m.name) for m in was.metrics()}
    names = args.metrics or sorted(new)
    if args.together:
        order = [m.name for m in metrics()]  # the catalogue's order
        args.baseline = args.baseline or "main"
        base = {m.name: m for m in module_at(args.baseline, MODULE).metrics()}
        with Store(path, read_only=True, memory_limit=args.memory_limit) as store:
            print(f"{path.name}, monthly {START}..{END}, in catalogue order after "
                  f"{', '.join(PREFIX)}, one call each; before = {args.baseline} [{load()}]")
            b_time, before = together(store, [base[n] for n in order])
            a_time, after = together(store, [new[n] for n in order])
        if before != after:
            raise SystemExit("the answers differ")
        print(f"  {'metric':32s} {'before wall/CPU s':>18s} {'after wall/CPU s':>18s} "
              f"{'CPU ratio':>9s}")
        for name in [*PREFIX, *order, "loyalty total"]:
            names = order if name == "loyalty total" else [name]
            bw = sum(b_time.wall[n] for n in names)
            bc = sum(b_time.cpu[n] for n in names)
            aw = sum(a_time.wall[n] for n in names)
            ac = sum(a_time.cpu[n] for n in names)
            print(f"  {name:32s} {bw:8.2f} /{bc:7.2f}  {aw:8.2f} /{ac:7.2f}  "
                  f"{bc / max(ac, 1e-9):8.2f}x")
        print(f"[{load()}] pid {os.getpid()} done")
        return
    print(f"{path.name}, monthly {START}..{END}, each metric alone [{load()}]")
    print(f"  {'metric':32s} {'before wall/CPU s':>18s} {'after wall/CPU s':>18s} "
          f"{'CPU ratio':>9s}")
    with Store(path, read_only=True, memory_limit=args.memory_limit) as store:
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
