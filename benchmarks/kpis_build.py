"""What building the catalogue's Ibis expressions costs in a warm call after one new day.

    python benchmarks/kpis_build.py                          # 1M orders, 100k customers
    python benchmarks/kpis_build.py --baseline ../main       # and side by side with a checkout
    python benchmarks/kpis_build.py --profile 25             # where the building goes
    flock /tmp/bench10m.lock nice python benchmarks/kpis_build.py --orders 10000000

The warm call after one new day asks the engine for the newest month of every metric with
the customer state carried (`benchmarks/kpis_warm.py --newest-month`, variant "carried, cuts
on"). Before its database answers a metric, Python builds the metric's Ibis expression
(`metric.compute(ctx, params)`), and that costs the same at any store size. This benchmark
makes that call `--rounds` times in one process (the first includes the process's first
imports and caches, so the best of the later rounds is the figure) and prints:

- per round, the call's wall and CPU seconds, and the building's (and how many Ibis nodes
  it made, the count the time follows, exact whatever the load): the time spent inside the
  metrics' `compute` functions minus the queries they run while building (a shared table
  written on its first ask, a table's schema or presence looked up), so it is Python and
  Ibis only; compiling the built expressions to SQL is not in it: it is printed apart
  (the calling thread's CPU seconds in `kpi/compile_cache.py`'s `CompiledSql`, every
  query of the call);
- the slowest metrics to build;
- with `--profile N`, the N functions with the most own time while building, and
  clientela's N costliest by cumulative time (cProfile, queries left out), from one more
  round that is not among the timed ones (the profiler slows what it watches);
- with `--baseline TREE`, the same measurement run in a fresh process importing
  `TREE/core/src` (another checkout, e.g. main's) on the same store, and the ratio of the
  two building times (and of the whole calls) round by round, the two processes taking
  turns (`--pairs`).

Timing is for people, never asserted by tests; the machine's load is printed beside it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kpis_warm import cpu, load  # noqa: E402 (found through the path above)

FITTING = ("clv_predicted", "p_alive")
"""Metrics whose compute also fits the purchase models (numpy, `clientela.clv`): their
building is printed apart, since it is not Ibis's."""
MARK = "BUILD-FIGURES "
"""Prefix of the one line of JSON a `--json` run prints for the process that asked for it."""


class _Tally:
    """CPU seconds of the calling thread inside sections, a section nested in another (a
    query run by a query) counted once."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.depth = 0

    @contextmanager
    def section(self, paused: cProfile.Profile | None = None) -> Iterator[None]:
        """Time the outermost section; `paused`, a profiler, does not watch it."""
        self.depth += 1
        outer = self.depth == 1
        if outer and paused is not None:
            paused.disable()
        started = time.thread_time()
        try:
            yield
        finally:
            if outer:
                self.seconds += time.thread_time() - started
                if paused is not None:
                    paused.enable()
            self.depth -= 1


class BuildClock:
    """CPU seconds of the calling thread spent building each metric's expression, queries
    run meanwhile left out.

    The engine builds a metric's expression in `engine._expr`; what runs a query while
    building (a shared table written, a schema or a presence looked up) is timed apart and
    subtracted, so the figure is Python and Ibis alone. Building runs on the calling thread
    alone, so its CPU time is what it costs, however loaded the machine (its wall time
    grows with the load)."""

    def __init__(self, profile: bool) -> None:
        self.seconds: dict[str, float] = {}
        self.queries = _Tally()
        """Queries run while building."""
        self.compiles = _Tally()
        """SQL written, for any query of the call."""
        self.nodes = 0
        """Ibis nodes made while building (each validated as it is made): what the building
        time follows, counted exactly whatever the load."""
        self._depth = 0
        # timed by the thread's CPU clock, as the building is: wall time would count the load
        self.profiler = cProfile.Profile(time.thread_time) if profile else None

    @contextmanager
    def building(self, metric: str) -> Iterator[None]:
        self._depth += 1
        outer = self._depth == 1
        before_queries = self.queries.seconds
        started = time.thread_time()
        if outer and self.profiler is not None:
            self.profiler.enable()
        try:
            yield
        finally:
            if outer and self.profiler is not None:
                self.profiler.disable()
            self._depth -= 1
            if outer:
                spent = time.thread_time() - started - (self.queries.seconds - before_queries)
                self.seconds[metric] = self.seconds.get(metric, 0.0) + spent

    @contextmanager
    def query(self) -> Iterator[None]:
        if self._depth == 0:  # not building: nothing to leave out
            yield
            return
        with self.queries.section(self.profiler):
            yield

    def compile(self) -> AbstractContextManager[None]:
        return self.compiles.section()

    def making_node(self) -> bool:
        """Whether an Ibis node made now is the building's (not a query's)."""
        return self._depth > 0 and self.queries.depth == 0


def _wrap(owner: Any, name: str, around: Callable[[], Any]) -> Callable[[], None]:
    original = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with around():
            return original(*args, **kwargs)

    setattr(owner, name, wrapped)
    return lambda: setattr(owner, name, original)


@contextmanager
def clocked(clock: BuildClock) -> Iterator[None]:
    """The engine's building timed by `clock` while inside."""
    import ibis.expr.types as ir
    from ibis.backends.duckdb import Backend
    from ibis.common.annotations import Signature

    from clientela.kpi import engine
    from clientela.kpi.compile_cache import CompiledSql
    from clientela.kpi.context import TableCache

    original_expr = engine._expr

    def expr(metric: Any, params: Any, ctx: Any) -> Any:
        with clock.building(metric.name):
            return original_expr(metric, params, ctx)

    engine._expr = expr
    undo: list[Callable[[], Any]] = [lambda: setattr(engine, "_expr", original_expr)]
    for owner, name in ((ir.Expr, "execute"), (ir.Expr, "to_pyarrow"), (ir.Table, "cache"),
                        (Backend, "table"), (Backend, "list_tables"), (Backend, "raw_sql"),
                        (TableCache, "_write"), (TableCache, "has"),
                        (TableCache, "prefetch")):
        undo.append(_wrap(owner, name, clock.query))
    undo.append(_wrap(CompiledSql, "__call__", clock.compile))
    original_validate = Signature.validate

    def validate(self: Any, *args: Any, **kwargs: Any) -> Any:
        if clock.making_node():
            clock.nodes += 1
        return original_validate(self, *args, **kwargs)

    Signature.validate = validate
    undo.append(lambda: setattr(Signature, "validate", original_validate))
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def measure(orders: int, customers: int, memory_limit: str | None, rounds: int,
            profile: int, first: bool = False) -> dict[str, Any]:
    """The newest month's warm call `rounds` times on a copy of the demo store: each
    round's wall, CPU and building seconds, the per-metric building of the best round."""
    from kpis import END, answerable, demo_store
    from kpis_warm import CUTS, TIMEZONE, new_day, switch

    from clientela.kpi import compute, warm
    from clientela.kpi.carried import carrying
    from clientela.kpi.periods import buckets, parse_bound, zone
    from clientela.store import Store

    source = demo_store(orders, customers)
    folder = Path(tempfile.mkdtemp(prefix="clientela-build-"))
    path = folder / "build.duckdb"
    shutil.copy(source, path)
    found: dict[str, Any] = {"rounds": [], "tree": str(Path(warm.__file__).parents[3])}
    try:
        with Store(path, memory_limit=memory_limit) as store:
            names = answerable(store)
            new_day(store, 0)
            from kpis import START

            periods = buckets(parse_bound(START), parse_bound(END), "month", zone(TIMEZONE))
            carried = warm._carry(store, store.con, periods, len(periods) - 1, TIMEZONE,
                                  "BRL", 0)
            if carried is None:
                raise SystemExit("the customer state could not be kept in this store")
            switch(CUTS, True)
            reading = replace(carried, call_start=carried.as_of)
            best: BuildClock | None = None
            profiled = 0 if first else rounds  # apart from the timed ones: it slows them
            for round_ in range(rounds + (profile > 0 and not first)):
                clock = BuildClock(profile > 0 and round_ == profiled)
                started, cpu_started = time.perf_counter(), cpu()
                with clocked(clock), carrying(reading):
                    answer = compute(store, names, start="2025-12", end=END, grain="month",
                                     timezone=TIMEZONE)
                wall, spent = time.perf_counter() - started, cpu() - cpu_started
                building = sum(clock.seconds.values())
                if clock.profiler is not None:
                    found["profile"] = _profile(clock.profiler, profile)
                    if not first:
                        continue
                fits = sum(clock.seconds.get(name, 0.0) for name in FITTING)
                found["rounds"].append({"wall": wall, "cpu": spent, "build": building,
                                        "ibis": building - fits, "nodes": clock.nodes,
                                        "compile": clock.compiles.seconds,
                                        "metrics": len(clock.seconds), "load": load()})
                if round_ == 0:
                    found["first_per_metric"] = dict(sorted(clock.seconds.items(),
                                                            key=lambda kv: -kv[1]))
                if best is None or building < sum(best.seconds.values()):
                    best = clock
            assert best is not None
            found["per_metric"] = dict(sorted(best.seconds.items(), key=lambda kv: -kv[1]))
            found["rows"] = answer.table.num_rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return found


def _profile(profiler: cProfile.Profile, count: int) -> str:
    """The `count` functions with the most own time, then clientela's own functions by
    cumulative time (which helper's building costs most)."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(count)
    stats.sort_stats("cumulative").print_stats("clientela", count)
    return out.getvalue()


def show(found: dict[str, Any], label: str) -> None:
    print(f"\n{label}: {found['tree']}")
    for i, run in enumerate(found["rounds"], start=1):
        print(f"  round {i}: call {run['wall']:6.2f} s wall (CPU {run['cpu']:6.2f} s), "
              f"building {run['build']:5.2f} s over {run['metrics']} metrics "
              f"({run['ibis']:4.2f} s without {' and '.join(FITTING)}; {run['nodes']:,} "
              f"Ibis nodes), "
              f"compiling {run['compile']:5.2f} s   {run['load']}")
    later = found["rounds"][1:] or found["rounds"]
    print(f"  best of rounds 2+: building {min(r['build'] for r in later):.2f} s "
          f"({min(r['ibis'] for r in later):.2f} s without {' and '.join(FITTING)}), "
          f"compiling {min(r['compile'] for r in later):.2f} s, "
          f"call {min(r['wall'] for r in later):.2f} s wall, "
          f"CPU {min(r['cpu'] for r in later):.2f} s")
    for title, key in (("first round", "first_per_metric"), ("best round", "per_metric")):
        top = list(found[key].items())[:12]
        print(f"  slowest to build, {title} (CPU s): "
              + ", ".join(f"{n} {s:.3f}" for n, s in top))
    if "profile" in found:
        print(found["profile"])


def baseline_run(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """This measurement in a fresh process importing `tree`'s clientela."""
    env = dict(os.environ, PYTHONPATH=str(tree / "core" / "src"))
    command = [sys.executable, __file__, "--json", "--orders", str(args.orders),
               "--rounds", str(args.rounds), "--memory-limit", args.memory_limit]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(row for row in out.splitlines() if row.startswith(MARK))
    result: dict[str, Any] = json.loads(line[len(MARK):])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000,
                        help="demo store size (customers: a tenth of the orders)")
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--rounds", type=int, default=3,
                        help="warm calls per process; the first warms the process up")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N functions with the most own time while building")
    parser.add_argument("--profile-first", action="store_true",
                        help="profile the process's first round (its figures then count the "
                             "profiler) instead of one more round")
    parser.add_argument("--baseline", type=Path, default=None, metavar="TREE",
                        help="another checkout (e.g. main's) to measure side by side")
    parser.add_argument("--pairs", type=int, default=1,
                        help="with --baseline: how many times the two processes take turns")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    limit = None if args.memory_limit.lower() == "none" else args.memory_limit
    if args.json:
        found = measure(args.orders, args.orders // 10, limit, args.rounds, 0)
        print(MARK + json.dumps(found), flush=True)
        return
    if args.baseline is None:
        show(measure(args.orders, args.orders // 10, limit, args.rounds, args.profile,
                     args.profile_first),
             f"{args.orders:,} orders, the newest month warm")
        return
    ratios: list[tuple[float, ...]] = []
    for pair in range(args.pairs):
        mine = baseline_run(Path(__file__).resolve().parents[1], args)
        theirs = baseline_run(args.baseline.resolve(), args)
        show(mine, f"pair {pair + 1}, this tree")
        show(theirs, f"pair {pair + 1}, baseline")

        def best(found: dict[str, Any], key: str) -> float:
            later = found["rounds"][1:] or found["rounds"]
            return float(min(r[key] for r in later))

        def first(found: dict[str, Any], key: str) -> float:
            return float(found["rounds"][0][key])

        ratios.append((best(mine, "build") / best(theirs, "build"),
                       best(mine, "ibis") / best(theirs, "ibis"),
                       first(mine, "nodes") / first(theirs, "nodes"),
                       first(mine, "ibis") / first(theirs, "ibis"),
                       best(mine, "compile") / best(theirs, "compile"),
                       best(mine, "wall") / best(theirs, "wall"),
                       best(mine, "cpu") / best(theirs, "cpu")))
    print("\nthis tree / baseline, per pair (best of rounds 2+; the first round, a fresh "
          "process's, where said):")
    for pair, (build, ibis_, nodes, fresh, compiling, wall, spent) in enumerate(ratios,
                                                                                start=1):
        print(f"  pair {pair}: building {build:.3f}x, without {' and '.join(FITTING)} "
              f"{ibis_:.3f}x (first round {fresh:.3f}x; Ibis nodes {nodes:.3f}x), "
              f"compiling {compiling:.3f}x, "
              f"call {wall:.3f}x wall, {spent:.3f}x CPU")


if __name__ == "__main__":
    main()
