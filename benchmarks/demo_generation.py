"""How long the demo store takes to generate, and how much memory it needs.

Run: python benchmarks/demo_generation.py [--sizes 1000000 10000000] [--load [--upsert-baseline]]
     [--in-memory-up-to N]

The generator works in blocks (`clientela.demo.DemoBuilder`, at most
`BLOCK_ORDERS` orders each), so its peak memory is a block's whatever the
size: the target is under 2 GB at 10M, 30M and 100M orders. Each figure
comes from a fresh process (peak RSS of the child: its VmHWM), so one
size's peak does not hide the next one's; the child prints a line a block
on stderr (orders so far, time, peak RSS), so a long run stopped part way
still says how far it got. Each block is checked as it goes: orders inside
the window, at most one valid purchase per customer a local day. Side by side, as the baseline, the
same store generated all in memory (`generate`, every table at once) where
that fits (`--in-memory-up-to`, default 1M orders), and the ratio. `--load`
also writes each block into a temporary store through the demo's loader,
as `clientela demo` does into a store without a demo (bulk inserts, the
customers upserted), and counts that in time and memory; `--upsert-baseline`
also loads it the way every table was loaded before (upserts in 50,000-row
chunks) and prints the ratio.
Customers are a tenth of the orders, as in benchmarks/kpis.py.

Measured on the 2-core machine shared by six engineers (`nice -n 10`, load
average 13-27; one run each, the machine allowed no more; docs/demo.md has
the table):

    10,000,000 orders, 1,000,000 customers
      20 blocks     9,997,038 orders   50,727,603 rows   507.9 s  peak RSS  998.8 MiB
      0 outside the window; most valid purchases of one customer 1029 (1096 days)
    30,000,000 orders, 3,000,000 customers
      60 blocks    29,986,853 orders  152,156,838 rows   382.9 s  peak RSS 1022.0 MiB
      0 outside the window; most valid purchases of one customer 1029 (1096 days)
    100,000,000 orders, 10,000,000 customers
      200 blocks   99,900,784 orders  506,885,133 rows  3090.5 s  peak RSS 1056.0 MiB
      0 outside the window; most valid purchases of one customer 1052 (1096 days)
    1,000,000 orders, 100,000 customers, loaded into a store (--upsert-baseline)
      2 blocks      1,005,663 orders    5,102,079 rows   313.7 s  peak RSS 1248.4 MiB
      upserted      1,005,663 orders    5,102,079 rows   404.2 s  peak RSS 1131.9 MiB
      bulk / upsert load: time 0.78x, peak RSS 1.10x
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from scale import _high_water_mark

LIMIT_MIB = 2048.0


class _Checks:
    """What every block must hold, checked as it goes (a block owns its customers, so the
    per-customer figures are whole within it): order times inside the window, at most one
    valid purchase per customer a local day, so never more purchases than days."""

    def __init__(self, start: date, end: date, utc_offset_hours: int) -> None:
        offset = timedelta(hours=utc_offset_hours)
        self.low = datetime.combine(start, datetime.min.time()) - offset
        self.high = datetime.combine(end + timedelta(days=1), datetime.min.time()) - offset
        self.days = (end - start).days + 1
        self.first = self.last = None
        self.most_purchases = 0
        self.outside = 0
        self.repeated_days = 0

    def block(self, orders: pa.Table) -> None:
        placed = orders["placed_at"]
        low, high = pc.min(placed).as_py(), pc.max(placed).as_py()
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)
        self.outside += int(pc.sum(pc.or_(pc.less(placed, pa.scalar(self.low, placed.type)),
                                          pc.greater_equal(placed, pa.scalar(self.high,
                                                                             placed.type)))
                                   ).as_py() or 0)
        valid = orders.filter(pc.invert(pc.is_in(orders["status"],
                                                 pa.array(["cancelled", "refunded"]))))
        day = pc.floor_temporal(pc.subtract(valid["placed_at"],
                                            pa.scalar(self.low - datetime.combine(
                                                self.low.date(), datetime.min.time()))),
                                unit="day")
        per = pa.table({"c": valid["customer_id"], "d": day})
        counts = per.group_by("c").aggregate([("d", "count"), ("d", "count_distinct")])
        self.most_purchases = max(self.most_purchases, pc.max(counts["d_count"]).as_py() or 0)
        self.repeated_days += int(pc.sum(pc.subtract(counts["d_count"],
                                                     counts["d_count_distinct"])).as_py() or 0)

    def summary(self) -> dict[str, float | int | str]:
        return {"first_order": str(self.first), "last_order": str(self.last),
                "window_days": self.days, "outside_window": self.outside,
                "most_purchases": self.most_purchases, "repeated_days": self.repeated_days}


def _blocks(customers: int, orders: int, with_load: bool, upsert: bool = False
            ) -> dict[str, float | int | str]:
    from clientela.demo import DemoBuilder, Tables, load
    from clientela.demo.calendar import UTC_OFFSET_HOURS
    from clientela.store.store import Store

    started = time.perf_counter()
    builder = DemoBuilder(customers=customers, orders=orders, seed=42, keep_per_customer=False)
    window = builder.shared.window
    checks = _Checks(window.start, window.end, UTC_OFFSET_HOURS)
    rows = made = blocks_done = 0
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb") if with_load else None
        for block in builder.blocks():
            rows += sum(table.num_rows for table in block.values())
            made += block["orders"].num_rows
            checks.block(block["orders"])
            blocks_done += 1
            # a line a block on stderr, so a run stopped part way still gives its figures
            print(f"block {blocks_done}/{builder.n_blocks}: {made:,} orders"
                  f"  {time.perf_counter() - started:.0f} s"
                  f"  peak RSS {_high_water_mark() / 2**20:.0f} MiB"
                  f"  (load avg {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            if store is not None:  # a new store: bulk-inserted, as `clientela demo` does
                load(store, Tables(block), fresh=not upsert)
            del block
        wide = builder.store_wide()
        rows += sum(table.num_rows for table in wide.values())
        if store is not None:
            load(store, Tables(wide), fresh=not upsert)
            store.close()
    return {"orders": made, "rows": rows, "blocks": builder.n_blocks,
            "seconds": time.perf_counter() - started, **checks.summary()}


def _in_memory(customers: int, orders: int) -> dict[str, float | int | str]:
    from clientela.demo import generate

    started = time.perf_counter()
    data = generate(customers=customers, orders=orders, seed=42)
    return {"orders": data["orders"].num_rows, "rows": sum(data.counts().values()),
            "blocks": 0, "seconds": time.perf_counter() - started}


def _child(mode: str, customers: int, orders: int, with_load: bool
           ) -> dict[str, float | int | str]:
    result = (_blocks(customers, orders, with_load, upsert=mode == "upsert")
              if mode in ("blocks", "upsert")
              else _in_memory(customers, orders))
    result["peak_mib"] = _high_water_mark() / 2**20
    return result


def _run(mode: str, orders: int, with_load: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, str(orders // 10), str(orders)]
    if with_load:
        command.append("--load")
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def _line(label: str, result: dict[str, Any]) -> str:
    load = os.getloadavg()[0]
    return (f"  {label:<10} {int(result['orders']):>11,} orders {int(result['rows']):>12,} rows"
            f"  {result['seconds']:8.1f} s  peak RSS {result['peak_mib']:8.1f} MiB"
            f"  (load avg {load:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="order counts (customers are a tenth)")
    parser.add_argument("--load", action="store_true", help="also load each block into a store")
    parser.add_argument("--upsert-baseline", action="store_true",
                        help="with --load: also load by upserts only, the baseline")
    parser.add_argument("--in-memory-up-to", type=int, default=1_000_000,
                        help="run the all-in-memory baseline up to this many orders")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, customers, orders = args.child
        print(json.dumps(_child(mode, int(customers), int(orders), args.load)))
        return 0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    failed = False
    for orders in args.sizes:
        print(f"{orders:,} orders, {orders // 10:,} customers"
              + (", loaded into a store" if args.load else ""))
        blocks = _run("blocks", orders, args.load)
        print(_line(f"{int(blocks['blocks'])} blocks", blocks))
        print(f"  orders placed {blocks['first_order']} .. {blocks['last_order']} UTC, "
              f"{blocks['outside_window']} outside the window; most valid purchases of one "
              f"customer {blocks['most_purchases']} (window: {blocks['window_days']} days), "
              f"{blocks['repeated_days']} repeated on a day")
        if blocks["outside_window"] or blocks["repeated_days"] or \
                int(blocks["most_purchases"]) > int(blocks["window_days"]):
            print("  CHECK FAILED")
            failed = True
        if blocks["peak_mib"] > LIMIT_MIB:
            print(f"  OVER {LIMIT_MIB:.0f} MiB")
            failed = True
        if args.load and args.upsert_baseline:
            upserted = _run("upsert", orders, True)
            print(_line("upserted", upserted))
            print(f"  bulk / upsert load: time {blocks['seconds'] / upserted['seconds']:.2f}x, "
                  f"peak RSS {blocks['peak_mib'] / upserted['peak_mib']:.2f}x")
        if orders <= args.in_memory_up_to:
            whole = _run("memory", orders, False)
            print(_line("in memory", whole))
            print(f"  blocks / in memory: time {blocks['seconds'] / whole['seconds']:.2f}x, "
                  f"peak RSS {blocks['peak_mib'] / whole['peak_mib']:.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
