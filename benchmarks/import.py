"""Importing a plain orders CSV: rows per second, against DuckDB reading the same file.

Run: python benchmarks/import.py [--rows 500000] [--repeat 1]

`clientela import` parses every row, validates it against the Order model
(types, bounds, amounts), quarantines what fails, and upserts by key with a
hash per row, one transaction per batch. The baseline is the least any
loader can do with the same file: DuckDB's `read_csv` and one INSERT into a
fresh table, no validation. Both run in this process, one after the other,
on the same file, so the ratio holds on a shared machine where absolute
figures move with the other tenants. CPU seconds are printed next to wall
seconds for that reason too. Target (issue 14): at least 50,000 rows/s.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import tempfile
import time
from pathlib import Path

HEADER = ["order_id", "customer_id", "status", "placed_at", "subtotal", "discount", "total",
          "channel"]


def write_orders(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    customers = max(rows // 5, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            cents = rng.randint(1_000, 100_000)
            writer.writerow([
                f"O{i:08d}", f"C{rng.randint(1, customers):07d}", "paid",
                f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
                f"{cents / 100:.2f}", "0.00", f"{cents / 100:.2f}", "online"])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_clientela(csv_path: Path, store_path: Path) -> tuple[float, float, int, float]:
    """(wall s, CPU s, rows, CPU s of the main thread: reading and validating; the writer
    thread converts to Arrow and runs DuckDB, overlapping with it)."""
    from clientela.sources.files import FileSource, FileSourceConfig
    from clientela.store import Store
    from clientela.sync import run_sync

    wall, cpu, main_cpu = time.perf_counter(), _cpu(), time.thread_time()
    source = FileSource(FileSourceConfig(path=csv_path, entity="orders"))
    with Store(store_path) as store:
        summary = run_sync(store, "file", source, context={"timezone": "UTC"}, kind="import")
        landed = store.count("orders")
    totals = summary.totals()
    assert totals["quarantined"] == 0 and landed == totals["read"], totals
    return time.perf_counter() - wall, _cpu() - cpu, landed, time.thread_time() - main_cpu


def run_duckdb(csv_path: Path, store_path: Path) -> tuple[float, float, int]:
    import duckdb

    wall, cpu = time.perf_counter(), _cpu()
    con = duckdb.connect(str(store_path))
    con.execute("CREATE TABLE orders AS SELECT * FROM read_csv(?, header = true) LIMIT 0",
                [str(csv_path)])
    con.execute("INSERT INTO orders SELECT * FROM read_csv(?, header = true)", [str(csv_path)])
    row = con.execute("SELECT count(*) FROM orders").fetchone()
    con.close()
    return time.perf_counter() - wall, _cpu() - cpu, int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        csv_path = base / "orders.csv"
        write_orders(csv_path, args.rows)
        size = csv_path.stat().st_size
        print(f"{args.rows:,} orders, {size / 1e6:.1f} MB of CSV")
        print(f"{'run':<28}{'wall s':>9}{'cpu s':>9}{'rows/s (wall)':>16}{'rows/s (cpu)':>15}")
        for attempt in range(args.repeat):
            ours = run_clientela(csv_path, base / f"clientela-{attempt}.duckdb")
            theirs = run_duckdb(csv_path, base / f"duckdb-{attempt}.duckdb")
            for name, (wall, cpu, rows) in (("clientela import", ours[:3]),
                                            ("duckdb read_csv + INSERT", theirs)):
                print(f"{name:<28}{wall:>9.2f}{cpu:>9.2f}{rows / wall:>16,.0f}"
                      f"{rows / max(cpu, 1e-9):>15,.0f}")
            busiest = max(ours[3], ours[1] - ours[3])
            print(f"ratio (clientela / duckdb): wall {ours[0] / theirs[0]:.1f}x, "
                  f"cpu {ours[1] / theirs[1]:.1f}x; "
                  f"target >= 50,000 rows/s (wall): "
                  f"{'met' if args.rows / ours[0] >= 50_000 else 'NOT met'}")
            print(f"threads: main (read, validate) {ours[3]:.2f} s cpu, writer (Arrow, DuckDB) "
                  f"{ours[1] - ours[3]:.2f} s cpu; with two free cores the busier one bounds "
                  f"the import at about {args.rows / busiest:,.0f} rows/s")


if __name__ == "__main__":
    main()
