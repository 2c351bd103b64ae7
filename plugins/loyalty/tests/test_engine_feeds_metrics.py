"""The core's loyalty metrics, unchanged, read the engine's ledger: every number below is
worked out by hand from the orders (default rules: 1 point per unit, 500 to redeem, lots
expiring after 12 months), for March 2025 in UTC."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from _loyalty_support import SOURCE, order, run_until, store_with
from clientela_loyalty.rules import LoyaltyRules

from clientela.kpi import compute
from clientela.metrics.loyalty import metrics
from clientela.store import Store

NAMES = [m.name for m in metrics()]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Balances at 2025-04-01:

    a: o1 +600; o2 redeems 500 (25.00) and earns 200; o3 (same day) +40     = 340
    b: o4 +700; o5 +100, half refunded on 03-25: reverse -50                 = 750
    c: o6 +300 on 2024-04-15, expiring 2025-04-15                            = 300
    d: o7 +80 then cancelled (-80); o8 on the excluded marketplace earns 0    = 0
    """
    found = store_with(
        tmp_path / "m.duckdb",
        order("o1", "a", "2025-01-10", 600),
        order("o2", "a", "2025-03-05 10:00", 200, loyalty_points_redeemed=500,
              loyalty_discount=Decimal("25.00")),
        order("o3", "a", "2025-03-05 18:00", 40),
        order("o4", "b", "2025-02-01", 700),
        order("o5", "b", "2025-03-20", 100, status="partially_refunded", refunded=50,
              updated="2025-03-25"),
        order("o6", "c", "2024-04-15", 300),
        order("o7", "d", "2025-03-10", 80, status="cancelled", updated="2025-03-11"),
        order("o8", "d", "2025-03-12", 100, channel="marketplace"),
    )
    run_until(found, "2025-04-01", LoyaltyRules(exclude_channels=["marketplace"]))
    return found


def test_the_six_metrics_from_the_engines_ledger(store: Store) -> None:
    result = compute(store, NAMES, start="2025-03-01", end="2025-04-01")
    got = {(row["metric"], row["measure"]): row["value"] for row in result.rows()}
    assert got[("loyalty_members_with_points", "value")] == 3          # a, b, c
    assert got[("loyalty_members_with_points", "points")] == 1390      # 340 + 750 + 300
    assert got[("loyalty_redeemable_members", "value")] == 1           # b (750 >= 500)
    assert got[("loyalty_redeemable_members", "points")] == 750
    assert float(got[("loyalty_discount_granted", "value")]) == 25.0   # o2's loyalty discount
    assert got[("loyalty_discount_granted", "points_redeemed")] == 500
    assert got[("loyalty_redemption_visits", "value")] == 1            # o2
    assert float(got[("loyalty_redemption_day_spend", "value")]) == 240.0  # o2 + o3, 5 March
    # valid March orders o2, o3, o5, o8 (o7 is cancelled); o2, o3, o5 earned
    assert got[("loyalty_scored_share", "value")] == pytest.approx(0.75)
    assert got[("loyalty_points_expiring", "value")] == 300            # c's lot, 15 April
    assert got[("loyalty_points_expiring", "customers")] == 1


def test_the_engines_rows_name_their_orders_source(store: Store) -> None:
    """The engine's rows are of its own source, so each one tied to an order names the
    order's source (an order's key is its source and id); an expiry is of a lot, and an
    adjustment of no order: neither names one."""
    rows = store.con.execute("""
        SELECT kind, order_id IS NOT NULL, order_source, count(*) FROM loyalty_events
        WHERE source = 'loyalty' GROUP BY ALL ORDER BY ALL""").fetchall()
    assert rows == [("earn", True, SOURCE, 7), ("redeem", True, SOURCE, 1),
                    ("reverse", True, SOURCE, 2)]
