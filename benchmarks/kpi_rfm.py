"""RFM at scale: the Ibis engine on DuckDB vs hand-written DuckDB SQL vs pandas, one process.

    python benchmarks/kpi_rfm.py                     # 10M orders, 1M customers
    python benchmarks/kpi_rfm.py --orders 1000000    # to see how cost grows

Generates (or reuses, with --store) a synthetic store with the real schema,
then scores every customer three ways, checks that all three give the same
segment counts, and prints wall time, peak RSS during each run and the
ratios. Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.segments.rfm import DEFAULT_SEGMENTS, rfm_table
from clientela.store import Store

AS_OF = datetime(2026, 1, 1)
PAGE = 4096


class PeakRss:
    """Samples the resident set size every few ms while a block runs: the high-water mark of
    one step, which getrusage cannot give once an earlier step has set it."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def generate(store: Store, orders: int, customers: int) -> None:
    """Synthetic orders straight in SQL (vectorised, seconds): 3 years, 5% cancelled, 2%
    refunded, 3% partially refunded, 5% in USD with an fx rate."""
    store.con.execute("SELECT setseed(0.42)")
    store.con.execute(f"""
        INSERT INTO orders
        SELECT 'bench', 'o' || i, 'c' || (hash(i) % {customers}),
               CASE WHEN i % 20 = 0 THEN 'cancelled' WHEN i % 50 = 1 THEN 'refunded'
                    WHEN i % 33 = 2 THEN 'partially_refunded' ELSE 'paid' END,
               TIMESTAMP '2023-01-01' + to_seconds((hash(i * 7) % 94608000)::BIGINT),
               NULL,
               CASE WHEN i % 20 = 3 THEN 'USD' ELSE '' END,
               CASE WHEN i % 20 = 3 THEN 5.43210000 ELSE NULL END,
               amount + 5, 5, 0, 0, amount,
               CASE WHEN i % 50 = 1 THEN amount WHEN i % 33 = 2 THEN round(amount / 4, 2)
                    ELSE 0 END,
               ['online', 'store', 'app', 'whatsapp', 'marketplace'][1 + i % 5],
               NULL, NULL, NULL, 0, 0, 0, 'x', now()
        FROM (SELECT i, ((hash(i * 13) % 50000) / 100.0 + 10)::DECIMAL(18,2) AS amount
              FROM range({orders}) t(i))
    """)


def run_ibis(store: Store, as_of: datetime = AS_OF) -> pd.Series:
    """Segment counts from the engine's rfm_table, as of `as_of`."""
    backend = store.ibis()
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    cache = TableCache(backend, materialise=True)
    ctx = MetricContext(backend=backend, period=period, as_of=as_of, timezone="UTC",
                        currency="BRL", metric="rfm", cache=cache)
    try:
        table = rfm_table(ctx)
        counts = table.group_by("segment").aggregate(n=table.count()).to_pandas()
    finally:
        cache.release()
    return counts.set_index("segment")["n"].sort_index()


def _segment_sql() -> str:
    cases = " ".join(
        f"WHEN r BETWEEN {s.r_min} AND {s.r_max} AND fm BETWEEN {s.fm_min} AND {s.fm_max} "
        f"THEN '{s.segment}'" for s in DEFAULT_SEGMENTS)
    return f"CASE {cases} ELSE 'Other' END"


def run_sql(store: Store) -> pd.Series:
    query = f"""
    WITH valid AS (
        SELECT customer_id, placed_at,
               round((total - refunded_amount) * coalesce(fx_rate, 1), 2)::DECIMAL(18,2) AS rev
        FROM orders
        WHERE status NOT IN ('cancelled', 'refunded') AND customer_id IS NOT NULL
          AND placed_at < TIMESTAMP '{AS_OF:%Y-%m-%d %H:%M:%S}'),
    per AS (
        SELECT customer_id, count(*) AS f, sum(rev) AS m,
               -- calendar days from the last order's date to the as-of date (docs/metrics.md:
               -- yesterday at any hour is 1); elapsed 24-hour periods would count an order at
               -- exactly midnight a day apart from the rest of its day, and at 100M orders that
               -- moved one customer across a recency cut point
               (DATE '{AS_OF:%Y-%m-%d}' - max(placed_at)::DATE) AS days
        FROM valid GROUP BY customer_id),
    scored AS (
        SELECT *,
          1 + floor(5 * (rank() OVER (ORDER BY days DESC) - 1) / count(*) OVER ())::BIGINT AS r,
          1 + floor(5 * (rank() OVER (ORDER BY f) - 1) / count(*) OVER ())::BIGINT AS fs,
          1 + floor(5 * (rank() OVER (ORDER BY m) - 1) / count(*) OVER ())::BIGINT AS ms
        FROM per),
    fm AS (SELECT *, floor((fs + ms) / 2 + 0.5)::BIGINT AS fm FROM scored)
    SELECT {_segment_sql()} AS segment, count(*) AS n FROM fm GROUP BY 1
    """
    counts = store.con.execute(query).df()
    return counts.set_index("segment")["n"].sort_index()


def valid_cents(frame: pd.DataFrame) -> pd.DataFrame:
    """Valid orders of identified customers with revenue in whole cents (exact ranks), from
    the orders columns customer_id, status, placed_at, fx_rate, total, refunded_amount."""
    frame = frame[~frame.status.isin(["cancelled", "refunded"]) & frame.customer_id.notna()]
    rate = frame.fx_rate.astype("float64").fillna(1.0)
    cents = ((frame.total.astype("float64") - frame.refunded_amount.astype("float64"))
             * rate * 100).round().astype("int64")
    return frame.assign(cents=cents)


def pandas_segments(valid: pd.DataFrame, as_of: datetime) -> pd.Series:
    """RFM segment counts as of `as_of` over valid_cents() rows, as an analyst would write it."""
    frame = valid[valid.placed_at < as_of]
    per = frame.groupby("customer_id").agg(f=("cents", "size"), m=("cents", "sum"),
                                           last=("placed_at", "max"))
    # calendar days between dates, as the definition counts them (see run_sql)
    per["days"] = (pd.Timestamp(as_of).normalize() - per["last"].dt.normalize()).dt.days
    n = len(per)

    def score(values: pd.Series, ascending: bool) -> pd.Series:
        rank = values.rank(method="min", ascending=ascending).astype("int64")
        return 1 + (5 * (rank - 1)) // n

    per["r"] = score(per["days"], ascending=False)
    per["fs"] = score(per["f"], ascending=True)
    per["ms"] = score(per["m"], ascending=True)
    per["fm"] = (per["fs"] + per["ms"] + 1) // 2
    segment = pd.Series("Other", index=per.index)
    assigned = pd.Series(False, index=per.index)
    for rule in DEFAULT_SEGMENTS:
        hit = (~assigned & per.r.between(rule.r_min, rule.r_max)
               & per.fm.between(rule.fm_min, rule.fm_max))
        segment[hit] = rule.segment
        assigned |= hit
    return segment.value_counts().sort_index().rename("n")


def run_pandas(store: Store) -> pd.Series:
    """A straightforward pandas implementation, as an analyst would write it."""
    frame = store.con.execute(
        "SELECT customer_id, status, placed_at, currency, fx_rate, total, refunded_amount "
        "FROM orders").df()
    return pandas_segments(valid_cents(frame), AS_OF)


def timed(label: str, fn: Callable[[Store], pd.Series], store: Store
          ) -> tuple[float, int, pd.Series]:
    with PeakRss() as rss:
        start = time.perf_counter()
        found = fn(store)
        seconds = time.perf_counter() - start
    print(f"{label:<22} {seconds:8.2f} s   peak RSS {rss.peak / 2**20:8.0f} MiB")
    return seconds, rss.peak, found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=0,
                        help="default: orders / 10")
    parser.add_argument("--store", type=Path, default=None,
                        help="Reuse (or create) this store file instead of a temporary one.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs per implementation; "
                        "the best is reported (the first warms the file cache).")
    args = parser.parse_args(argv)
    customers = args.customers or max(1, args.orders // 10)
    folder = tempfile.TemporaryDirectory()
    path = args.store or Path(folder.name) / "bench.duckdb"
    fresh = not path.exists()
    with Store(path) as store:
        if fresh or store.count("orders") == 0:
            start = time.perf_counter()
            generate(store, args.orders, customers)
            print(f"generated {args.orders:,} orders for {customers:,} customers in "
                  f"{time.perf_counter() - start:.1f} s")
        print(f"store {path}: {store.count('orders'):,} orders\n")
        results: dict[str, Any] = {}
        for label, fn in (("ibis engine (duckdb)", run_ibis), ("raw duckdb sql", run_sql),
                          ("pandas", run_pandas)):
            runs = [timed(label, fn, store) for _ in range(args.repeat)]
            results[label] = min(runs, key=lambda r: r[0])
    counts = [r[2] for r in results.values()]
    same = all(c.equals(counts[0]) for c in counts[1:])
    print(f"\nsegment counts identical across the three: {same}")
    print(counts[0].to_string())
    base = results["ibis engine (duckdb)"][0]
    print(f"\nibis / raw sql = {base / results['raw duckdb sql'][0]:.2f}x time; "
          f"pandas / ibis = {results['pandas'][0] / base:.1f}x time")
    if not same:
        raise SystemExit("implementations disagree")


if __name__ == "__main__":
    main()
