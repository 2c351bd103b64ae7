"""The point-in-time metrics' newest month after one new day of orders, state carried.

    python benchmarks/warm_point_in_time.py                   # 1M orders, 100k customers
    python benchmarks/warm_point_in_time.py --orders 10000000 --memory-limit 2GB --rounds 2

What the warm call asks the engine for these twelve metrics after one new day
(`kpis_warm.new_day`), with the customer state kept as of the newest month's start: each
metric alone (`--alone`) and the twelve in one call, best of `--rounds`, CPU and wall
seconds with the machine's load (it is shared). Uses benchmarks/kpis.py's cached demo store,
copied so the benchmark's writes do not change it. `--dump` writes the twelve's answer rows
(a pickle) to compare the code before and after a change. Timing is for people, never
asserted by tests.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kpis_warm
from kpis import END, START, demo_store

from clientela.kpi import compute, warm
from clientela.kpi.carried import carrying
from clientela.kpi.periods import buckets, parse_bound, zone
from clientela.store import Store

POINT_IN_TIME = ["retention_rate", "churn_rate", "repeat_rate", "lapsed_customers",
                 "winback_rate", "recency_days", "interpurchase_days", "return_probability",
                 "avg_frequency", "cohort_retention", "ltv_historical", "rfm_segments"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    kpis_warm.store_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alone", action="store_true", help="each metric alone too")
    parser.add_argument("--dump", type=Path, help="write the twelve's answer rows here")
    args = parser.parse_args(argv)
    source = demo_store(args.orders, max(10, args.orders // 10))
    folder = Path(tempfile.mkdtemp(prefix="clientela-pit-"))
    path = folder / "warm.duckdb"
    shutil.copy(source, path)
    month: dict[str, Any] = dict(start="2025-12", end=END, grain="month",
                                 timezone=kpis_warm.TIMEZONE)
    try:
        with Store(path, memory_limit=kpis_warm.limit_of(args)) as store:
            kpis_warm.new_day(store, 0)
            periods = buckets(parse_bound(START), parse_bound(END), "month",
                              zone(kpis_warm.TIMEZONE))
            carried = warm._carry(store, store.con, periods, len(periods) - 1,
                                  kpis_warm.TIMEZONE, "BRL", 0)
            if carried is None:
                raise SystemExit("the customer state could not be kept in this store")
            reading = replace(carried, call_start=carried.as_of)
            calls = ([[name] for name in POINT_IN_TIME] if args.alone else []) + [POINT_IN_TIME]
            best: dict[str, tuple[float, float]] = {}
            rows: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                for names in calls:
                    cpu, wall = kpis_warm.cpu(), time.perf_counter()
                    with carrying(reading):
                        found = compute(store, names, **month)
                    spent = (kpis_warm.cpu() - cpu, time.perf_counter() - wall)
                    label = names[0] if len(names) == 1 else f"all {len(names)} in one call"
                    best[label] = min(best.get(label, spent), spent)
                    rows = found.rows()
            print(f"{args.orders:,} orders, newest month, best of {args.rounds}   "
                  f"{kpis_warm.load()}")
            for label, (spent, wall) in best.items():
                print(f"  {label:<28} CPU {spent:6.2f} s   wall {wall:6.2f} s")
            if args.dump:
                args.dump.write_bytes(pickle.dumps(rows))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
