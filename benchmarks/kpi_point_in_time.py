"""The point-in-time and retention metrics, monthly over 36 months: each alone and inside
the catalogue's first 22 metrics (sales first, as the catalogue orders them, so the shared
tables the sales metrics build are already there), in a fresh process per run.

    python benchmarks/kpi_point_in_time.py STORE [--alone] [--memory-limit 2GB]

Prints, per metric, the engine's wall seconds and the process's CPU seconds since the
previous metric, with the machine's load average. Timing is for people, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

START, END = "2023-01", "2026-01"
POINT_IN_TIME = ("retention_rate", "repeat_rate", "churn_rate", "lapsed_customers",
                 "winback_rate", "recency_days", "interpurchase_days", "return_probability",
                 "avg_frequency", "cohort_retention", "ltv_historical")


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(path: str, names: list[str], memory_limit: str) -> None:
    last = [time.process_time()]

    class Timing(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            name, rest = record.getMessage().split(": ", 1)
            now = time.process_time()
            wall = float(rest.split(" in ")[1].split(" s")[0])
            print(f"{name:22s} {wall:6.2f} s  CPU {now - last[0]:6.2f} s  [{load()}]",
                  flush=True)
            last[0] = now

    log = logging.getLogger("clientela.kpi.engine")
    log.addHandler(Timing())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    from clientela.kpi import compute
    from clientela.kpi.context import TableCache
    from clientela.store import Store

    original = TableCache.shared

    def timed(self, key, build, *, transient=False, once=None):  # type: ignore[no-untyped-def]
        """Each shared table's own cost: when it is written out, its build's time."""
        if key in self.materialised or not (self.eager or self.asked.get(key)):
            return original(self, key, build, transient=transient, once=once)
        t0, c0 = time.perf_counter(), time.process_time()
        found = original(self, key, build, transient=transient, once=once)
        if key in self.materialised:
            print(f"  shared {key[:40]:40s} {time.perf_counter() - t0:6.2f} s  "
                  f"CPU {time.process_time() - c0:6.2f} s", flush=True)
        return found

    TableCache.shared = timed  # type: ignore[method-assign]

    with Store(Path(path), read_only=True, memory_limit=memory_limit) as store:
        compute(store, ["new_customers"], start="2025-12", end=END)  # plugins loaded first
        last[0] = time.process_time()
        started, cpu = time.perf_counter(), time.process_time()
        compute(store, names, start=START, end=END, grain="month")
        print(f"{'total':22s} {time.perf_counter() - started:6.2f} s  "
              f"CPU {time.process_time() - cpu:6.2f} s  [{load()}]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("--alone", nargs="*", default=None,
                        help="each of these metrics alone (all point-in-time ones if empty)")
    parser.add_argument("--memory-limit", default="2GB")
    args = parser.parse_args()
    if args.alone is not None:
        import subprocess
        for name in args.alone or POINT_IN_TIME:
            subprocess.run([sys.executable, __file__, args.store, "--only", name,
                            "--memory-limit", args.memory_limit], check=True)
        return
    from clientela.metrics.catalog import builtin_metrics

    names = [m.name for m in builtin_metrics()]
    run(args.store, names[:names.index("ltv_historical") + 1], args.memory_limit)


if __name__ == "__main__":
    if "--only" in sys.argv:
        i = sys.argv.index("--only")
        run(sys.argv[1], [sys.argv[i + 1]], sys.argv[sys.argv.index("--memory-limit") + 1])
    else:
        main()
