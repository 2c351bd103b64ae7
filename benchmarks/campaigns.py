"""The campaign metrics against their baseline, side by side in one process.

    python benchmarks/campaigns.py STORE                      # against main's definitions
    python benchmarks/campaigns.py STORE --baseline 54d7ebe   # against another commit's
    python benchmarks/campaigns.py STORE --current f7bb7b4    # a commit's against main's

STORE is a demo store (touches, campaigns, orders), e.g. the one `benchmarks/kpis.py`
caches. The baseline is `core/src/clientela/metrics/campaigns.py` as of a git revision,
loaded as a module of its own, so both sets of definitions run through the same engine,
on the same connection, alternately, best of `--runs`.

The six campaign metrics are answered together, monthly over 36 months, as in the
catalogue: the engine materialises the valid orders once (as it does when answering many
metrics) and the metrics share their tables in the catalogue's order. Printed per metric:
wall and CPU seconds (the process's, every thread's: on a shared machine the steadier
figure) of baseline and current, and their ratio, with the machine's load. The answers are
checked equal (every measure, exactly) before any time is shown.

`--memory-limit` is the store's DuckDB limit. The 10M-order catalogue runs under 2 GB with
other shared tables held, so its joins spill; a 1M store under 200MB shows that regime at a
tenth of the cost (and without it the 1M figures show the unconstrained one).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START, END = "2023-01", "2026-01"
NAMES = ("campaign_reach", "campaign_conversion", "campaign_revenue", "campaign_roi",
         "campaign_lift", "relationship_activity")
MODULE = "core/src/clientela/metrics/campaigns.py"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:4.1f}/{five:4.1f}"


def module_at(revision: str, module: str = MODULE) -> Any:
    """A metric module (the campaign metrics by default) as of `revision`, imported under a
    name of its own, so that the old and new definitions run side by side in one process."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "-C", str(root), "show", f"{revision}:{module}"],
                            check=True, capture_output=True, text=True).stdout
    name = f"{Path(module).stem}_{revision.replace('-', '_')}"
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Timing(logging.Handler):
    """The engine's per-metric wall time (its DEBUG line) and the CPU seconds since the
    previous line."""

    def __init__(self) -> None:
        super().__init__()
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.last = time.process_time()

    def emit(self, record: logging.LogRecord) -> None:
        name, rest = record.getMessage().split(": ", 1)
        now = time.process_time()
        self.wall[name] = float(rest.split(" in ")[1].split(" s")[0])
        self.cpu[name] = now - self.last
        self.last = now


@contextlib.contextmanager
def engine_timing() -> Iterator[Timing]:
    """The engine's per-metric timing while the block runs (its DEBUG log, handled by a
    `Timing`), the CPU clock started as the block starts."""
    timing = Timing()
    log = logging.getLogger("clientela.kpi.engine")
    log.addHandler(timing)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        timing.last = time.process_time()
        yield timing
    finally:
        log.removeHandler(timing)


def run(store: Any, catalog: dict[str, Any], names: list[str]) -> tuple[Any, Timing]:
    from clientela.kpi import compute

    with engine_timing() as timing:
        # `revenue` first, as in the catalogue: it writes out the valid orders, which the
        # campaign metrics then read (its time is not theirs)
        result = compute(store, ["revenue", *names], start=START, end=END, grain="month",
                         catalog=catalog)
    return result, timing


def rows(result: Any) -> list[tuple[Any, ...]]:
    table = result.table if hasattr(result, "table") else result
    return sorted(tuple(map(repr, row.values())) for row in table.to_pylist()
                  if row["metric"] != "revenue")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--current", default=None,
                        help="a revision to time instead of the working tree's definitions")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--metrics", nargs="*", default=list(NAMES))
    parser.add_argument("--memory-limit", default=None)
    args = parser.parse_args()

    from clientela.kpi import retail
    from clientela.metrics import campaigns
    from clientela.store import Store

    # answer as the catalogue does: the valid orders materialised once for every metric
    retail.MANY_METRICS = 1
    from clientela.metrics.catalog import builtin_metrics

    builtin = {m.name: m for m in builtin_metrics()}
    current = module_at(args.current) if args.current else campaigns
    catalogs = {"baseline": {**builtin,
                             **{m.name: m for m in module_at(args.baseline).metrics()}},
                "current": {**builtin, **{m.name: m for m in current.metrics()}}}
    best: dict[str, dict[str, tuple[float, float]]] = {k: {} for k in catalogs}
    answers: dict[str, list[tuple[Any, ...]]] = {}
    with Store(args.store, read_only=True, memory_limit=args.memory_limit) as store:
        for attempt in range(args.runs):
            for label, catalog in catalogs.items():
                started, cpu = time.perf_counter(), time.process_time()
                result, timing = run(store, catalog, args.metrics)
                total = (time.perf_counter() - started, time.process_time() - cpu)
                print(f"run {attempt + 1} {label}: {total[0]:.2f} s, CPU {total[1]:.2f} s "
                      f"[{load()}]", file=sys.stderr, flush=True)
                answers.setdefault(label, rows(result))
                figures = {n: (timing.wall[n], timing.cpu[n]) for n in args.metrics}
                figures["(all six)"] = (sum(w for w, _ in figures.values()),
                                        sum(c for _, c in figures.values()))
                for name, pair in figures.items():
                    if name not in best[label] or pair[0] < best[label][name][0]:
                        best[label][name] = pair
    if answers["baseline"] != answers["current"]:
        sys.exit("the answers differ between baseline and current")
    print(f"{args.store.name}: {len(answers['current'])} rows, equal [{load()}]")
    print(f"{'metric':24} {'baseline wall/CPU':>18} {'current wall/CPU':>18} {'ratio':>7}")
    for name in [*args.metrics, "(all six)"]:
        (bw, bc), (cw, cc) = best["baseline"][name], best["current"][name]
        print(f"{name:24} {bw:8.2f} / {bc:7.2f} {cw:8.2f} / {cc:7.2f} "
              f"{cw / bw if bw else float('nan'):7.2f}")


if __name__ == "__main__":
    main()
