"""Syncing 100k orders from the fake Shopify and WooCommerce: speed, requests, memory.

Run: python benchmarks/sync.py [--sizes 25000,100000] [--cases shopify,shopify-bulk,woo]

Targets (issue 6): requests = floor + at most 1%, where the floor is
⌈N / page size⌉ per stream; at least 5,000 orders/s of *local* work
(decoding, mapping, validation and store writes: the HTTP wait is timed
apart and left out, since it is the fake's speed, not ours); peak memory
flat in N. Local work is shown as wall time and as CPU time: on a shared
machine the wall time mostly measures the other tenants (others' jobs on
the same cores can leave this one a third of a core), the CPU time does not.

Each (case, size) runs in a fresh worker process, so one run's peak RSS
does not hide the next; each worker runs the fake server in a process of
its own, so the fake's copy of the store is not counted as ours. The
fakes never throttle here (their buckets are sized out of the way): pacing
is exercised by the tests on a virtual clock, and would only add waiting.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS_PER_ORDERS = 20
"""Customers = orders / 20 (the fakes' generator draws each order's buyer from them)."""
CONTEXT = {"timezone": "UTC", "reporting_currency": "BRL"}


# -- the fake, in its own process ---------------------------------------------------

def _serve(kind: str, orders: int, conn: Any) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.connectors.fakes.data import generate

    data = generate(customers=max(1, orders // CUSTOMERS_PER_ORDERS), orders=orders)
    fake: Any
    if kind == "woo":
        from tests.connectors.fakes.woocommerce import FakeWooCommerce
        fake = FakeWooCommerce(data)
    else:
        from tests.connectors.fakes.shopify import FakeShopify
        fake = FakeShopify(data, bucket_size=1e12, restore_rate=1e12, max_query_cost=1e12,
                           bulk_polls=2)
    with fake:
        conn.send({"origin": fake.origin, "customers": len(data.customers),
                   "orders": len(data.orders),
                   "lines": sum(len(o.lines) for o in data.orders.values()),
                   "token": getattr(fake, "token", None), "key": getattr(fake, "key", None),
                   "secret": getattr(fake, "secret", None)})
        conn.recv()  # until the worker is done


@contextmanager
def fake_server(kind: str, orders: int) -> Iterator[dict[str, Any]]:
    parent, child = mp.Pipe()
    process = mp.get_context("fork").Process(target=_serve, args=(kind, orders, child),
                                             daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=30)


# -- timing the parts of one sync ------------------------------------------------------

class Timer:
    """Wall and CPU seconds per part. CPU time is what the machine's load does not inflate
    (others' benchmarks share its cores), so local work is shown both ways."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def _add(self, name: str, wall: float, cpu: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - wall
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self._add(name, wall, cpu)

        return timed

    def wrap_iterator(self, name: str, function: Callable[..., Iterator[Any]]
                      ) -> Callable[..., Iterator[Any]]:
        """Time spent inside a generator (pulling lines off the wire), not in its consumer."""
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = iter(function(*args, **kwargs))
            while True:
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    item = next(iterator)
                except StopIteration:
                    self._add(name, wall, cpu)
                    return
                self._add(name, wall, cpu)
                yield item

        return timed


def _instrument(source: Any, declared: Any, timer: Timer) -> None:
    import requests

    from clientela.model import validation
    from clientela.store.store import Store
    from clientela.sync import engine

    session = source.client.session if hasattr(source, "client") else declared.client.session
    session.request = timer.wrap("http", session.request)
    for name, declaration in list(declared.declarations.items()):
        declared.declarations[name] = replace(declaration,
                                              map=timer.wrap("map", declaration.map))
    engine.validate_rows = timer.wrap("validate", validation.validate_rows)
    Store.write_parts = timer.wrap("store", Store.write_parts)  # type: ignore[method-assign]
    bulk = getattr(source, "bulk", None)
    if bulk is not None:
        # the JSONL arrives while it is parsed: time the raw reads off the socket as HTTP
        original = requests.Response.iter_content
        requests.Response.iter_content = timer.wrap_iterator("http", original)  # type: ignore


def _worker(case: str, orders: int, batch_rows: int, python_heap: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    if python_heap:
        import tracemalloc
        tracemalloc.start()
    kind = "woo" if case == "woo" else "shopify"
    with fake_server(kind, orders) as fake:
        from clientela.store.store import Store
        from clientela.sync import run_sync

        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        source: Any
        if kind == "woo":
            from clientela_woocommerce import WooCommerceConfig
            from clientela_woocommerce import build_source as woo_source
            config = WooCommerceConfig(base_url=fake["origin"], consumer_key=fake["key"],
                                       consumer_secret=fake["secret"], batch_rows=batch_rows)
            source = declared = woo_source(config)
            pages = {"customers": config.per_page, "orders": config.per_page}
        else:
            from clientela_shopify import ShopifyConfig
            from clientela_shopify import build_source as shopify_source
            config = ShopifyConfig(base_url=fake["origin"], access_token=fake["token"],
                                   bulk="always" if case == "shopify-bulk" else "never",
                                   bulk_poll_seconds=0.01, batch_rows=batch_rows)
            source = shopify_source(config)
            declared = source.declared
            pages = {"customers": config.customers_per_page,
                     "orders": config.orders_per_page}
        timer = Timer()
        _instrument(source, declared, timer)
        with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "b.duckdb") as store:
            started, started_cpu = time.perf_counter(), time.process_time()
            summary = run_sync(store, kind, source, context=CONTEXT)
            total = time.perf_counter() - started
            total_cpu = time.process_time() - started_cpu
            landed = store.con.execute("SELECT count(*) FROM orders").fetchone()[0]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        heap = 0.0
        if python_heap:
            import tracemalloc
            heap = tracemalloc.get_traced_memory()[1] / 2**20
        requests_made = source.client.requests_made
        downloads = getattr(getattr(source, "bulk", None), "downloads", 0)
        if case == "shopify-bulk":
            floor = 2 * 3 + 2  # per stream: run, poll until COMPLETED (2 polls), download
        else:
            floor = sum(math.ceil(fake[s] / pages[s]) for s in ("customers", "orders"))
        http = timer.seconds.get("http", 0.0)
        return {"case": case, "orders": orders, "landed": landed, "lines": fake["lines"],
                "customers": fake["customers"], "seconds": total, "http": http,
                "local": total - http, "local_cpu": total_cpu - timer.cpu.get("http", 0.0),
                "map": timer.seconds.get("map", 0.0),
                "validate": timer.seconds.get("validate", 0.0),
                "store": timer.seconds.get("store", 0.0),
                "requests": requests_made + downloads, "floor": floor,
                "rows": summary.totals()["read"],
                "peak_mb": peak / 1024, "baseline_mb": baseline / 1024, "heap_mb": heap,
                "cpu": timer.cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,100000")
    parser.add_argument("--cases", default="shopify,shopify-bulk,woo")
    parser.add_argument("--batch-rows", type=int, default=5_000,
                        help="rows per store transaction (the connectors' default is 5000)")
    parser.add_argument("--python-heap", action="store_true",
                        help="also trace the Python heap's peak (slower: ignore the speeds)")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "ORDERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]), args.batch_rows,
                                 args.python_heap)))
        return 0
    results = []
    for case in args.cases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            flags = ["--batch-rows", str(args.batch_rows)] + \
                (["--python-heap"] if args.python_heap else [])
            done = subprocess.run([sys.executable, __file__, "--worker", case, str(size),
                                   *flags],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    header = (f"{'case':<13}{'orders':>8}{'landed':>8}{'wall s':>8}{'http s':>8}"
              f"{'local s':>8}{'map':>6}{'valid':>6}{'store':>6}{'local orders/s':>15}"
              f"{'requests':>9}{'floor':>6}{'over':>7}{'peak MB':>9}{'base MB':>8}{'heap MB':>8}")
    print(header)
    for r in results:
        over = (r["requests"] - r["floor"]) / r["floor"] * 100
        print(f"{r['case']:<13}{r['orders']:>8}{r['landed']:>8}{r['seconds']:>8.1f}"
              f"{r['http']:>8.1f}{r['local']:>8.1f}{r['map']:>6.1f}{r['validate']:>6.1f}"
              f"{r['store']:>6.1f}{r['orders'] / r['local']:>15,.0f}"
              f"{r['orders'] / r['local_cpu']:>13,.0f}{r['requests']:>9}"
              f"{r['floor']:>6}{over:>6.1f}%{r['peak_mb']:>9.0f}{r['baseline_mb']:>8.0f}"
              f"{r['heap_mb']:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
