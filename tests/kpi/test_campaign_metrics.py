"""docs/metrics.md "Campaigns and channels", each number checked by hand on a tiny store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from _fixtures_extra import (
    campaign,
    customer,
    make_store,
    order,
    run,
    same_on_every_engine,
    touch,
    value,
)

from clientela.kpi import KpiError, MissingDataError
from clientela.metrics.campaigns import Z95, metrics
from clientela.store import Store
from clientela.testing.engines import spark_available

METRICS = metrics()
MARCH = ("2025-03-01", "2025-04-01")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Campaign A (email, cost 100) and B (sms, cost 50) start in March; Z costs nothing and
    contacts nobody; F ran in February.

    c1: A on 03-03 10:00, buys 100 on 03-05 -> converts, credited to A.
    c2: A on 03-03 10:00, buys exactly 7 days later (03-10 10:00) and on day 8 -> outside.
    c3: A on 03-03 10:00, buys 30 at 03-10 09:59 -> inside, by one minute.
    c4: A on 03-10, then B on 03-12, buys 200 on 03-13 -> converts for both; last touch B.
    c5: B on 03-20, its order is cancelled -> never converts.
    c6: A on 03-28, buys 60 on 04-02 (after March) -> converts, credited to March's A.
    c7: control of A on 03-03, buys 40 on 03-04 -> not reach, not conversion, not credited.
    c8: F on 02-26, buys 70 on 03-01 -> February's revenue, not March's.
    """
    records = [
        campaign("A", "2025-03-01", cost=100, channel="email"),
        campaign("B", "2025-03-05", cost=50, channel="sms"),
        campaign("Z", "2025-03-20", cost=0, channel="push"),
        campaign("F", "2025-02-01", cost=10, channel="email"),
        touch("c1", "2025-03-03 10:00", campaign_id="A"),
        touch("c2", "2025-03-03 10:00", campaign_id="A"),
        touch("c3", "2025-03-03 10:00", campaign_id="A"),
        touch("c4", "2025-03-10 09:00", campaign_id="A"),
        touch("c4", "2025-03-12 09:00", campaign_id="B", channel="sms"),
        touch("c5", "2025-03-20 09:00", campaign_id="B", channel="sms"),
        touch("c6", "2025-03-28 09:00", campaign_id="A"),
        touch("c7", "2025-03-03 10:00", campaign_id="A", is_control=True),
        touch("c8", "2025-02-26 09:00", campaign_id="F"),
        order("c1", "2025-03-05 12:00", 100),
        order("c2", "2025-03-10 10:00", 80),
        order("c2", "2025-03-11 12:00", 80),
        order("c3", "2025-03-10 09:59", 30),
        order("c4", "2025-03-13 10:00", 200),
        order("c5", "2025-03-21 10:00", 500, status="cancelled"),
        order("c6", "2025-04-02 10:00", 60),
        order("c7", "2025-03-04 10:00", 40),
        order("c8", "2025-03-01 10:00", 70),
    ]
    return make_store(tmp_path / "c.duckdb", records)


def test_reach_excludes_control_and_counts_distinct_customers(store: Store) -> None:
    r = run(store, METRICS, ["campaign_reach"], *MARCH)
    assert value(r, "campaign_reach", item="A") == 5  # c1 c2 c3 c4 c6
    assert value(r, "campaign_reach", "contacts", item="A") == 5
    assert value(r, "campaign_reach", item="B") == 2
    assert value(r, "campaign_reach") == 6  # c4 counted once across A and B
    assert value(r, "campaign_reach", "contacts") == 7


def test_reach_by_channel(store: Store) -> None:
    r = run(store, METRICS, ["campaign_reach"], *MARCH, by="channel")
    assert value(r, "campaign_reach", slice="email") == 5
    assert value(r, "campaign_reach", slice="sms") == 2
    assert value(r, "campaign_reach", slice="sms", item="B") == 2


def test_conversion_window_is_seven_days_half_open(store: Store) -> None:
    r = run(store, METRICS, ["campaign_conversion"], *MARCH)
    # A: c1, c3, c4, c6 convert; c2's orders are at exactly +7 days and on day 8.
    assert value(r, "campaign_conversion", item="A") == pytest.approx(4 / 5)
    assert value(r, "campaign_conversion", "converted", item="A") == 4
    # B: c4 converts, c5's only order is cancelled.
    assert value(r, "campaign_conversion", item="B") == 0.5
    assert value(r, "campaign_conversion", "contacted") == 6
    assert value(r, "campaign_conversion") == pytest.approx(4 / 6)


def test_conversion_window_is_a_parameter(store: Store) -> None:
    r = run(store, METRICS, ["campaign_conversion"], *MARCH,
            params={"campaign_conversion": {"attribution_days": 9}})
    assert value(r, "campaign_conversion", item="A") == 1.0  # c2's day-8 order now counts
    with pytest.raises(KpiError, match="attribution_days"):
        run(store, METRICS, ["campaign_conversion"], *MARCH,
            params={"campaign_conversion": {"attribution_days": 0}})


def test_revenue_is_last_touch_and_follows_the_touch_period(store: Store) -> None:
    r = run(store, METRICS, ["campaign_revenue"], *MARCH)
    assert value(r, "campaign_revenue", item="A") == 190  # 100 + 30 + 60 (placed in April)
    assert value(r, "campaign_revenue", "orders", item="A") == 3
    assert value(r, "campaign_revenue", item="B") == 200  # c4's order: B is the later touch
    assert value(r, "campaign_revenue") == 390
    feb = run(store, METRICS, ["campaign_revenue"], "2025-02-01", "2025-03-01")
    assert value(feb, "campaign_revenue", item="F") == 70
    by = run(store, METRICS, ["campaign_revenue"], *MARCH, by="channel")
    assert value(by, "campaign_revenue", slice="email") == 190
    assert value(by, "campaign_revenue", slice="sms") == 200


def test_same_instant_touches_credit_one_campaign(tmp_path: Path) -> None:
    s = make_store(tmp_path / "t.duckdb", [
        touch("c1", "2025-03-03 10:00", campaign_id="A", touch_id="t1"),
        touch("c1", "2025-03-03 10:00", campaign_id="B", touch_id="t2"),
        order("c1", "2025-03-04", 10),
    ])
    r = run(s, METRICS, ["campaign_revenue"], *MARCH)
    assert value(r, "campaign_revenue") == 10
    assert value(r, "campaign_revenue", item="B") == 10  # greater touch_id wins the tie
    assert [row for row in r.rows() if row["item"] == "A"] == []


def test_roi_of_campaigns_started_in_the_period(store: Store) -> None:
    r = run(store, METRICS, ["campaign_roi"], *MARCH)
    assert value(r, "campaign_roi", item="A") == pytest.approx((190 - 100) / 100)
    assert value(r, "campaign_roi", item="B") == pytest.approx((200 - 50) / 50)
    assert value(r, "campaign_roi", "cost", item="Z") == 0
    assert {row["measure"] for row in r.rows() if row["item"] == "Z"} == {"revenue", "cost"}
    assert value(r, "campaign_roi") == pytest.approx((390 - 150) / 150)
    by = run(store, METRICS, ["campaign_roi"], *MARCH, by="channel")
    assert value(by, "campaign_roi", slice="sms") == pytest.approx(3.0)
    assert value(by, "campaign_roi", "cost", slice="push") == 0
    assert value(by, "campaign_roi", slice="push") is None  # zero cost: null, not 0 or inf


def test_lift_against_control_with_exact_intervals(tmp_path: Path) -> None:
    """Contacted: c1 (60 + 40), c2 (50), c3, c4 -> conversion 2/4, revenue [100, 50, 0, 0].
    Control: k1 (20), k2 (cancelled), k3, k4 -> conversion 1/4, revenue [20, 0, 0, 0]."""
    records = [
        *(touch(c, "2025-03-03 10:00", campaign_id="L") for c in ("c1", "c2", "c3", "c4")),
        *(touch(k, "2025-03-03 10:00", campaign_id="L", is_control=True)
          for k in ("k1", "k2", "k3", "k4")),
        touch("c9", "2025-03-03 10:00", campaign_id="N"),  # no control group: no lift row
        order("c1", "2025-03-04", 60), order("c1", "2025-03-05", 40),
        order("c2", "2025-03-06", 50),
        order("c3", "2025-03-20", 75),  # outside the window
        order("k1", "2025-03-04", 20),
        order("k2", "2025-03-04", 999, status="cancelled"),
        order("c9", "2025-03-04", 10),
    ]
    s = make_store(tmp_path / "l.duckdb", records)
    r = run(s, METRICS, ["campaign_lift"], *MARCH)
    assert {row["item"] for row in r.rows()} == {"L"}

    p1, p0, n = 0.5, 0.25, 4
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n)
    assert value(r, "campaign_lift", item="L") == pytest.approx(0.25, rel=1e-12)
    assert value(r, "campaign_lift", "conversion_low", item="L") == \
        pytest.approx(diff - Z95 * se, rel=1e-12)
    assert value(r, "campaign_lift", "conversion_high", item="L") == \
        pytest.approx(diff + Z95 * se, rel=1e-12)

    var1 = ((100 - 37.5) ** 2 + (50 - 37.5) ** 2 + 2 * 37.5 ** 2) / 3  # 6875 / 3
    var0 = ((20 - 5) ** 2 + 3 * 5 ** 2) / 3  # 300 / 3
    rse = math.sqrt(var1 / n + var0 / n)
    assert value(r, "campaign_lift", "revenue_per_customer_lift", item="L") == \
        pytest.approx(37.5 - 5.0, rel=1e-12)
    assert value(r, "campaign_lift", "revenue_low", item="L") == \
        pytest.approx(32.5 - Z95 * rse, rel=1e-12)
    assert value(r, "campaign_lift", "revenue_high", item="L") == \
        pytest.approx(32.5 + Z95 * rse, rel=1e-12)
    assert value(r, "campaign_lift", "contacted", item="L") == 4
    assert value(r, "campaign_lift", "control", item="L") == 4
    assert value(r, "campaign_lift", "control_conversion", item="L") == 0.25
    assert value(r, "campaign_lift", "contacted_revenue_per_customer", item="L") == 37.5


def test_relationship_activity_per_salesperson(tmp_path: Path) -> None:
    records = [
        campaign("R", "2025-01-01", kind="relationship", channel="whatsapp"),
        campaign("M", "2025-01-01", kind="marketing"),
        order("c1", "2025-02-01", 10), order("c3", "2025-02-01", 10),
        order("c4", "2025-02-01", 10), order("c2", "2025-03-20", 10),
        touch("c1", "2025-03-05", salesperson_id="s1", channel="call", logged=True),
        touch("c1", "2025-03-06", salesperson_id="s1", channel="whatsapp", logged=False),
        touch("c2", "2025-03-10", salesperson_id="s1", channel="call"),  # before any order
        touch("c3", "2025-03-07", salesperson_id="s2", channel="call"),
        touch("c4", "2025-03-08", campaign_id="R", channel="whatsapp", logged=False),
        touch("c1", "2025-03-08", campaign_id="M"),  # marketing, no salesperson: not counted
        touch("c3", "2025-03-08", salesperson_id="s2", channel="call", is_control=True),
        touch("c3", "2025-04-01", salesperson_id="s2", channel="call"),  # after March
    ]
    s = make_store(tmp_path / "r.duckdb", records)
    r = run(s, METRICS, ["relationship_activity"], *MARCH)
    assert value(r, "relationship_activity") == 4
    assert value(r, "relationship_activity", "customers") == 3
    assert value(r, "relationship_activity", "logged") == 2
    assert value(r, "relationship_activity", "logged_share") == 0.5
    by = run(s, METRICS, ["relationship_activity"], *MARCH, by="salesperson_id")
    assert value(by, "relationship_activity", slice="s1") == 2
    assert value(by, "relationship_activity", "customers", slice="s1") == 1
    assert value(by, "relationship_activity", "logged_share", slice="s1") == 0.5
    assert value(by, "relationship_activity", "logged_share", slice="s2") == 1.0
    every = run(s, METRICS, ["relationship_activity"], *MARCH,
                params={"relationship_activity": {"post_sale_only": False}})
    assert value(every, "relationship_activity") == 5
    assert value(every, "relationship_activity", "logged_share") == pytest.approx(3 / 5)


def test_empty_period_gives_zero_counts_and_null_ratios(store: Store) -> None:
    r = run(store, METRICS, ["campaign_reach", "campaign_conversion"], "2025-06-01",
            "2025-07-01")
    assert value(r, "campaign_reach") == 0
    assert value(r, "campaign_conversion", "contacted") == 0
    assert value(r, "campaign_conversion") is None


def test_missing_touches_raise_instead_of_zeros(tmp_path: Path) -> None:
    s = make_store(tmp_path / "m.duckdb", [customer("c1"), order("c1", "2025-03-02", 10)])
    for name in ("campaign_reach", "campaign_conversion", "campaign_revenue", "campaign_lift",
                 "relationship_activity"):
        with pytest.raises(MissingDataError, match="touches"):
            run(s, METRICS, [name], *MARCH)
    with pytest.raises(MissingDataError, match="campaigns"):
        run(s, METRICS, ["campaign_roi"], *MARCH)


def test_declarations() -> None:
    names = {m.name for m in METRICS}
    assert names == {"campaign_reach", "campaign_conversion", "campaign_revenue",
                     "campaign_roi", "campaign_lift", "relationship_activity"}
    for m in METRICS:
        assert m.title and m.title_pt and m.description
        assert "touches" in m.needs
    conv = next(m for m in METRICS if m.name == "campaign_conversion")
    assert conv.params().attribution_days == 7  # type: ignore[attr-defined]


@pytest.mark.spark
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(store: Store) -> None:
    same_on_every_engine(store, METRICS, start="2025-03", end="2025-05", grain="month",
                         timezone="America/Sao_Paulo")
