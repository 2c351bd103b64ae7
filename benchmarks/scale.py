"""Benchmarks for one machine growing into a cluster: the Parquet export, and RFM plus the
monthly cohort matrix at 1M, 10M and 100M orders under a memory cap.

`export` takes the demo store of N orders that `benchmarks/kpis.py` caches (built block by
block on first use; `--fresh` rebuilds it), works on a copy, then times in this process:

- baseline: each canonical table written whole with one DuckDB COPY (no partitions,
  no fingerprints), the least an export can cost;
- the full export (partitioned by month, fingerprints, manifest), two tables at a time (the
  default; with `--serial`, also one table at a time);
- the incremental export with nothing changed (fingerprints only);
- the incremental export after one order changed (checked: one partition rewritten).

and prints the figures and the ratios against the baseline side by side, with the load
average after each step (the machine is shared).

`kpis` builds an orders-only store per size with the vectorised generator of
`kpi_rfm.py` (a 100M-order demo store would take most of an hour to generate), then, each
in a fresh child process, computes RFM segments and the monthly cohort matrix with
`clientela.kpi.compute`, and the same two answers with hand-written DuckDB SQL; checks that
both give the same counts; prints seconds (wall and CPU), the child's peak RSS against the
cap (`--memory`, 2GB), how much DuckDB spilled to disk, the ratio against the SQL and how
time grows with orders (the load average is printed next to every figure: the machine is
shared). DuckDB's `memory_limit` covers its buffer manager only, not Python, the Arrow
results or the allocator's slack, so each child gives DuckDB less than the cap
(`--duckdb-memory`, 1536MB) and does not keep insertion order (`--insertion-order free`).

    python benchmarks/scale.py export [--orders 1000000] [--fresh] [--serial]
    python benchmarks/scale.py kpis [--sizes 1000000,10000000,100000000] [--memory 2GB]
                                    [--duckdb-memory 1536MB] [--threads N] [--kinds ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clientela.agency.parquet_export import ExportReport, export_parquet, exported_tables
from clientela.store import Store


def _store(orders: int, fresh: bool) -> Path:
    """A copy (the export benchmark edits an order) of `benchmarks/kpis.py`'s cached demo
    store of that size, built block by block on first use so memory stays flat at 10M."""
    from kpis import CACHE, demo_store

    customers = max(10, orders // 10)
    if fresh:
        (CACHE / f"demo-{orders}-{customers}.duckdb").unlink(missing_ok=True)
    started = time.perf_counter()
    cached = demo_store(orders, customers)
    path = Path(tempfile.gettempdir()) / f"clientela-scale-export-{orders}.duckdb"
    shutil.copyfile(cached, path)
    print(f"store of {orders:,} orders ready in {time.perf_counter() - started:.1f} s")
    return path


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def _cpu() -> float:
    """This process's CPU seconds (every DuckDB thread): the work done, whatever the load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _baseline(store: Store, folder: Path) -> tuple[float, float, str]:
    """Each exported table written whole by one COPY, one table after the other: (seconds,
    CPU seconds, load average after)."""
    folder.mkdir(parents=True)
    started, cpu = time.perf_counter(), _cpu()
    for table in exported_tables(store):
        store.con.execute(f"COPY (SELECT * FROM \"{table}\") TO "
                          f"'{folder / table}.parquet' (FORMAT parquet)")
    return time.perf_counter() - started, _cpu() - cpu, _load()


def _timed(label: str, store: Store, lake: Path,
           timings: dict[str, tuple[float, float, str]], **options: Any) -> ExportReport:
    started, cpu = time.perf_counter(), _cpu()
    report = export_parquet(store, lake, **options)
    timings[label] = (time.perf_counter() - started, _cpu() - cpu, _load())
    shown = report.written if len(report.written) < 3 else f"{report.files_written} partitions"
    print(f"  {label}: wrote {shown}, {report.unchanged} unchanged", flush=True)
    return report


def export(args: argparse.Namespace) -> None:
    path = _store(args.orders, args.fresh)
    work = Path(tempfile.mkdtemp(prefix="clientela-scale-"))
    timings: dict[str, tuple[float, float, str]] = {}
    try:
        with Store(path) as store:
            baseline = _baseline(store, work / "baseline")
            if args.serial:
                _timed("full, one table at a time", store, work / "serial", timings, workers=1)
                shutil.rmtree(work / "serial")
            _timed("full export", store, work / "lake", timings)
            _timed("incremental, nothing changed", store, work / "lake", timings)
            store.con.execute("UPDATE orders SET total = total + 1 WHERE order_id = "
                              "(SELECT min(order_id) FROM orders)")
            changed = _timed("incremental, one order changed", store, work / "lake", timings)
            assert changed.written.keys() == {"orders"} and len(changed.written["orders"]) == 1, \
                changed.written
        print(f"\nexport of {args.orders:,} orders (every exported table), "
              f"{os.cpu_count()} CPUs")
        print(f"{'step':<34}{'seconds':>9}{'x baseline':>12}{'CPU s':>8}{'x baseline':>12}"
              f"{'load':>7}")
        for label, (seconds, cpu, load_after) in {"baseline: one COPY per table": baseline,
                                                  **timings}.items():
            print(f"{label:<34}{seconds:>9.2f}{seconds / baseline[0]:>12.2f}{cpu:>8.1f}"
                  f"{cpu / baseline[1]:>12.2f}{load_after:>7}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        path.unlink(missing_ok=True)


START, END = "2023-01", "2026-01"
"""The generator's three years, one period: RFM as of its end, every cohort of it."""

COHORT_SQL = """
WITH valid AS (
    SELECT customer_id, date_trunc('month', placed_at) AS month
    FROM orders
    WHERE status NOT IN ('cancelled', 'refunded') AND customer_id IS NOT NULL
      AND placed_at >= TIMESTAMP '2023-01-01' AND placed_at < TIMESTAMP '2026-01-01'),
firsts AS (SELECT customer_id, min(month) AS cohort FROM valid GROUP BY customer_id),
active AS (SELECT DISTINCT customer_id, month FROM valid)
SELECT f.cohort, datediff('month', f.cohort, a.month) AS k, count(*) AS customers
FROM firsts f JOIN active a USING (customer_id)
GROUP BY ALL
"""


def _high_water_mark() -> int:
    """This process's peak RSS in bytes. VmHWM starts afresh at exec, where getrusage's
    ru_maxrss keeps the forked parent's peak (a parent that just generated 100M orders)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a child sets on its DuckDB connection: the memory_limit, threads and whether
    results keep their insertion order (not needed by any of these answers; keeping it makes
    DuckDB buffer more)."""
    return {"memory_limit": args.duckdb_memory or args.memory, "threads": args.threads,
            "preserve_insertion_order": args.insertion_order == "keep"}


def _child(kind: str, path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process: seconds, peak RSS and the counts to compare."""
    from kpi_rfm import run_sql

    from clientela.kpi import compute

    spill_folder = path.parent / (path.stem + ".tmp")
    with Store(path, read_only=True, memory_limit=settings["memory_limit"]) as store:
        # the store gives DuckDB a share of the process's limit; this benchmark sets DuckDB's own
        store.con.execute(f"SET memory_limit = '{settings['memory_limit']}'")
        store.con.execute(f"SET temp_directory = '{spill_folder}'")
        if settings.get("threads"):
            store.con.execute(f"SET threads = {int(settings['threads'])}")
        store.con.execute("SET preserve_insertion_order = "
                          f"{str(bool(settings.get('preserve_insertion_order', True))).lower()}")
        spill = _SpillWatch(spill_folder)
        started, cpu = time.perf_counter(), time.process_time()
        if kind == "rfm-clientela":
            rows = compute(store, ["rfm_segments"], start=START, end=END, timezone="UTC").rows()
            counts = {r["item"]: int(r["value"]) for r in rows if r["measure"] == "value"}
        elif kind == "rfm-sql":
            counts = {str(k): int(v) for k, v in run_sql(store).items()}
        elif kind == "cohorts-clientela":
            rows = compute(store, ["cohort_retention"], start=START, end=END, timezone="UTC").rows()
            customers = [r for r in rows if r["measure"] == "customers" and r["value"]]
            counts = {"cells": len(customers), "customers": int(sum(r["value"] for r in customers))}
        else:
            cells = store.con.execute(COHORT_SQL).fetchall()
            counts = {"cells": len(cells), "customers": int(sum(c[2] for c in cells))}
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        spill.stop()
    peak = _high_water_mark()
    return {"seconds": seconds, "cpu": cpu, "peak": peak, "counts": counts, "load": os.getloadavg()[0],
            "spilled": spill.peak}


class _SpillWatch:
    """The largest total size DuckDB's temporary files reached while a query ran (sampled):
    whether, and how much, a plan spilled to disk under the memory_limit."""

    def __init__(self, folder: Path) -> None:
        import threading

        self.folder, self.peak = folder, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _size(self) -> int:
        total = 0
        for file in self.folder.glob("*"):
            with contextlib.suppress(OSError):  # removed between listing and stat
                total += file.stat().st_size
        return total

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self._size())

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _measure(kind: str, path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "child", kind, str(path),
                           json.dumps(settings)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed on {path.name}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _orders_store(orders: int) -> Path:
    from kpi_rfm import generate

    path = Path(tempfile.gettempdir()) / f"clientela-scale-orders-{orders}.duckdb"
    if not path.exists():
        started = time.perf_counter()
        with Store(path) as store:
            generate(store, orders, max(1, orders // 10))
        print(f"built {path.name} ({orders:,} orders, {orders // 10:,} customers) in "
              f"{time.perf_counter() - started:.0f} s")
    return path


KINDS = ("rfm-sql", "rfm-clientela", "cohorts-sql", "cohorts-clientela")


def kpis(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = [k for k in KINDS if k in args.kinds.split(",")]
    settings = _settings(args)
    cap = _bytes(args.memory)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for orders in sizes:
        path = _orders_store(orders)
        results[orders] = {}
        for kind in kinds:
            results[orders][kind] = found = _measure(kind, path, settings)
            print(f"  {orders:>11,} {kind:<18} {found['seconds']:8.1f} s (CPU "
                  f"{found['cpu']:6.1f} s)  peak "
                  f"{found['peak'] / 2**30:5.2f} GiB  spilled {found['spilled'] / 2**30:5.2f} "
                  f"GiB  load {found['load']:.1f}", flush=True)
            what = kind.split("-")[0]
            ours = results[orders].get(f"{what}-clientela")
            theirs = results[orders].get(f"{what}-sql")
            if ours and theirs:  # said as soon as both are known: a 100M run takes long
                if ours["counts"] != theirs["counts"]:
                    raise SystemExit(f"{what} at {orders:,}: clientela {ours['counts']} != "
                                     f"SQL {theirs['counts']}")
                print(f"  {orders:>11,} {what}: clientela = SQL {ours['counts']}", flush=True)
    print(f"\nRFM and the monthly cohort matrix, cap {args.memory} of peak RSS; DuckDB "
          f"memory_limit={settings['memory_limit']}, threads={settings['threads'] or 'default'}, "
          f"preserve_insertion_order={settings['preserve_insertion_order']} (fresh process "
          "each; same counts as the SQL at every size)")
    print(f"{'orders':>12} {'what':<9}{'clientela s':>12}{'CPU s':>8}{'peak GiB':>10}"
          f"{'SQL s':>8}{'CPU s':>8}{'peak GiB':>10}{'x SQL':>7}{'CPU x SQL':>10}"
          f"{'s per M orders':>16}{'under cap':>10}{'load':>6}")
    for orders, found in results.items():
        for what in ("rfm", "cohorts"):
            ours, theirs = found.get(f"{what}-clientela"), found.get(f"{what}-sql")
            if not ours or not theirs:
                continue
            under = "yes" if max(ours["peak"], theirs["peak"]) <= cap else "NO"
            print(f"{orders:>12,} {what:<9}{ours['seconds']:>12.1f}{ours['cpu']:>8.1f}"
                  f"{ours['peak'] / 2**30:>10.2f}{theirs['seconds']:>8.1f}{theirs['cpu']:>8.1f}"
                  f"{theirs['peak'] / 2**30:>10.2f}{ours['seconds'] / theirs['seconds']:>7.2f}"
                  f"{ours['cpu'] / theirs['cpu']:>10.2f}"
                  f"{ours['seconds'] / (orders / 1e6):>16.2f}{under:>10}{ours['load']:>6.1f}")


def _bytes(size: str) -> int:
    """'2GB' or '1.5GiB' as bytes (the cap is compared with the peak RSS in GiB)."""
    text = size.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="the Parquet export, full and incremental")
    exporting.add_argument("--orders", type=int, default=1_000_000)
    exporting.add_argument("--fresh", action="store_true")
    exporting.add_argument("--serial", action="store_true",
                           help="also time the full export one table at a time")
    exporting.set_defaults(run=export)
    growing = commands.add_parser("kpis", help="RFM and cohorts at growing sizes, capped")
    growing.add_argument("--sizes", default="1000000,10000000,100000000")
    growing.add_argument("--memory", default="2GB",
                         help="the cap on each child's peak RSS (reported: under cap yes/NO)")
    growing.add_argument("--duckdb-memory", default="1536MB",
                         help="DuckDB's memory_limit in each child; it does not cover every "
                         "allocation (Python, Arrow results, the allocator's slack), so it "
                         "is set below the cap ('' to use the cap itself)")
    growing.add_argument("--threads", type=int, default=None,
                         help="DuckDB threads (default: DuckDB's, the machine's cores)")
    growing.add_argument("--insertion-order", choices=("keep", "free"), default="free",
                         help="preserve_insertion_order: no answer here depends on it")
    growing.add_argument("--kinds", default=",".join(KINDS),
                         help="which of the four measurements to run")
    growing.set_defaults(run=kpis)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
