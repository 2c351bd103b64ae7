"""The whole KPI catalogue at scale: the engine on DuckDB vs a straightforward pandas version.

    python benchmarks/kpis.py                        # 10M orders, 1M customers, then 1M / 100k
    python benchmarks/kpis.py --sizes 1000000        # one size only
    python benchmarks/kpis.py --skip-catalogue       # RFM and the pandas comparison only
    python benchmarks/kpis.py --per-metric           # each metric's share of the catalogue

Builds (or reuses, cached under the temp dir) a demo store per size with
`clientela.demo.generate`; the tables go into the store with one bulk INSERT
each instead of `clientela.demo.load`, whose per-chunk upsert takes minutes per
million orders (the rows are the same: same columns, same hash). Then, per
size, in one process:

- the whole built-in catalogue, monthly over the demo's 36 months, through
  `clientela.kpi.compute` (wall time, peak RSS);
- the Sales and Retention metrics and RFM, the same definitions written as
  straightforward pandas over the orders table, against the engine on the
  same metrics (the ratio the issue asks for);
- RFM alone from the store (the engine's `rfm_table`, reusing
  benchmarks/kpi_rfm.py's runner).

Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpi_rfm import PeakRss, pandas_segments, run_ibis, run_sql, valid_cents

from clientela.kpi import compute
from clientela.kpi.periods import buckets, previous, zone
from clientela.model.entities import ENTITIES
from clientela.store import Store
from clientela.store.upsert import conform

START, END = "2023-01", "2026-01"
"""The demo's three years (it ends on 31 December 2025): 36 monthly periods."""
TIMEZONE = "UTC"
CACHE = Path(tempfile.gettempdir()) / "clientela-bench"
PANDAS_METRICS = ("orders", "revenue", "gross_sales", "discount_total", "active_customers",
                  "new_customers", "aov", "purchase_frequency", "retention_rate", "churn_rate",
                  "repeat_rate", "lapsed_customers", "rfm_segments")
"""What the pandas side implements: Sales (the order-level ones) + Retention (retention,
churn, repeat, lapsed) + RFM segment counts."""


# -- the store -------------------------------------------------------------------------------

def bulk_load(store: Store, tables: dict[str, pa.Table]) -> None:
    """One INSERT ... SELECT per table into an empty store: the upsert path's dedup and
    change detection cost minutes per million rows and buy nothing on a fresh store."""
    from clientela.store.columns import HASH_COLUMN, LOADED_AT_COLUMN, model_columns

    now = datetime.now().replace(microsecond=0)
    for model in ENTITIES:
        table = tables.get(model.table)
        if table is None or table.num_rows == 0:
            continue
        columns = [c.name for c in model_columns(model)]
        quoted = ", ".join(f'"{c}"' for c in columns)
        struct = ", ".join(f'"{c}" := "{c}"' for c in columns)
        store.con.register("_bulk", conform(model, table))
        try:
            store.con.execute(
                f'INSERT INTO "{model.table}" ({quoted}, {HASH_COLUMN}, {LOADED_AT_COLUMN}) '
                f"SELECT {quoted}, md5(CAST(to_json(struct_pack({struct})) AS VARCHAR)), ? "
                "FROM _bulk", [now])
        finally:
            store.con.unregister("_bulk")


def demo_store(orders: int, customers: int) -> Path:
    """The cached store for a size, generated and bulk-loaded on first use."""
    path = CACHE / f"demo-{orders}-{customers}.duckdb"
    if path.exists():
        return path
    from clientela.demo import generate

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.duckdb")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    data = generate(customers=customers, orders=orders)
    generated = time.perf_counter() - started
    with Store(partial) as store:
        bulk_load(store, data.tables)
        store.con.execute("CHECKPOINT")
    del data
    partial.rename(path)
    print(f"built {path}: generated in {generated:.0f} s, loaded in "
          f"{time.perf_counter() - started - generated:.0f} s")
    return path


# -- the pandas implementation ---------------------------------------------------------------

def _money(frame: pd.DataFrame, column: str, rate: pd.Series) -> pd.Series:
    """A converted amount in whole cents (the engine rounds each order's amount to cents)."""
    return (frame[column].astype("float64") * rate * 100).round().astype("int64")


def pandas_catalogue(store: Store) -> dict[tuple[str, str, str | None], float | None]:
    """PANDAS_METRICS monthly, written the way an analyst would: load the orders once, then
    per month boolean masks and group-bys. Keys (metric, period, item) like the engine's."""
    frame = store.con.execute(
        "SELECT order_id, customer_id, status, placed_at, fx_rate, subtotal, discount, "
        "loyalty_discount, total, refunded_amount FROM orders").df()
    frame = frame[~frame.status.isin(["cancelled", "refunded"])]
    rate = frame.fx_rate.astype("float64").fillna(1.0)
    frame = frame.assign(
        revenue=((frame.total.astype("float64") - frame.refunded_amount.astype("float64"))
                 * rate * 100).round().astype("int64"),
        gross=_money(frame, "subtotal", rate),
        disc=_money(frame, "discount", rate) + _money(frame, "loyalty_discount", rate),
    )
    known = frame[frame.customer_id.notna()]
    first = known.groupby("customer_id").placed_at.min()
    rfm_rows = valid_cents(frame.assign(status="paid"))
    out: dict[tuple[str, str, str | None], float | None] = {}

    def ratio(a: float, b: float) -> float | None:
        return None if b == 0 else a / b

    tz = zone(TIMEZONE)
    from clientela.kpi.periods import parse_bound

    for period in buckets(parse_bound(START), parse_bound(END), "month", tz):
        lo, hi = pd.Timestamp(period.start_utc), pd.Timestamp(period.end_utc)
        label = period.label
        now = frame[(frame.placed_at >= lo) & (frame.placed_at < hi)]
        revenue = now.revenue.sum() / 100
        out["orders", label, None] = float(len(now))
        out["revenue", label, None] = revenue
        out["gross_sales", label, None] = now.gross.sum() / 100
        out["discount_total", label, None] = now.disc.sum() / 100
        buyers = now.customer_id.dropna()
        out["active_customers", label, None] = float(buyers.nunique())
        out["new_customers", label, None] = float(((first >= lo) & (first < hi)).sum())
        out["aov", label, None] = ratio(revenue, len(now))
        out["purchase_frequency", label, None] = ratio(len(buyers), buyers.nunique())
        before = previous(period, tz)
        prior = known[(known.placed_at >= pd.Timestamp(before.start_utc))
                      & (known.placed_at < pd.Timestamp(before.end_utc))].customer_id.unique()
        kept = ratio(float(np.isin(prior, buyers.unique()).sum()), len(prior))
        out["retention_rate", label, None] = kept
        out["churn_rate", label, None] = None if kept is None else 1 - kept
        history = known[known.placed_at < hi].groupby("customer_id").agg(
            n=("order_id", "size"), last=("placed_at", "max"))
        out["repeat_rate", label, None] = ratio(float((history.n >= 2).sum()), len(history))
        out["lapsed_customers", label, None] = float(
            (history["last"] < hi - pd.Timedelta(days=180)).sum())
        for segment, count in pandas_segments(rfm_rows, period.end_utc).items():
            out["rfm_segments", label, str(segment)] = float(count)
    return out


def engine_values(result: Any) -> dict[tuple[str, str, str | None], float | None]:
    frame = result.to_pandas()
    frame = frame[frame.measure == "value"]
    # pandas 3 reads a null item as NaN, not None
    return {(r.metric, r.period, None if pd.isna(r.item) else str(r.item)):
            (None if pd.isna(r.value) else float(r.value)) for r in frame.itertuples()}


def agree(engine: dict[Any, float | None], reference: dict[Any, float | None]) -> str:
    """How many of the pandas numbers the engine reproduces (relative 1e-6: pandas rounds
    converted cents in float, the engine in DECIMAL)."""
    same = 0
    worst: list[Any] = []
    for key, expected in reference.items():
        found = engine.get(key)
        if expected is None or found is None:
            ok = expected == found
        else:
            ok = abs(found - expected) <= 1e-6 * max(1.0, abs(expected))
        same += ok
        if not ok and len(worst) < 3:
            worst.append((key, expected, found))
    return f"{same}/{len(reference)} numbers agree" + (f"; e.g. {worst}" if worst else "")


# -- running ---------------------------------------------------------------------------------

def timed(label: str, fn: Callable[[], Any]) -> tuple[float, int, Any]:
    with PeakRss() as rss:
        started = time.perf_counter()
        found = fn()
        seconds = time.perf_counter() - started
    print(f"  {label:<44} {seconds:8.2f} s   peak RSS {rss.peak / 2**20:7.0f} MiB", flush=True)
    return seconds, rss.peak, found


def catalogue_names() -> list[str]:
    from clientela.metrics.catalog import builtin_metrics

    return [m.name for m in builtin_metrics()]


class PerMetric(logging.Handler):
    """Prints the engine's per-metric timing (logged at DEBUG) of the catalogue call: where
    its time goes, shared tables included in the first metric that builds them."""

    def emit(self, record: logging.LogRecord) -> None:
        name, rest = record.getMessage().split(": ", 1)
        print(f"    {name:<42} {rest}", flush=True)


def per_metric_timing(on: bool) -> None:
    engine_log = logging.getLogger("clientela.kpi.engine")
    engine_log.handlers = [PerMetric()] if on else []
    engine_log.setLevel(logging.DEBUG if on else logging.WARNING)
    engine_log.propagate = False


def bench(orders: int, customers: int, *, catalogue: bool,
          breakdown: bool = False, memory_limit: str | None = None,
          pandas_up_to: int = 1_000_000) -> dict[str, float]:
    path = demo_store(orders, customers)
    figures: dict[str, float] = {}
    print(f"\n{orders:,} orders, {customers:,} customers ({path}), DuckDB memory_limit "
          f"{memory_limit or 'default (80% of RAM)'}", flush=True)
    with Store(path, read_only=True, memory_limit=memory_limit) as store:
        kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
        per_metric_timing(breakdown)
        if catalogue:
            names = catalogue_names()
            seconds, peak, result = timed(
                f"whole catalogue ({len(names)} metrics) x 36 months",
                lambda: compute(store, names, **kw))
            figures["catalogue"], figures["catalogue_rss"] = seconds, peak
            print(f"  {'':<44} {len(result):,} result rows")
            per_metric_timing(False)
        seconds, _, result = timed(f"engine: the pandas subset ({len(PANDAS_METRICS)})",
                                   lambda: compute(store, list(PANDAS_METRICS), **kw))
        figures["subset"] = seconds
        if orders <= pandas_up_to:
            seconds, peak, reference = timed("pandas: the same metrics",
                                             lambda: pandas_catalogue(store))
            figures["pandas"], figures["pandas_rss"] = seconds, peak
            print(f"  {'':<44} {agree(engine_values(result), reference)}")
            print(f"  {'':<44} pandas / engine = {figures['pandas'] / figures['subset']:.1f}x")
        else:
            print(f"  pandas skipped above {pandas_up_to:,} orders (--pandas-up-to): at 10M it "
                  "ran over 38 minutes without finishing")
        as_of = datetime(2026, 1, 1)
        runs = [(timed("RFM alone (rfm_table, as of 2026-01-01)", lambda: run_ibis(store, as_of)),
                 timed("RFM alone, hand-written DuckDB SQL", lambda: run_sql(store)))
                for _ in range(3)]
        figures["rfm"] = min(r[0][0] for r in runs)
        figures["rfm_sql"] = min(r[1][0] for r in runs)
        print(f"  {'':<44} best of 3: engine {figures['rfm']:.2f} s, raw SQL "
              f"{figures['rfm_sql']:.2f} s ({figures['rfm'] / figures['rfm_sql']:.2f}x)")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 1_000_000],
                        help="order counts; customers are a tenth")
    parser.add_argument("--skip-catalogue", action="store_true")
    parser.add_argument("--per-metric", action="store_true",
                        help="print each metric's time inside the catalogue call")
    parser.add_argument("--memory-limit", default="1GB",
                        help="the store's memory_limit (workspace.memory_limit); 'none' for "
                        "DuckDB's default")
    parser.add_argument("--pandas-up-to", type=int, default=1_000_000,
                        help="run the pandas comparison only up to this many orders")
    args = parser.parse_args(argv)
    limit = None if args.memory_limit.lower() == "none" else args.memory_limit
    found = {n: bench(n, max(10, n // 10), catalogue=not args.skip_catalogue,
                      breakdown=args.per_metric, memory_limit=limit,
                      pandas_up_to=args.pandas_up_to)
             for n in args.sizes}
    if len(found) > 1:
        big, small = max(found), min(found)
        print(f"\ncost growth from {small:,} to {big:,} orders ({big / small:.0f}x):")
        for key in ("catalogue", "subset", "pandas", "rfm"):
            if key in found[big] and key in found[small]:
                print(f"  {key:<10} {found[big][key] / found[small][key]:5.1f}x")


if __name__ == "__main__":
    main()
