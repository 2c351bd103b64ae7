"""The whole KPI catalogue warm (reusing the periods kept in the store) against cold.

    python benchmarks/kpis_warm.py                    # 1M orders, 100k customers
    python benchmarks/kpis_warm.py --orders 10000000  # the 10M demo store (built once, cached)
    python benchmarks/kpis_warm.py --orders 10000000 --synthetic --rounds 1 --no-cold-check

Uses benchmarks/kpis.py's cached demo store for the size (generated and bulk-loaded on
first use), copied so the benchmark's writes do not change it. Then, in one process:

1. the whole built-in catalogue monthly over the demo's 36 months with `reuse=True` on
   an empty cache: cold plus keeping every period;
2. the same call again, nothing written;
3. one new day of orders (copies of the demo's last day's orders, dated its last day,
   landed through `Store.write_batch` so the write path logs what it touched), then the
   warm catalogue; `--rounds` times, each with a new day, the best of them;
4. a refund on an order placed two years before the end (January 2024), then the warm
   catalogue; `--rounds` times, each on another order, the best of them;

   each round of 3. (and of 4. with `--baseline day refund`) is run twice, on an edit of
   its own: first with the cuts off, the baseline, then on, and the two are printed side
   by side (the customer state is carried in both), with each call's slowest metrics and
   campaign ROI's credits; `--cuts` picks which cuts the baseline turns off: `orders`
   (`carried.READ_ORDERS_DIRECT` and `carried.PREVIOUS_FROM_STATE`: the valid orders
   written out over the whole history, and each order's previous and next one from a
   window over every order), `clv` (`clientela.clv.engine.carried.CARRY_PURCHASE_DAYS`:
   predicted CLV's purchase days fetched from every order and its newest fits started
   afresh) and `credits` (`warm.KEEP_CREDITS`: campaign ROI's credits not kept, every
   contact since the series' start joined with the orders in its window), all by default;
5. the cold catalogue on the final store (`compute(store, names)`): the baseline the warm
   figures are divided by, and the check that the last warm answer equals it.

`--newest-month` times only what one new day's warm call asks the engine: the newest month
of every metric, in one engine call, with the customer state not carried, carried with the
cuts off (the valid orders written out, each order's neighbours from a window over every
order) and carried with them on (`carried.READ_ORDERS_DIRECT`,
`carried.PREVIOUS_FROM_STATE`) and with them and CLV's purchase days and fits carried
(`clientela.clv.engine.carried`: the counters and fits are kept first by one call over the
two newest months), alternately, `--rounds` times each (`--variants` picks some; no cold
fill of the cache first: at 10M orders that takes many minutes), and checks
that the answers are equal, printing which values differ and by how much if they are not;
then the campaign metrics' newest month alone, and campaign ROI alone warm after a new day,
with its credits not kept and kept (`roi_warm`).

Each figure is printed with the machine's load average next to it (the machine is shared),
and the warm figures with their ratio to the cold run. Timing is for people, never
asserted by tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpis import END, START, answerable, demo_store, synthetic_store

from clientela.kpi import compute, warm
from clientela.model import Order
from clientela.store import Store

LAST_DAY = datetime(2025, 12, 31)
"""The demo's last day: a new day of orders lands in the newest period."""
OLD_MONTH = (datetime(2024, 1, 1), datetime(2024, 2, 1))
"""Two years before the demo's end: where the refunded orders were placed."""
SYNTHETIC_UNFIT = ("clv_predicted", "p_alive", "ltv_cac_ratio")
"""Metrics fitting purchase models, which the synthetic store's uniformly random orders
leave unidentified (the fit refuses): left out on that store."""
TIMEZONE = "UTC"
"""The cold catalogue of benchmarks/kpis.py runs in the engine's default zone; so does this."""


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:5.2f} / {five:5.2f} (1 / 5 min, {os.cpu_count()} CPUs)"


def cpu() -> float:
    """This process's CPU seconds (user + system, every DuckDB thread included): on a
    shared machine it moves far less with the load than wall time does."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


CPU: dict[str, float] = {}
"""label -> CPU seconds of the last `timed` call with that label."""


def timed(label: str, fn: Callable[[], Any]) -> tuple[float, Any]:
    started, cpu_started = time.perf_counter(), cpu()
    found = fn()
    seconds = time.perf_counter() - started
    CPU[label] = cpu() - cpu_started
    print(f"  {label:<52} {seconds:8.2f} s  (CPU {CPU[label]:7.2f} s)   {load()}", flush=True)
    return seconds, found


def new_day(store: Store, round_: int) -> int:
    """The demo's last day of orders again, as new orders dated that day; returns how many."""
    day = store.con.execute(
        "SELECT * FROM orders WHERE placed_at >= ? AND placed_at < ?",
        [LAST_DAY - timedelta(days=1), LAST_DAY]).to_arrow_table()
    ids = [f"{oid}-day{round_}" for oid in day.column("order_id").to_pylist()]
    placed = [t + timedelta(days=1) for t in day.column("placed_at").to_pylist()]
    import pyarrow as pa

    day = day.set_column(day.schema.get_field_index("order_id"), "order_id", pa.array(ids))
    day = day.set_column(day.schema.get_field_index("placed_at"), "placed_at",
                         pa.array(placed, pa.timestamp("us")))
    day = day.drop_columns([c for c in day.column_names if c.startswith("_")])
    store.write_batch(Order, day)
    return day.num_rows


def refund_old(store: Store, round_: int) -> str:
    """A partial refund on the round_-th valid order placed in OLD_MONTH; returns its id."""
    row = store.con.execute(
        "SELECT * FROM orders WHERE placed_at >= ? AND placed_at < ? AND status IN ('paid', 'fulfilled') "
        "AND refunded_amount = 0 ORDER BY order_id LIMIT 1 OFFSET ?",
        [*OLD_MONTH, round_]).to_arrow_table()
    import pyarrow as pa
    import pyarrow.compute as pc

    half = pc.divide(row.column("total"), pa.scalar(2)).cast(row.schema.field("total").type)
    row = row.set_column(row.schema.get_field_index("refunded_amount"), "refunded_amount", half)
    row = row.set_column(row.schema.get_field_index("status"), "status",
                         pa.array(["partially_refunded"]))
    row = row.drop_columns([c for c in row.column_names if c.startswith("_")])
    store.write_batch(Order, row)
    return str(row.column("order_id")[0])


class EngineTimings(logging.Handler):
    """The engine's per-metric seconds (logged at DEBUG) of the calls made while attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        name, rest = record.getMessage().split(": ", 1)
        if " in " in rest:
            seconds = float(rest.split(" in ")[1].split(" s")[0])
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def __enter__(self) -> EngineTimings:
        engine = logging.getLogger("clientela.kpi.engine")
        engine.addHandler(self)
        engine.setLevel(logging.DEBUG)
        self.seconds.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("clientela.kpi.engine").removeHandler(self)

    def slowest(self, count: int = 8) -> str:
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:count]
        return ", ".join(f"{name} {seconds:.2f}" for name, seconds in top)


def recomputed() -> str:
    computed = warm.last_report.computed
    periods = sum(len(v) for v in computed.values())
    reused = sum(len(v) for v in warm.last_report.reused.values())
    return f"{periods} periods computed, {reused} reused, over {len(computed)} metrics"


def differences(hot: list[dict[str, Any]], cold: list[dict[str, Any]], shown: int = 12) -> None:
    """Where a warm answer differs from the cold one: per metric, the rows that differ and
    the largest relative difference of their values."""
    def keyed(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
        return {tuple((k, v) for k, v in row.items() if k != "value"): row["value"]
                for row in rows}

    warm_rows, cold_rows = keyed(hot), keyed(cold)
    print(f"  rows: warm {len(hot)}, cold {len(cold)}")
    worst: dict[str, tuple[int, float, Any]] = {}
    for key in warm_rows.keys() | cold_rows.keys():
        a, b = warm_rows.get(key), cold_rows.get(key)
        if a == b or (a != a and b != b):  # equal, or both NaN
            continue
        metric = dict(key)["metric"]
        relative = (float("inf") if a is None or b is None
                    else abs(a - b) / max(abs(a), abs(b), 1e-300))
        count, largest, example = worst.get(metric, (0, 0.0, None))
        worst[metric] = (count + 1, max(largest, relative),
                         example if example is not None and largest >= relative
                         else (dict(key), a, b))
    for metric, (count, largest, example) in sorted(worst.items())[:shown]:
        print(f"    {metric}: {count} values differ, largest relative difference {largest:.3g};"
              f" e.g. {example}")


CUTS = ("orders", "clv", "credits")
"""The warm path's cuts a baseline can turn off (`switch`)."""


def switch(cuts: tuple[str, ...], on: bool) -> None:
    """Turn `cuts` on or off: `orders`, the valid orders read direct and each order's
    previous one from the state (`clientela.kpi.carried`); `clv`, predicted CLV's purchase
    days and fits carried (`clientela.clv.engine.carried`); `credits`, campaign ROI's credits
    kept (`clientela.kpi.campaign_credits`). The answers are the same."""
    from clientela.clv.engine import carried as clv_carried
    from clientela.kpi import carried as carried_module

    if "orders" in cuts:
        carried_module.READ_ORDERS_DIRECT = carried_module.PREVIOUS_FROM_STATE = on
    if "clv" in cuts:
        clv_carried.CARRY_PURCHASE_DAYS = on
    if "credits" in cuts:
        warm.KEEP_CREDITS = on


def bench(orders: int, customers: int, memory_limit: str | None, rounds: int,
          check_cold: bool = True, synthetic: bool = False,
          skip: tuple[str, ...] = (), baseline: tuple[str, ...] = ("day", "refund"),
          cuts: tuple[str, ...] = CUTS) -> None:

    source = (synthetic_store if synthetic else demo_store)(orders, customers)
    folder = Path(tempfile.mkdtemp(prefix="clientela-warm-"))
    path = folder / "warm.duckdb"
    shutil.copy(source, path)
    kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
    try:
        with Store(path, memory_limit=memory_limit) as store:
            names = [name for name in answerable(store) if name not in skip]
            print(f"\n{orders:,} orders, {customers:,} customers (a copy of {source}), "
                  f"{len(names)} metrics x 36 months, memory_limit (the process's cap) "
                  f"{memory_limit or 'default'}", flush=True)
            first_label = "first warm call (cold + keeping every period)"
            first, _ = timed(first_label, lambda: compute(store, names, reuse=True, **kw))
            timed("warm, nothing written since", lambda: compute(store, names, reuse=True, **kw))
            print(f"  {'':<52} {recomputed()}")
            figures: dict[str, tuple[float, float, str]] = {}
            """scenario -> the best run's wall seconds, CPU seconds and load average."""
            last: Any = None
            edits = 0
            for scenario, edit, short in (
                    ("one new day of orders", new_day, "day"),
                    ("a refund on a two-year-old order", refund_old, "refund")):
                for direct in (False, True) if short in baseline else (True,):
                    runs: list[tuple[float, float, str]] = []
                    how = "cuts on" if direct else f"cuts off: {', '.join(cuts)} (as before)"
                    switch(cuts, direct)
                    for round_ in range(rounds):
                        timed(f"write: {scenario} ({edits + 1})",
                              lambda r=edits, e=edit: e(store, r))
                        edits += 1
                        with EngineTimings() as timings:
                            label = f"warm catalogue after it, {how} ({round_ + 1})"
                            seconds, last = timed(
                                label, lambda: compute(store, names, reuse=True, **kw))
                        print(f"  {'':<52} {recomputed()}; carried state: "
                              f"{warm.last_report.carried}")
                        print(f"  {'':<52} slowest (wall s): {timings.slowest()}")
                        print(f"  {'':<52} campaign ROI's credits: {warm.last_report.credits}")
                        runs.append((seconds, CPU[label], load()))
                    figures[f"{scenario}, {how}"] = min(runs)
            switch(CUTS, True)
            if check_cold:
                cold_label = "cold catalogue on the final store (the baseline)"
                cold, check = timed(cold_label, lambda: compute(store, names, **kw))
                cold_cpu = CPU[cold_label]
                same = "equal" if check.rows() == last.rows() else "DIFFERENT"
                print(f"\n  last warm answer vs cold: {same}")
                if same != "equal":
                    differences(last.rows(), check.rows())
            else:
                cold, cold_cpu = first, CPU[first_label]
                print("\n  baseline: the first call (cold + keeping every period)")
            print(f"\n  {'':<50} {'cold':>9} {f'warm (best of {rounds})':>17} {'warm/cold':>10}"
                  f"   {'CPU cold':>9} {'CPU warm':>9} {'ratio':>7}")
            for scenario, (seconds, spent, during) in figures.items():
                print(f"  {scenario:<50} {cold:8.2f}s {seconds:16.2f}s {seconds / cold:9.3f}x"
                      f"   {cold_cpu:8.2f}s {spent:8.2f}s {spent / cold_cpu:6.3f}x   {during}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


VARIANTS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "not carried": (False, ()),
    "carried, cuts off (as before)": (True, ()),
    "carried, cuts on": (True, ("orders",)),
    "carried, cuts on, CLV carried": (True, CUTS),
}
"""--newest-month's variants -> (customer state carried, the cuts on)."""


def newest_month(orders: int, customers: int, memory_limit: str | None, rounds: int,
                 synthetic: bool = False, skip: tuple[str, ...] = (),
                 chosen: tuple[str, ...] = tuple(VARIANTS)) -> None:
    """The engine call a warm run makes after one new day (the newest month of every
    metric), with and without the carried customer state; see the module's docstring."""
    from clientela.kpi.carried import carrying
    from clientela.kpi.periods import buckets, parse_bound, zone

    source = (synthetic_store if synthetic else demo_store)(orders, customers)
    folder = Path(tempfile.mkdtemp(prefix="clientela-warm-"))
    path = folder / "warm.duckdb"
    shutil.copy(source, path)
    month: dict[str, Any] = dict(start="2025-12", end=END, grain="month", timezone=TIMEZONE)
    try:
        with Store(path, memory_limit=memory_limit) as store:
            names = [name for name in answerable(store) if name not in skip]
            print(f"\n{orders:,} orders, {customers:,} customers (a copy of {source}), "
                  f"{len(names)} metrics, the newest month only", flush=True)
            timed("write: one new day of orders", lambda: new_day(store, 0))
            periods = buckets(parse_bound(START), parse_bound(END), "month", zone(TIMEZONE))
            _, carried = timed("keep the customer state as of the month's start",
                               lambda: warm._carry(store, store.con, periods,
                                                   len(periods) - 1, TIMEZONE, "BRL", 0))
            if carried is None:
                raise SystemExit("the customer state could not be kept in this store")
            print(f"  {'':<52} state as of {carried.as_of}: {carried.origin}")
            variants = {name: VARIANTS[name] for name in chosen}
            clv = [name for name in SYNTHETIC_UNFIT[:2] if name in names]
            if clv and any("clv" in on for _, on in variants.values()):
                with carrying(replace(carried, call_start=periods[-2].start_utc)):
                    timed("keep CLV's counters and fits (November and December)",
                          lambda: compute(store, clv, start="2025-11", end=END, grain="month",
                                          timezone=TIMEZONE))
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            answers: dict[str, Any] = {}
            for round_ in range(rounds):
                for variant, (carry, on) in variants.items():
                    label = f"newest month, {variant} ({round_ + 1})"
                    switch(CUTS, False)
                    switch(on, True)
                    reading = replace(carried, call_start=carried.as_of) if carry else None
                    with EngineTimings() as timings, carrying(reading):
                        seconds, answers[variant] = timed(
                            label, lambda: compute(store, names, **month))
                    print(f"  {'':<52} slowest (s): {timings.slowest()}")
                    runs[variant].append((seconds, CPU[label]))
            switch(CUTS, True)
            if "campaign_roi" in names and "not carried" in variants:
                # what campaign ROI adds to a warm call: all 36 months before its periods were
                # narrowed; after, the months of the campaigns a day reached (on the demo, the
                # newest month and January 2023, its relationship campaign: the run from there)
                for label, span in (("campaign_roi, all 36 months (before)", (START, END)),
                                    ("campaign_roi, the newest month alone", ("2025-12", END))):
                    with EngineTimings():
                        timed(label, lambda s=span: compute(
                            store, ["campaign_roi"], start=s[0], end=s[1], grain="month",
                            timezone=TIMEZONE))
            campaign_metrics = [n for n in names if n.startswith("campaign_")]
            with carrying(replace(carried, call_start=carried.as_of)):
                timed("the campaign metrics' newest month", lambda: compute(
                    store, campaign_metrics, **month))
            if "campaign_roi" in names:
                roi_warm(store)
            first = next(iter(variants))
            baseline = answers[first].rows()
            for variant in list(variants)[1:]:
                same = answers[variant].rows() == baseline
                print(f"\n  {variant} vs {first}: {'equal' if same else 'DIFFERENT'}")
                if not same:
                    differences(answers[variant].rows(), baseline)
            wall0, cpu0 = min(runs[first])
            print(f"\n  best of {rounds}   {load()}")
            for variant in variants:
                wall, spent = min(runs[variant])
                print(f"  {variant:<40} {wall:8.2f} s (CPU {spent:7.2f} s): {wall / wall0:.3f}x wall,"
                      f" {spent / cpu0:.3f}x CPU")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def roi_warm(store: Store) -> None:
    """What campaign ROI alone costs a warm call after one new day: every period kept
    first (and its credits, `clientela.kpi.campaign_credits`), then a new day and the warm
    call with the credits not kept (as before: the run from the relationship campaign's
    start joins every contact since with its orders), then another day and the warm call
    with them kept (the days written credited afresh); the last answer checked against a
    cold one."""
    roi = ["campaign_roi"]
    kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
    timed("campaign_roi, every period kept (cold)", lambda: compute(
        store, roi, reuse=True, **kw))
    for round_, keep in ((1, False), (2, True)):
        new_day(store, round_)
        warm.KEEP_CREDITS = keep
        how = "credits kept" if keep else "credits not kept (before)"
        _, hot = timed(f"campaign_roi warm after a new day, {how}", lambda: compute(
            store, roi, reuse=True, **kw))
        print(f"  {'':<52} {recomputed()}; credits: {warm.last_report.credits}")
    warm.KEEP_CREDITS = True
    same = hot.rows() == compute(store, roi, **kw).rows()
    print(f"  campaign_roi warm vs cold: {'equal' if same else 'DIFFERENT'}")


def store_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo store's size and memory limit, as every warm benchmark takes them."""
    parser.add_argument("--orders", type=int, default=1_000_000,
                        help="orders in the demo store (customers are a tenth)")
    parser.add_argument("--memory-limit", default="1GB",
                        help="the store's memory_limit; 'none' for DuckDB's default")


def limit_of(args: argparse.Namespace) -> str | None:
    return None if args.memory_limit.lower() == "none" else str(args.memory_limit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    store_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3,
                        help="edits of each kind, each followed by a warm run (best of them)")
    parser.add_argument("--no-cold-check", action="store_true",
                        help="skip the final cold run: the first call is the baseline")
    parser.add_argument("--synthetic", action="store_true",
                        help="benchmarks/kpis.py's synthetic store (customers and orders only, "
                             "built in seconds) instead of the demo store: the metrics it can "
                             "answer")
    parser.add_argument("--skip", nargs="*", default=None,
                        help="metrics left out (default with --synthetic: the CLV models, "
                             "which its uniformly random purchases cannot identify)")
    parser.add_argument("--baseline", nargs="*", choices=("day", "refund"),
                        default=["day"],
                        help="the scenarios also run with the cuts off (--cuts; a "
                             "refund's warm call starts before the state, so it writes "
                             "the valid orders out either way)")
    parser.add_argument("--cuts", nargs="*", choices=CUTS, default=list(CUTS),
                        help="the cuts the baseline of --baseline's scenarios turns off")
    parser.add_argument("--variants", nargs="*", choices=tuple(VARIANTS),
                        default=list(VARIANTS), help="--newest-month's variants")
    parser.add_argument("--newest-month", action="store_true",
                        help="time only the newest month's engine call, state carried and "
                             "not (see above)")
    args = parser.parse_args(argv)
    skip = tuple(args.skip if args.skip is not None else
                 SYNTHETIC_UNFIT if args.synthetic else ())
    limit = limit_of(args)
    if args.newest_month:
        newest_month(args.orders, max(10, args.orders // 10), limit, args.rounds,
                     synthetic=args.synthetic, skip=skip, chosen=tuple(args.variants))
        return
    bench(args.orders, max(10, args.orders // 10), limit, args.rounds,
          check_cold=not args.no_cold_check, synthetic=args.synthetic, skip=skip,
          baseline=tuple(args.baseline), cuts=tuple(args.cuts))


if __name__ == "__main__":
    main()
