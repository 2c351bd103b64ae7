"""What the kept CLV fits and campaign credits cost a warm call, on the demo store.

    python benchmarks/warm_kept.py                    # 1M orders, 100k customers
    python benchmarks/warm_kept.py --orders 10000000 --memory-limit 2GB

Uses benchmarks/kpis.py's cached demo store for the size, copied so the benchmark's writes
do not change it. Then, in one process:

1. campaign ROI monthly over the demo's 36 months with `reuse=True` (its credits kept);
   then a write logged without a date of an entity no credit reads (as a products table's
   write would be), and the warm call after it, twice: first with such a write dropping
   the credits (as before: `campaign_credits.UNDATED_CHANGING` widened to it), then
   keeping them; the last answer checked against a cold one;
2. predicted CLV and P(alive) monthly from the demo's start with `reuse=True`, one new day
   of orders and the warm call after it (the newest month, its fits started from the
   chain kept for the series' start), checked against a cold one; then the same series
   asked from a month later and from two months later, whose answers and fits are their
   own (before, the first series' answers were reused), and the kept fits' rows and chains
   after each call.

Each figure is printed with its CPU seconds and the machine's load average (the machine is
shared). Timing is for people, never asserted by tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kpis import END, START, demo_store
from kpis_warm import TIMEZONE, limit_of, new_day, recomputed, store_arguments, timed

from clientela.kpi import campaign_credits, compute, warm
from clientela.store import Store
from clientela.store.touched import FITS_TABLE, record_everything

ROI = ["campaign_roi"]
CLV = ["clv_predicted", "p_alive"]
LATER_STARTS = ("2023-02", "2023-03")
"""A month and two after the demo's start (START)."""


def check(what: str, hot: Any, cold: Any) -> None:
    """Print whether the warm answer `hot` is the cold one, row for row and bit for bit."""
    print(f"  {what} warm vs cold: {'equal' if hot.rows() == cold.rows() else 'DIFFERENT'}")


def credits_after_an_undated_write(store: Store, kw: dict[str, Any]) -> None:
    timed("campaign_roi, every period kept (cold)",
          lambda: compute(store, ROI, reuse=True, **kw))
    changing = campaign_credits.UNDATED_CHANGING
    for before in (True, False):
        campaign_credits.UNDATED_CHANGING = (*changing, "products") if before else changing
        record_everything(store.con, "products")
        how = "credits dropped (before)" if before else "credits kept"
        _, hot = timed(f"campaign_roi warm after it, {how}",
                       lambda: compute(store, ROI, reuse=True, **kw))
        print(f"  {'':<52} {recomputed()}; credits: {warm.last_report.credits}")
    campaign_credits.UNDATED_CHANGING = changing
    check("campaign_roi", hot, compute(store, ROI, **kw))


def fits(store: Store) -> str:
    rows, chains = store.con.execute(
        f"SELECT count(*), count(DISTINCT fit_key) FROM {FITS_TABLE}").fetchone()
    return f"kept fits: {rows} rows, {chains} chains"


def clv_by_series_start(store: Store, kw: dict[str, Any]) -> None:
    timed("CLV, every period kept (cold)", lambda: compute(store, CLV, reuse=True, **kw))
    print(f"  {'':<52} {fits(store)}")
    new_day(store, 1)
    _, hot = timed("CLV warm after one new day", lambda: compute(store, CLV, reuse=True, **kw))
    print(f"  {'':<52} {recomputed()}; {fits(store)}")
    check("CLV", hot, compute(store, CLV, **kw))
    for month in LATER_STARTS:
        later = {**kw, "start": month}
        _, hot = timed(f"CLV from {later['start']}, first call",
                       lambda s=later: compute(store, CLV, reuse=True, **s))
        print(f"  {'':<52} {recomputed()}; {fits(store)}")
    check(f"CLV from {later['start']}", hot, compute(store, CLV, **later))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    store_arguments(parser)
    parser.add_argument("--only", choices=("credits", "clv"), default=None)
    args = parser.parse_args(argv)
    limit = limit_of(args)
    source = demo_store(args.orders, max(10, args.orders // 10))
    folder = Path(tempfile.mkdtemp(prefix="clientela-kept-"))
    path = folder / "warm.duckdb"
    shutil.copy(source, path)
    kw: dict[str, Any] = dict(start=START, end=END, grain="month", timezone=TIMEZONE)
    try:
        with Store(path, memory_limit=limit) as store:
            print(f"\n{args.orders:,} orders (a copy of {source}), memory_limit "
                  f"{limit or 'default'}", flush=True)
            if args.only in (None, "credits"):
                credits_after_an_undated_write(store, kw)
            if args.only in (None, "clv"):
                clv_by_series_start(store, kw)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
