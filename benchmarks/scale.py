"""Benchmark: `clientela export --format parquet` of a demo store, full and incremental.

Builds a demo store of N orders (kept under the temporary directory, keyed by size, and
reused; `--fresh` rebuilds it), then times in this process:

- baseline: each canonical table written whole with one DuckDB COPY (no partitions,
  no fingerprints), the least an export can cost;
- the full export (partitioned by month, fingerprints, manifest);
- the incremental export with nothing changed (fingerprints only);
- the incremental export after one order changed (one partition rewritten).

and prints the figures and the ratios against the baseline side by side.

    python benchmarks/scale.py [--orders 1000000] [--fresh]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from clientela.agency.parquet_export import export_parquet
from clientela.demo import generate, load
from clientela.model.entities import ENTITIES
from clientela.store import Store


def _store(orders: int, fresh: bool) -> Path:
    path = Path(tempfile.gettempdir()) / f"clientela-scale-{orders}.duckdb"
    if fresh or not path.exists():
        path.unlink(missing_ok=True)
        started = time.perf_counter()
        with Store(path) as store:
            load(store, generate(customers=max(orders // 5, 100), orders=orders, seed=11))
        print(f"built the store ({orders:,} orders) in {time.perf_counter() - started:.1f} s")
    return path


def _baseline(store: Store, folder: Path) -> float:
    folder.mkdir(parents=True)
    started = time.perf_counter()
    for model in ENTITIES:
        store.con.execute(f"COPY (SELECT * FROM \"{model.table}\") TO "
                          f"'{folder / model.table}.parquet' (FORMAT parquet)")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    path = _store(args.orders, args.fresh)
    work = Path(tempfile.mkdtemp(prefix="clientela-scale-"))
    try:
        with Store(path) as store:
            baseline = _baseline(store, work / "baseline")
            timings: dict[str, float] = {}
            for label in ("full export", "incremental, nothing changed"):
                started = time.perf_counter()
                report = export_parquet(store, work / "lake")
                timings[label] = time.perf_counter() - started
                print(f"  {label}: {report.files_written} partition(s) written")
            store.con.execute("UPDATE orders SET total = total + 1 WHERE order_id = "
                              "(SELECT min(order_id) FROM orders)")
            started = time.perf_counter()
            report = export_parquet(store, work / "lake")
            timings["incremental, one order changed"] = time.perf_counter() - started
            print(f"  incremental, one order changed: {report.written}")
        print(f"\nexport of {args.orders:,} orders (every canonical table)")
        print(f"{'step':<34}{'seconds':>9}{'x baseline':>12}")
        print(f"{'baseline: one COPY per table':<34}{baseline:>9.2f}{1.0:>12.2f}")
        for label, seconds in timings.items():
            print(f"{label:<34}{seconds:>9.2f}{seconds / baseline:>12.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
