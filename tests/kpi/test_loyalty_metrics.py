"""docs/metrics.md "Loyalty programme", each number checked by hand on a tiny store."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fixtures_extra import (
    customer,
    loyalty,
    make_store,
    order,
    run,
    same_on_every_engine,
    value,
)

from clientela.kpi import MissingDataError
from clientela.metrics.loyalty import metrics
from clientela.store import Store
from clientela.testing.engines import spark_available

METRICS = metrics()
MARCH = ("2025-03-01", "2025-04-01")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Balances at 2025-04-01 (sum of signed events before it):

    c1: +600 (exp 04-15) +100 (exp 09-01) -200 (redeem, 03-15, 20.00)   = 500
    c2: +300 (exp 03-20) -300 (expire)                                   = 0
    c3: +50 (never expires) -10 (adjust)                                 = 40
    c4: +1000 (exp 04-10) -900 (redeem on o_c4, no value) +30 (on o_c4) = 130
    c5: +200 on 04-05, after March                                       = 0 in March
    c6: +100 -100 (redeem tied to a cancelled order)                     = 0
    c7: +100 -50 (redeem, 03-25, 5.00, order not in the store)           = 50
    c8: no events; its order o_c8 redeemed 150 points for 15.00.
    """
    records = [
        *(customer(c, acquisition_channel="instagram" if c == "c1" else "store")
          for c in ("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8")),
        loyalty("c1", "earn", 600, "2025-02-01", expires="2025-04-15"),
        loyalty("c1", "earn", 100, "2025-03-10", expires="2025-09-01"),
        loyalty("c1", "redeem", -200, "2025-03-15 14:00", order_id="o_c1r",
                discount_value="20.00"),
        loyalty("c2", "earn", 300, "2025-02-10", expires="2025-03-20"),
        loyalty("c2", "expire", -300, "2025-03-20"),
        loyalty("c3", "earn", 50, "2025-03-05"),
        loyalty("c3", "adjust", -10, "2025-03-06"),
        loyalty("c4", "earn", 1000, "2025-02-01", expires="2025-04-10"),
        loyalty("c4", "redeem", -900, "2025-03-02 10:00", order_id="o_c4"),
        loyalty("c4", "earn", 30, "2025-03-02 10:00", order_id="o_c4", expires="2026-03-02"),
        loyalty("c5", "earn", 200, "2025-04-05"),
        loyalty("c6", "earn", 100, "2025-01-01"),
        loyalty("c6", "redeem", -100, "2025-03-20", order_id="o_c6", discount_value="10.00"),
        loyalty("c7", "earn", 100, "2025-01-01"),
        loyalty("c7", "redeem", -50, "2025-03-25 12:00", order_id="ghost",
                discount_value="5.00"),
        order("c1", "2025-03-15 14:00", 100, order_id="o_c1r", loyalty_points_earned=10),
        order("c1", "2025-03-15 18:00", 40, order_id="o_c1b"),
        order("c1", "2025-03-16 01:00", 70, order_id="o_c1c"),  # 03-15 22:00 in Sao Paulo
        order("c4", "2025-03-02 10:00", 300, order_id="o_c4", loyalty_points_redeemed=900,
              loyalty_discount="90.00"),
        order("c6", "2025-03-20", 50, order_id="o_c6", status="cancelled"),
        order("c8", "2025-03-12", 80, order_id="o_c8", loyalty_points_redeemed=150,
              loyalty_discount="15.00"),
    ]
    return make_store(tmp_path / "l.duckdb", records)


def test_members_with_points_from_signed_events(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_members_with_points"], *MARCH)
    assert value(r, "loyalty_members_with_points") == 4  # c1 c3 c4 c7
    assert value(r, "loyalty_members_with_points", "points") == 500 + 40 + 130 + 50
    april = run(store, METRICS, ["loyalty_members_with_points"], "2025-04-01", "2025-05-01")
    assert value(april, "loyalty_members_with_points") == 5  # + c5


def test_members_by_acquisition_channel(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_members_with_points"], *MARCH, by="acquisition_channel")
    assert value(r, "loyalty_members_with_points", slice="instagram") == 1
    assert value(r, "loyalty_members_with_points", slice="store") == 3


def test_redeemable_members_use_the_threshold(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_redeemable_members"], *MARCH)
    assert value(r, "loyalty_redeemable_members") == 1  # c1 holds exactly 500
    low = run(store, METRICS, ["loyalty_redeemable_members"], *MARCH,
              params={"loyalty_redeemable_members": {"redemption_threshold": 100}})
    assert value(low, "loyalty_redeemable_members") == 2  # c1, c4
    assert value(low, "loyalty_redeemable_members", "points") == 630


def test_discount_granted(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_discount_granted"], *MARCH)
    # c1's event 20 + c4's order value 90 + c7's event 5 + c8's order-only 15; c6's order
    # was cancelled.
    assert value(r, "loyalty_discount_granted") == 130
    assert value(r, "loyalty_discount_granted", "redemptions") == 4
    assert value(r, "loyalty_discount_granted", "points_redeemed") == 200 + 900 + 50 + 150
    last = run(store, METRICS, ["loyalty_discount_granted"], *MARCH,
               params={"loyalty_discount_granted": {"last_days": 10}})
    assert value(last, "loyalty_discount_granted") == 5  # only c7's, on 03-25
    metric = next(m for m in METRICS if m.name == "loyalty_discount_granted")
    assert metric.extra["default_period_days"] == 30


def test_redemption_visits(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_redemption_visits"], *MARCH)
    assert value(r, "loyalty_redemption_visits") == 3  # o_c1r (event), o_c4, o_c8
    assert value(r, "loyalty_redemption_visits", "customers") == 3
    by = run(store, METRICS, ["loyalty_redemption_visits"], *MARCH, by="channel")
    assert value(by, "loyalty_redemption_visits", slice="online") == 3


def test_redemption_day_spend_by_local_day(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_redemption_day_spend"], *MARCH)
    # c1 on 03-15: 100 + 40 (not 70, next UTC day); c4 on 03-02: 300; c8 on 03-12: 80;
    # c7 bought nothing on 03-25.
    assert value(r, "loyalty_redemption_day_spend") == 520
    assert value(r, "loyalty_redemption_day_spend", "orders") == 4
    assert value(r, "loyalty_redemption_day_spend", "customers") == 3
    sp = run(store, METRICS, ["loyalty_redemption_day_spend"], *MARCH,
             timezone="America/Sao_Paulo")
    assert value(sp, "loyalty_redemption_day_spend") == 590  # 01:00 UTC is 22:00 on 03-15


def test_scored_share(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_scored_share"], *MARCH)
    # valid March orders: o_c1r (earned on the order), o_c1b, o_c1c, o_c4 (earn event), o_c8
    assert value(r, "loyalty_scored_share") == pytest.approx(2 / 5)
    assert value(r, "loyalty_scored_share", "scored_orders") == 2
    assert value(r, "loyalty_scored_share", "orders") == 5
    empty = run(store, METRICS, ["loyalty_scored_share"], "2025-06-01", "2025-07-01")
    assert value(empty, "loyalty_scored_share") is None
    assert value(empty, "loyalty_scored_share", "orders") == 0


def test_points_expiring_after_what_was_spent(store: Store) -> None:
    r = run(store, METRICS, ["loyalty_points_expiring"], *MARCH)
    # as of 04-01, 30 days: c1 holds 500, 100 expire later, so 400 of the 600 expiring on
    # 04-15 remain; c4 holds 130, 30 expire later, 100 of the 1000 expiring on 04-10 remain.
    assert value(r, "loyalty_points_expiring") == 500
    assert value(r, "loyalty_points_expiring", "customers") == 2
    short = run(store, METRICS, ["loyalty_points_expiring"], *MARCH,
                params={"loyalty_points_expiring": {"expiry_days": 10}})
    assert value(short, "loyalty_points_expiring") == 100  # only c4's lot, on 04-10
    assert value(short, "loyalty_points_expiring", "customers") == 1


def test_points_expiring_reversal_of_a_later_lot(tmp_path: Path) -> None:
    """c9 earns 400 on o1 (expires 04-15) and 1000 on o2 (expires 12-01); o2 is 60%
    refunded on 03-20 (-600 taken from o2's lot), then 100 are redeemed on 03-25 (from the
    soonest lot, o1's). At 04-01 c9 holds 700: o2's lot keeps 400 and expires later, so
    700 - 400 = 300 of o1's lot are left to expire on 04-15 (without the tie to o2's lot
    the reversal looks spent from o1's: 700 - 1000 < 0, nothing expiring)."""
    records = [
        customer("c9"),
        loyalty("c9", "earn", 400, "2025-02-01", order_id="o1", expires="2025-04-15"),
        loyalty("c9", "earn", 1000, "2025-03-01", order_id="o2", expires="2025-12-01"),
        loyalty("c9", "reverse", -600, "2025-03-20", order_id="o2"),
        loyalty("c9", "redeem", -100, "2025-03-25", order_id="o3"),
    ]
    store = make_store(tmp_path / "r.duckdb", records)
    r = run(store, METRICS, ["loyalty_points_expiring"], *MARCH)
    assert value(r, "loyalty_points_expiring") == 300
    assert value(r, "loyalty_points_expiring", "customers") == 1
    # the series path: February's end (before the reversal) and March's
    months = run(store, METRICS, ["loyalty_points_expiring"], "2025-02-01", "2025-04-01",
                 grain="month", params={"loyalty_points_expiring": {"expiry_days": 60}})
    # 03-01: held 400 (o1, within 60 days), o2 not yet earned -> 400
    assert value(months, "loyalty_points_expiring", period="2025-02") == 400
    assert value(months, "loyalty_points_expiring", period="2025-03") == 300


def test_missing_loyalty_events_raise(tmp_path: Path) -> None:
    s = make_store(tmp_path / "m.duckdb", [order("c1", "2025-03-02", 10,
                                                   loyalty_points_earned=5)])
    for metric in METRICS:
        with pytest.raises(MissingDataError, match="loyalty_events"):
            run(s, METRICS, [metric.name], *MARCH)


def test_defaults() -> None:
    by_name = {m.name: m for m in METRICS}
    assert len(by_name) == 7
    assert by_name["loyalty_redeemable_members"].params().redemption_threshold == 500  # type: ignore[attr-defined]
    assert by_name["loyalty_points_expiring"].params().expiry_days == 30  # type: ignore[attr-defined]


@pytest.mark.spark
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(store: Store) -> None:
    same_on_every_engine(store, METRICS, slices=(None, "channel", "acquisition_channel"),
                         start="2025-03", end="2025-05", grain="month",
                         timezone="America/Sao_Paulo")
