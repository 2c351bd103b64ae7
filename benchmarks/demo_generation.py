"""How long the demo store takes to generate, and how much memory it needs.

Run: python benchmarks/demo_generation.py [--load]

Generation must stay vectorised: 1M orders in under a minute (issue 3).
Each size runs in a fresh process so that one size's peak memory does not
hide the next one's. `--load` also times loading into a temporary store.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = ((20_000, 100_000), (200_000, 1_000_000))
LIMIT_SECONDS = {1_000_000: 60.0}


def _measure(customers: int, orders: int, with_load: bool) -> dict[str, float | int]:
    from clientela.demo import generate, load
    from clientela.store.store import Store

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    data = generate(customers=customers, orders=orders, seed=42)
    generation = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result: dict[str, float | int] = {
        "customers": customers,
        "orders": data["orders"].num_rows,
        "rows": sum(data.counts().values()),
        "seconds": round(generation, 2),
        "peak_mib": round(peak_kib / 1024, 1),
        "baseline_mib": round(before / 1024, 1),
    }
    if with_load:
        with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as s:
            started = time.perf_counter()
            load(s, data)
            result["load_seconds"] = round(time.perf_counter() - started, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="also time loading into a store")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        customers, orders = args.child
        print(json.dumps(_measure(customers, orders, args.load)))
        return 0
    failed = False
    for customers, orders in SIZES:
        command = [sys.executable, __file__, "--child", str(customers), str(orders)]
        if args.load:
            command.append("--load")
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        line = (f"{result['orders']:>9,} orders, {result['customers']:>7,} customers, "
                f"{result['rows']:>10,} rows: {result['seconds']:6.2f} s, "
                f"peak RSS {result['peak_mib']:7.1f} MiB")
        if "load_seconds" in result:
            line += f", load {result['load_seconds']:.1f} s"
        limit = LIMIT_SECONDS.get(orders)
        if limit is not None and result["seconds"] > limit:
            line += f"  SLOWER THAN {limit:.0f} s"
            failed = True
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
