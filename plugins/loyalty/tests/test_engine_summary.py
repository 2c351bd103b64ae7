"""An incremental run's summary counts the points it changed, from the replayed customers'
rows only: the same as the change of the whole ledger's totals."""

from __future__ import annotations

from decimal import Decimal

from _loyalty_support import at, order, scratch_store
from clientela_loyalty.engine import run
from clientela_loyalty.rules import LoyaltyRules

from clientela.store import Store

RULES = LoyaltyRules(lock_days=0, expiry_months=1)


def _totals(store: Store) -> dict[str, int]:
    rows = store.con.execute("SELECT kind, CAST(abs(sum(points)) AS BIGINT) "
                             "FROM loyalty_events GROUP BY kind").fetchall()
    return {str(k): int(v) for k, v in rows}


def test_incremental_summary_is_the_change_of_the_totals() -> None:
    store = scratch_store()
    store.upsert([order("o1", "a", "2025-01-05 10:00", 300),
                  order("o2", "b", "2025-01-06 10:00", 200),
                  order("o3", "c", "2025-01-07 10:00", 100)])
    run(store, RULES, until=at("2025-01-20"), timezone="UTC")
    before = _totals(store)
    # a: a redemption of 120; b: half of o2 refunded (100 points back); c untouched
    store.upsert([order("o4", "a", "2025-01-21 10:00", 50, loyalty_points_redeemed=120),
                  order("o2", "b", "2025-01-06 10:00", 200, status="partially_refunded",
                        refunded=Decimal(100), updated="2025-01-22 10:00")])
    summary = run(store, RULES, until=at("2025-01-25"), timezone="UTC")
    after = _totals(store)
    assert summary.points == {"earn": 50, "redeem": 120, "expire": 0, "reverse": 100,
                              "adjust": 0}
    assert {k: after.get(k, 0) - before.get(k, 0) for k in ("earn", "redeem", "expire",
                                                             "reverse")} \
        == {k: summary.points[k] for k in ("earn", "redeem", "expire", "reverse")}
    assert summary.customers_replayed == 2
