"""The warm catalogue after one new day of orders and a campaign started that day.

    python benchmarks/warm_campaign_row.py                    # 1M orders, 100k customers
    python benchmarks/warm_campaign_row.py --memory-limit 2GB --no-cold-check

A campaign row carries no date: a new one (a journey's first message, `campaign send`)
sends back to the engine every kept answer that reads campaign rows, and only those
(`clientela.kpi.warm`). Uses benchmarks/kpis.py's cached demo store for the size, copied so
the benchmark's writes do not change it. Then, in one process: the whole catalogue monthly
over the demo's 36 months with `reuse=True` on an empty cache (cold plus keeping every
period); one new day of orders (`kpis_warm.new_day`) plus one new campaign row started that
day, then the warm catalogue; then, unless `--no-cold-check`, the cold catalogue on the
final store and whether the warm answer equals it. Run it on the code before and after a
change to compare them. Each figure is printed with its CPU seconds and the machine's load
average (the machine is shared). Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpis import END, START, answerable, demo_store
from kpis_warm import LAST_DAY, TIMEZONE, limit_of, new_day, recomputed, store_arguments, timed

from clientela.kpi import compute, warm
from clientela.model import Campaign
from clientela.store import Store


def new_campaign(store: Store) -> None:
    """A marketing campaign started on the new day, as `campaign send` would write it."""
    store.upsert([Campaign(source="demo", campaign_id="cmp-new-day", name="New day",
                           channel="email", started_at=LAST_DAY + timedelta(hours=12),
                           cost=Decimal("500.00"))])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    store_arguments(parser)
    parser.add_argument("--no-cold-check", action="store_true",
                        help="skip the final cold run and the check against it")
    args = parser.parse_args(argv)
    orders = args.orders
    source = demo_store(orders, orders // 10)
    folder = Path(tempfile.mkdtemp(prefix="clientela-campaign-row-"))
    path = folder / "warm.duckdb"
    shutil.copy(source, path)
    kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
    try:
        with Store(path, memory_limit=limit_of(args)) as store:
            names = answerable(store)
            print(f"\n{orders:,} orders (a copy of {source}), {len(names)} metrics x 36 months",
                  flush=True)
            timed("first warm call (cold + keeping every period)",
                  lambda: compute(store, names, reuse=True, **kw))
            timed("write: one new day of orders", lambda: new_day(store, 0))
            timed("write: one new campaign row", lambda: new_campaign(store))
            _, hot = timed("warm catalogue after them",
                           lambda: compute(store, names, reuse=True, **kw))
            every = sorted(name for name, periods in warm.last_report.computed.items()
                           if len(periods) > 1)
            shown = ", ".join(every) if len(every) <= 8 else f"{len(every)} metrics"
            print(f"  {'':<52} {recomputed()}; more than the newest month: {shown or 'none'}",
                  flush=True)
            if not args.no_cold_check:
                _, cold = timed("cold catalogue on the final store",
                                lambda: compute(store, names, **kw))
                print(f"  last warm answer vs cold: "
                      f"{'equal' if hot.rows() == cold.rows() else 'DIFFERENT'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
