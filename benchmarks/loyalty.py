"""The loyalty engine at scale: the whole ledger, then a daily incremental run, against a
straightforward pandas implementation of the same rules.

    python benchmarks/loyalty.py                          # 1M orders, 100k customers
    python benchmarks/loyalty.py --orders 10000000 --customers 1000000
    python benchmarks/loyalty.py --skip-pandas            # the engine only
    python benchmarks/loyalty.py --replicate 10 --skip-pandas   # 10M orders, 1M customers:
                                                          # the 1M store's orders ten times over

Uses the cached demo store of benchmarks/kpis.py (built on first use), copied to a
working file without the generator's own ledger, so the engine writes every row. In one
process:

- the whole ledger (`clientela_loyalty.engine.run` over the full history, rows written to
  the store): wall time and peak RSS;
- a daily incremental run: one more day of orders (about a day's share of the history, for
  existing customers, a few of them redeeming) and a few refunds of earlier orders, then
  `run` for that day: wall time, customers replayed;
- the same rules written as plain pandas (groupby customer, a loop over each customer's
  rows with a list of lots), over the same orders, with its totals by kind checked against
  the engine's. The ratio is pandas time / engine time.

Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clientela_loyalty.engine import run
from clientela_loyalty.rules import LoyaltyRules
from kpi_rfm import PeakRss
from kpis import CACHE, demo_store

from clientela.demo.calendar import DEFAULT_END
from clientela.store import Store

TIMEZONE = "America/Sao_Paulo"
RULES = LoyaltyRules(exclude_channels=["marketplace"], expiry_days=365,
                     point_value=Decimal("0.05"))
UNTIL = datetime(DEFAULT_END.year, DEFAULT_END.month, DEFAULT_END.day, tzinfo=UTC) \
    + timedelta(days=1)
US_PER_DAY = 86_400_000_000


def working_copy(orders: int, customers: int, replicate: int = 1) -> Path:
    """A copy of the demo store without its ledger; with `replicate` n, its orders n
    times over, each copy's order and customer ids suffixed `~k` (n times the customers,
    each with the same history as the original)."""
    source = demo_store(orders, customers)
    suffix = f"x{replicate}" if replicate > 1 else ""
    target = CACHE / f"loyalty-{orders}-{customers}{suffix}.duckdb"
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    with Store(target) as store:
        store.con.execute("DELETE FROM loyalty_events")
        store.con.execute("DELETE FROM sync_state WHERE source = 'loyalty'")
        for k in range(1, replicate):
            store.con.execute(f"""
                INSERT INTO orders SELECT * REPLACE (customer_id || '~{k}' AS customer_id,
                                                    order_id || '~{k}' AS order_id)
                FROM orders WHERE NOT contains(order_id, '~')""")
        store.con.execute("CHECKPOINT")
    return target


def add_a_day(store: Store, share: float, seed: int = 1) -> int:
    """A day of new orders (copies of random earlier ones, moved to the new day), some of
    them redeeming, plus refunds of a few earlier orders. Returns the orders added."""
    rng = np.random.default_rng(seed)
    total = store.count("orders")
    n = max(1, int(total * share))
    store.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _day AS
        SELECT * REPLACE (
            'day-' || order_id AS order_id,
            TIMESTAMP '{UNTIL:%Y-%m-%d} 12:00:00' + INTERVAL (hash(order_id) % 36000) SECOND
                AS placed_at,
            NULL::TIMESTAMP AS updated_at, 'paid' AS status, 0.00 AS refunded_amount,
            CASE WHEN hash(order_id) % 10 = 0 THEN 500 ELSE 0 END AS loyalty_points_redeemed)
        FROM orders USING SAMPLE {n} ROWS (reservoir, {int(rng.integers(1 << 30))})""")
    store.con.execute("""
        INSERT INTO orders SELECT * REPLACE (now()::TIMESTAMP AS _loaded_at) FROM _day""")
    store.con.execute(f"""
        UPDATE orders SET status = 'partially_refunded', refunded_amount = round(total / 2, 2),
               updated_at = TIMESTAMP '{UNTIL:%Y-%m-%d} 15:00:00', _loaded_at = now()::TIMESTAMP
        WHERE order_id IN (SELECT order_id FROM orders WHERE status = 'fulfilled'
                           AND placed_at > TIMESTAMP '{UNTIL:%Y-%m-%d}' - INTERVAL 60 DAY
                           USING SAMPLE {max(1, n // 20)} ROWS)""")
    return n


# -- the pandas implementation ---------------------------------------------------------------

def pandas_ledger(store: Store, until: datetime) -> dict[str, int]:
    """The same rules, written the obvious way: points per order with pandas, then each
    customer's rows in a Python loop with a list of [expires, left] lots. Returns the total
    points by kind."""
    until_ts = pd.Timestamp(until).tz_convert("UTC").tz_localize(None)
    orders = store.con.execute("""
        SELECT customer_id, order_id, status, placed_at, coalesce(updated_at, placed_at)
               AS updated_at, total, shipping, refunded_amount, fx_rate, channel,
               loyalty_points_redeemed
        FROM orders WHERE customer_id IS NOT NULL""").df()
    orders = orders[orders.placed_at < until_ts]
    rate = orders.fx_rate.astype(float).fillna(1.0)
    net = ((orders.total.astype(float) - orders.shipping.astype(float)) * rate).round(2)
    net_cents = (net * 100).round().astype("int64").clip(lower=0)
    net_cents[(orders.channel == "marketplace") | (orders.status == "pending")] = 0
    total_cents = (orders.total.astype(float) * rate * 100).round().astype("int64")
    refunded_cents = (orders.refunded_amount.astype(float) * rate * 100).round().astype("int64")
    refunded_cents[orders.status == "cancelled"] = total_cents[orders.status == "cancelled"]
    orders = orders.assign(net_cents=net_cents, total_cents=total_cents.clip(lower=1),
                           refunded_cents=refunded_cents,
                           updated_at=orders.updated_at.where(orders.updated_at > orders.placed_at,
                                                              orders.placed_at))
    orders = orders.sort_values(["customer_id", "placed_at", "order_id"])
    year = pd.Timedelta(days=365)
    totals = {"earn": 0, "redeem": 0, "expire": 0, "reverse": 0}
    for _, rows in orders.groupby("customer_id", sort=False):
        happenings = []
        for row in rows.itertuples(index=False):
            if row.loyalty_points_redeemed > 0:
                happenings.append((row.placed_at, 2, row))
            if row.net_cents > 0:
                happenings.append((row.placed_at, 3, row))
                if row.refunded_cents > 0 and row.updated_at > row.placed_at \
                        and row.updated_at < until_ts:
                    happenings.append((row.updated_at, 1, row))
        happenings.sort(key=lambda h: (h[0], h[1], h[2].order_id))
        lots: list[list] = []  # [expires, left, order_id]
        earned: dict[str, list] = {}
        for moment, rank, row in [*happenings, (until_ts - pd.Timedelta(microseconds=1), 9, None)]:
            while lots and lots[0][0] <= moment:
                _, left, _ = lots.pop(0)
                totals["expire"] += left
            if rank == 2:
                wanted, got = int(row.loyalty_points_redeemed), 0
                for lot in lots:
                    step = min(lot[1], wanted - got)
                    lot[1] -= step
                    got += step
                totals["redeem"] += got
            elif rank == 3:
                refunded = row.refunded_cents if row.updated_at <= moment else 0
                points = row.net_cents * (row.total_cents - refunded) // (100 * row.total_cents)
                if points > 0:
                    lot = [moment + year, points, row.order_id]
                    lots.append(lot)
                    earned[row.order_id] = [*lot, points]
                    totals["earn"] += points
            elif rank == 1 and row.order_id in earned:
                lot = earned[row.order_id]
                live = next((x for x in lots if x[2] == row.order_id), None)
                kept = row.net_cents * (row.total_cents - row.refunded_cents) \
                    // (100 * row.total_cents)
                back = min(lot[3] - kept, live[1] if live else 0)
                if back > 0:
                    live[1] -= back  # type: ignore[index]
                    totals["reverse"] += back
    return totals


def engine_totals(store: Store) -> dict[str, int]:
    rows = store.con.execute("SELECT kind, CAST(abs(sum(points)) AS BIGINT) FROM loyalty_events "
                             "GROUP BY kind").fetchall()
    return {str(k): int(v) for k, v in rows}


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    with PeakRss() as rss:
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label:<34} {took:8.2f} s   CPU {cpu:7.2f} s   peak RSS {rss.peak / 2**30:5.2f} GiB"
          f"   (load {os.getloadavg()[0]:.1f})", flush=True)
    return took, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--memory-limit", default="1GB")
    parser.add_argument("--replicate", type=int, default=1,
                        help="use the demo store's orders this many times over (ids suffixed): "
                             "10M orders of 1M customers from the cached 1M store")
    args = parser.parse_args(argv)

    path = working_copy(args.orders, args.customers, args.replicate)
    print(f"store: {args.orders * args.replicate:,} orders, "
          f"{args.customers * args.replicate:,} customers ({path})")
    with Store(path, memory_limit=args.memory_limit) as store:
        whole, summary = timed("engine: whole ledger", lambda: run(
            store, RULES, until=UNTIL, timezone=TIMEZONE))
        rows = store.count("loyalty_events")
        print(f"  {rows:,} ledger rows, {summary.customers_replayed:,} customers, "
              f"{summary.members:,} members, liability {summary.liability}; "
              f"points {summary.points}", flush=True)
        whole_totals = engine_totals(store)
        added = add_a_day(store, share=1 / 1000)
        daily, day = timed(f"engine: next day (+{added:,} orders)", lambda: run(
            store, RULES, until=UNTIL + timedelta(days=1), timezone=TIMEZONE))
        print(f"  {day.customers_replayed:,} customers replayed; points {day.points}")
        if not args.skip_pandas:
            store.con.execute("DELETE FROM orders WHERE order_id LIKE 'day-%'")
            store.con.execute("""UPDATE orders SET status = 'fulfilled', refunded_amount = 0,
                                 updated_at = NULL WHERE updated_at = TIMESTAMP
                                 '""" + f"{UNTIL:%Y-%m-%d}" + " 15:00:00'")
            took, totals = timed("pandas: whole ledger", lambda: pandas_ledger(store, UNTIL))
            same = "identical" if totals == whole_totals else \
                f"DIFFER: pandas {totals} engine {whole_totals}"
            print(f"  totals by kind {same}")
            print(f"ratio pandas / engine (whole ledger): {took / whole:.1f}x")
    print(f"daily incremental / whole: {daily / whole:.3f}")


if __name__ == "__main__":
    main()
