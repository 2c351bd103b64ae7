"""docs/metrics.md "Retention and loyalty", counted by hand on the basic fixture (UTC).

Valid orders per customer: a: 10 Jan 12:00, 15 Feb 12:00 (30 after refund);
b: 5 Feb 12:00 (400); c: 20 Dec 2024 12:00 (30), 1 Mar 02:30 (60); d: none
(its only order is refunded); one guest order on 5 Jan.
"""

from __future__ import annotations

import pytest

from clientela.kpi import compute
from clientela.store import Store

JAN, FEB, MAR = ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01"), ("2025-03-01",
                                                                               "2025-04-01")


def run(store: Store, metrics: dict, name: str, period: tuple[str, str], **kw: object):
    return compute(store, [name], start=period[0], end=period[1], catalog=metrics, **kw)


@pytest.mark.parametrize(("period", "retention"), [(JAN, 0.0), (FEB, 1.0), (MAR, 0.0)])
def test_retention_and_churn(basic_store: Store, metrics: dict, period: tuple[str, str],
                             retention: float) -> None:
    # Dec {c} -> Jan {a}; Jan {a} -> Feb {a, b}; Feb {a, b} -> Mar {c}
    assert run(basic_store, metrics, "retention_rate", period).value("retention_rate") == \
        retention
    assert run(basic_store, metrics, "churn_rate", period).value("churn_rate") == 1 - retention


def test_retention_null_without_previous_customers(basic_store: Store, metrics: dict) -> None:
    assert run(basic_store, metrics, "retention_rate", ("2023-01-01", "2023-02-01")).value(
        "retention_rate") is None
    assert run(basic_store, metrics, "churn_rate", ("2023-01-01", "2023-02-01")).value(
        "churn_rate") is None


def test_repeat_rate(basic_store: Store, metrics: dict) -> None:
    assert run(basic_store, metrics, "repeat_rate", FEB).value("repeat_rate") == \
        pytest.approx(1 / 3)  # a of {a, b, c}
    assert run(basic_store, metrics, "repeat_rate", MAR).value("repeat_rate") == \
        pytest.approx(2 / 3)  # a and c


def test_lapsed_customers(basic_store: Store, metrics: dict) -> None:
    assert run(basic_store, metrics, "lapsed_customers", FEB).value("lapsed_customers") == 0
    found = run(basic_store, metrics, "lapsed_customers", FEB,
                params={"lapsed_customers": {"lapse_days": 30}})
    assert found.value("lapsed_customers") == 1  # c: last order 20 Dec, 71 days before 1 Mar


def test_winback(basic_store: Store, metrics: dict) -> None:
    found = run(basic_store, metrics, "winback_rate", MAR,
                params={"winback_rate": {"lapse_days": 30}})
    assert found.value("winback_rate") == 1.0
    assert found.value("winback_rate", "winback_customers") == 1
    assert found.value("winback_rate", "winback_revenue") == 60
    assert run(basic_store, metrics, "winback_rate", MAR).value("winback_rate") is None


def test_recency_days(basic_store: Store, metrics: dict) -> None:
    found = run(basic_store, metrics, "recency_days", FEB)  # as of 1 March 00:00
    # calendar days to 1 March: a (15 Feb) 14, b (5 Feb) 24, c (20 Dec) 71
    assert found.value("recency_days") == pytest.approx((14 + 24 + 71) / 3)
    assert found.value("recency_days", "median") == 24
    assert found.value("recency_days", "customers", item="0-29") == 2
    assert found.value("recency_days", "customers", item="60-89") == 1


def test_interpurchase_days(basic_store: Store, metrics: dict) -> None:
    assert run(basic_store, metrics, "interpurchase_days", FEB).value(
        "interpurchase_days") == 36
    assert run(basic_store, metrics, "interpurchase_days", MAR).value(
        "interpurchase_days") == pytest.approx(70 + 14.5 / 24)
    assert run(basic_store, metrics, "interpurchase_days", JAN).value(
        "interpurchase_days") is None


def test_return_probability(basic_store: Store, metrics: dict) -> None:
    found = run(basic_store, metrics, "return_probability", FEB)  # as of 1 March
    # a: a closed 36-day gap (reaches m = 0, 1; returns at 1); c: open for 70 days
    # (m = 0, 1 fully observed); a's and b's open gaps are too short to count
    assert found.value("return_probability", "at_risk", item="0") == 2
    assert found.value("return_probability", item="0") == 0.0
    assert found.value("return_probability", item="1") == 0.5
    assert [r for r in found.rows() if r["item"] == "2"] == []


def test_avg_frequency(basic_store: Store, metrics: dict) -> None:
    found = run(basic_store, metrics, "avg_frequency", FEB)
    assert found.value("avg_frequency") == pytest.approx(4 / 3)
    # January and February both have 2 valid orders; the earlier label wins the tie
    assert found.value("avg_frequency", "best_month_orders", item="best_month 2025-01") == 2


def test_cohort_retention(basic_store: Store, metrics: dict) -> None:
    found = run(basic_store, metrics, "cohort_retention", ("2025-01-01", "2025-04-01"))
    cells = {r["item"]: r["value"] for r in found.rows() if r["measure"] == "value"}
    assert cells == {"2025-01 +00": 1.0, "2025-01 +01": 1.0, "2025-01 +02": 0.0,
                     "2025-02 +00": 1.0, "2025-02 +01": 0.0}


def test_customer_slices(basic_store: Store, metrics: dict) -> None:
    found = compute(basic_store, ["retention_rate"], start=FEB[0], end=FEB[1],
                    by="acquisition_channel", catalog=metrics)
    # previous period Jan: {a (online)} -> retained in Feb
    assert found.value("retention_rate", slice="online") == 1.0
