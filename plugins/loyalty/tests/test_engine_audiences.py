"""Audiences for journeys, read from the engine's ledger at 2025-12-20 (UTC, default rules),
and the `loyalty` segmenter that puts them together."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from _loyalty_support import at, order, run_until, store_with
from clientela_loyalty import audiences
from clientela_loyalty.calendar import to_micros
from clientela_loyalty.history import read_adjustments, read_orders
from clientela_loyalty.ledger import _replay, compute_ledger
from clientela_loyalty.rules import LoyaltyRules

from clientela.store import Store

AT = at("2025-12-20")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """c1: 600 (exp 2026-01-10), 500 redeemed, 200 (exp 2026-03-05): 300 held, of which
        300 - 200 = 100 of the first lot expire on January 10th.
    c2: 700 (exp 2026-06-01): can redeem.
    c3: 50 on December 10th: first points ever.
    c4: 100 of 2024-11-01, expired: none left.
    c5: 400 (exp 2026-01-01), then 1000 refunded 60% (-600 from that later lot): 800 held;
        the later lot holds 400, so all 400 of the first expire on January 1st."""
    found = store_with(
        tmp_path / "a.duckdb",
        order("o1", "c1", "2025-01-10", 600),
        order("o2", "c1", "2025-03-05", 200, loyalty_points_redeemed=500),
        order("o3", "c2", "2025-06-01", 700),
        order("o4", "c3", "2025-12-10", 50),
        order("o5", "c4", "2024-11-01", 100),
        order("o6", "c5", "2025-01-01", 400),
        order("o7", "c5", "2025-03-01", 1000, status="partially_refunded", refunded=600,
              updated="2025-04-01"),
    )
    run_until(found, "2025-12-20")
    return found


def test_expiring_within_days_with_amount_and_date(store: Store) -> None:
    rows = audiences.expiring_within(store, AT, 30).to_pylist()
    assert [(r["customer_id"], r["points_expiring"], r["next_expiry_at"],
             r["next_expiry_points"]) for r in rows] == [
        ("c1", 100, datetime(2026, 1, 10), 100), ("c5", 400, datetime(2026, 1, 1), 400)]


def test_redeemable_and_first_points(store: Store) -> None:
    redeemable = audiences.redeemable_now(store, LoyaltyRules(), AT).to_pylist()
    assert redeemable == [{"customer_id": "c2", "balance": 700},
                          {"customer_id": "c5", "balance": 800}]
    first = audiences.first_points(store, at("2025-11-20"), AT).to_pylist()
    assert first == [{"customer_id": "c3", "first_points_at": datetime(2025, 12, 10),
                      "first_points": 50}]


def test_the_loyalty_segmenter(store: Store) -> None:
    from clientela.kpi.context import MetricContext, TableCache
    from clientela.kpi.engine import backend_of
    from clientela.kpi.periods import Period
    from clientela.plugins import registry

    segmenter = registry().segmenters["loyalty"]
    backend = backend_of(store)
    naive = AT.replace(tzinfo=None)
    ctx = MetricContext(backend=backend, period=Period(naive, naive, naive, naive, "as_of"),
                        as_of=naive, timezone="UTC", currency="BRL", metric="loyalty",
                        cache=TableCache(backend))
    found = segmenter.segment(ctx, segmenter.params()).to_pyarrow().sort_by("customer_id")
    assert list(zip(found.column("customer_id").to_pylist(), found.column("segment").to_pylist(),
                    found.column("balance").to_pylist(), strict=True)) == [
        ("c1", "expiring", 300), ("c2", "redeemable", 700), ("c3", "first_points", 50),
        ("c4", "no_points", 0), ("c5", "expiring", 800)]


def test_rows_at_once_equal_the_replay(store: Store) -> None:
    """The customers with only earns (c2, c3, c4) get their rows without a replay; a replay
    of everyone writes the same rows."""
    until = to_micros(at("2026-12-01"))
    orders, adjustments = read_orders(store.con, LoyaltyRules(), until), \
        read_adjustments(store.con, until)
    both = compute_ledger(orders, adjustments, LoyaltyRules(), "UTC", until).table
    replayed = _replay(orders, adjustments, LoyaltyRules(), "UTC", until).table

    def rows(table: pa.Table) -> list[dict[str, object]]:
        return sorted(table.to_pylist(), key=lambda r: str(r["event_id"]))

    # 7 earns, 1 redeem, 1 reverse, and by then 6 lots expired (all but o4's)
    assert rows(both) == rows(replayed) and len(rows(both)) == 15
