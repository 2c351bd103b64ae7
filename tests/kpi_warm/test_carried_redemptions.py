"""The redemptions across the carried state's instant (`clientela.kpi.carried_redemptions`):
the orders placed before it that a redeem event since names (valid or not, with the loyalty
discount in the reporting currency), and the orders placed since that an earlier redeem event
names. With them, the newest month's redemption metrics read the month's orders and events
and give the cold answers, in several currencies; a write that makes such a pair drops the
state."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _warm_fixtures import LOYALTY, SPAN, add_redemptions, event, kept_loyalty, order
from test_carried_state import DECEMBER

from clientela.kpi import compute, warm
from clientela.kpi.result import KpiResult
from clientela.store import Store
from clientela.store.touched import REDEEM_LINKS_TABLE


@pytest.fixture
def store(tmp_path) -> Store:
    opened = kept_loyalty(tmp_path / "warm.duckdb", add_redemptions)
    yield opened
    opened.close()


def kept(store: Store) -> set[tuple[object, ...]]:
    return set(store.con.execute(
        f"SELECT source, order_id, before, valid, loyalty_value FROM {REDEEM_LINKS_TABLE} "
        "WHERE as_of = ?", [DECEMBER]).fetchall())


def december(result: KpiResult, metric: str) -> dict[str, object]:
    """Each measure of `metric` in December 2024."""
    return {row["measure"]: row["value"] for row in result.rows()
            if row["metric"] == metric and row["period"] == "2024-12"}


def test_the_state_keeps_the_orders_its_redeem_events_name_across_its_instant(
        store: Store) -> None:
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert kept(store) == {("test", "p1", True, True, Decimal("61.70")),
                           ("test", "p2", True, False, None),
                           ("test", "p3", False, True, None)}


def test_a_new_day_reads_the_kept_pairs_and_the_month_and_equals_cold(store: Store) -> None:
    store.upsert([order("p5", 0, 720, 3000), order("p6", 2, 722, 4000,
                                                   loyalty_points_redeemed=5,
                                                   loyalty_discount=Decimal("0.50"),
                                                   currency="USD", fx_rate=Decimal("5"))])
    store.upsert([event("q5", "redeem", 0, 720, -25, order_id="p5", discount=Decimal("2.5"))])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in LOYALTY}
    cold = compute(store, LOYALTY, **SPAN)
    assert hot.rows() == cold.rows()
    # December (by hand): the base redemption r19 (80 points, no value: its order's
    # loyalty discount, 0.00) on o19 (70.23, c1, local December 4th); q1 61.70 (30 points);
    # q2 not (cancelled order); p4 9.30 (15); q5 2.50 (25); p6 0.50 x 5 = 2.50 (5); p3 not
    # (its event is November's)
    assert december(hot, "loyalty_discount_granted") == {
        "value": 76.0, "redemptions": 5, "points_redeemed": 155}
    # o19 (tied), p3 (its own fields, and tied), p4, p5 (tied), p6: c1, c4, c5, c0, c2
    assert december(hot, "loyalty_redemption_visits") == {"value": 5, "customers": 5}
    # the orders of a redeeming customer on the local day of a redemption, in reais: o19
    # 70.23 (c1, December 4th; q1 on the 15th has no order that day), p4 20.00 x 6.2, p5
    # 30.00, p6 40.00 x 5
    assert december(hot, "loyalty_redemption_day_spend") == {
        "value": 424.23, "orders": 4, "customers": 4}
    # November: q3, worth p3's loyalty discount though p3 is placed after the state
    assert cold.value("loyalty_discount_granted", period="2024-11") == 7.0


@pytest.mark.parametrize("written", [
    event("q7", "redeem", 3, 718, -10, order_id="o3"),  # December, on an order of 2023
    event("q7", "redeem", 3, 600, -10, order_id="p5"),  # August, on an order of December
])
def test_a_pair_across_the_instant_written_later_drops_the_state(store: Store,
                                                                 written) -> None:
    store.upsert([order("p5", 0, 720, 3000)])
    compute(store, LOYALTY, reuse=True, **SPAN)
    store.upsert([written])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert (written.order_id in {row[1] for row in kept(store)})
    assert hot.rows() == compute(store, LOYALTY, **SPAN).rows()


def test_an_order_named_earlier_written_later_drops_the_state(store: Store) -> None:
    """A redeem event of November names an order the store does not hold yet; the order,
    placed in December, arrives after the state: it dates the event too, before the
    state, so the state is built again and keeps the pair."""
    store.upsert([event("q8", "redeem", 3, 680, -10, order_id="p8")])
    compute(store, LOYALTY, reuse=True, **SPAN)
    store.upsert([order("p8", 3, 721, 1500, loyalty_points_redeemed=10,
                        loyalty_discount=Decimal("1.00"))])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert ("test", "p8", False, True, None) in kept(store)
    assert hot.rows() == compute(store, LOYALTY, **SPAN).rows()
    assert december(hot, "loyalty_discount_granted")["redemptions"] == 3  # not p8
