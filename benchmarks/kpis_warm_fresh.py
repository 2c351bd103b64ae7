"""One new day's warm call in a fresh process, as a nightly `clientela kpi` makes it.

A copy of the demo store is warmed once (the whole catalogue over 36 months, every period
kept) in a child process; then each round is another fresh process that writes one new day
of orders and times the warm call after it, with the compiled SQL kept across processes
(`clientela.kpi.sql_keep`) or not. Each round prints the call's wall and CPU seconds, the
load, and how many queries the call compiled, found in the keep, or found in the process.

    python benchmarks/kpis_warm_fresh.py --orders 1000000 --memory-limit 2GB \\
        --rounds keep off keep

The first `keep` round starts from an empty keep (a fresh folder); later ones find what the
rounds before them kept. `off` is the keep turned off (compiled SQL kept per process only).
With `--cold`, each round is instead the cold catalogue (no answer kept) on a fresh copy of
the demo store: what the keep costs a call that finds nothing in it, and saves one that
finds everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kpis import answerable, demo_store
from kpis_warm import END, START, TIMEZONE, cpu, limit_of, load, new_day, store_arguments


def _child(path: Path, memory_limit: str | None, round_: int | None,
           cold: bool = False) -> dict[str, Any]:
    """The warm-up (round None), one new day's warm call, or the cold catalogue, in this
    (fresh) process."""
    from clientela.kpi import compute
    from clientela.kpi.compile_cache import remember_compiled
    from clientela.kpi.engine import backend_of
    from clientela.store import Store

    kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
    with Store(path, memory_limit=memory_limit) as store:
        names = answerable(store)
        if round_ is not None and not cold:
            new_day(store, round_)
        cache = remember_compiled(backend_of(store))
        assert cache is not None
        started, cpu_started, thread_started = time.perf_counter(), cpu(), time.thread_time()
        compute(store, names, reuse=not cold, **kw)
        return {"seconds": time.perf_counter() - started, "cpu": cpu() - cpu_started,
                "thread_cpu": time.thread_time() - thread_started, "load": load(),
                "compiled": cache.misses - cache.kept, "kept": cache.kept, "hits": cache.hits,
                "compile_cpu": cache.compile_seconds, "keep_cpu": cache.keep_seconds}


def _run(path: Path, memory_limit: str | None, round_: int | None,
         keep: Path | None, cold: bool = False) -> dict[str, Any]:
    env = dict(os.environ, CLIENTELA_SQL_KEEP=str(keep) if keep else "off")
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--round", str(round_),
         "--memory-limit", memory_limit or "none", *(["--cold"] if cold else [])],
        capture_output=True, text=True, check=True, env=env)
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def _show(label: str, found: dict[str, Any]) -> None:
    print(f"  {label:<34} {found['seconds']:7.2f} s  CPU {found['cpu']:6.2f} s "
          f"(thread {found['thread_cpu']:5.2f})  queries: {found['compiled']} compiled "
          f"({found['compile_cpu']:.2f} CPU s), {found['kept']} from the keep (keys, "
          f"reads, writes {found['keep_cpu']:.3f} CPU s), {found['hits']} in-process   [{found['load']}]",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    store_arguments(parser)
    parser.add_argument("--rounds", nargs="*", choices=("keep", "off"),
                        default=["keep", "off", "keep"])
    parser.add_argument("--cold", action="store_true",
                        help="each round the cold catalogue on a fresh copy, no warm-up")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--round", default="None", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    limit = limit_of(args)
    if args.child:
        round_ = None if args.round == "None" else int(args.round)
        print(json.dumps(_child(args.child, limit, round_, args.cold)))
        return
    source = demo_store(args.orders, max(10, args.orders // 10))
    folder = Path(tempfile.mkdtemp(prefix="clientela-fresh-"))
    try:
        path = folder / "warm.duckdb"
        shutil.copy(source, path)
        print(f"{args.orders:,} orders (a copy of {source}), memory_limit {limit}", flush=True)
        if not args.cold:
            _show("first warm call (not kept)", _run(path, limit, None, None))
        keep = folder / "sql-keep"
        for round_, how in enumerate(args.rounds):
            if args.cold:
                shutil.copy(source, path)
            _show(f"{'cold catalogue' if args.cold else 'one new day'} ({round_ + 1}), keep {how}",
                  _run(path, limit, round_, keep if how == "keep" else None, args.cold))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
