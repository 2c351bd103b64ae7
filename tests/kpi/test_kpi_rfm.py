"""RFM exactly as docs/metrics.md defines it, on five customers scored by hand (as of 1 July 2025).

    customer  R days  F  M    R  F  M  FM  segment
    p1        0       1  100  4  1  1  1   Promising        (ties with p2 on R: both rank 4,
    p2        0       2  200  4  4  5  5   Loyal             so nobody scores R = 5)
    p3        60      1  100  3  1  1  1   About To Sleep
    p4        180     3  150  2  5  4  5   Cannot Lose Them  (FM = floor(4.5 + 0.5))
    p5        546     1  100  1  1  1  1   Lost
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _kpi_fixtures import build_store, order

from clientela.kpi import compute
from clientela.kpi.context import MetricContext
from clientela.kpi.periods import Period
from clientela.segments.rfm import RfmParams, SegmentRule, rfm_table
from clientela.store import Store

AS_OF = "2025-07-01"
# R is calendar days from the last order's date to the as-of date: 30 June is 1 day ago
EXPECTED = {
    "p1": (1, 1, 100, 4, 1, 1, 1, "Promising"),
    "p2": (1, 2, 200, 4, 4, 5, 5, "Loyal"),
    "p3": (61, 1, 100, 3, 1, 1, 1, "About To Sleep"),
    "p4": (181, 3, 150, 2, 5, 4, 5, "Cannot Lose Them"),
    "p5": (547, 1, 100, 1, 1, 1, 1, "Lost"),
}


@pytest.fixture
def rfm_store(tmp_path: Path) -> Store:
    orders = [
        order("a1", "p1", "2025-06-30T10:00", 100),
        order("b1", "p2", "2025-06-01T10:00", 100), order("b2", "p2", "2025-06-30T20:00", 100),
        order("c1", "p3", "2025-05-01T10:00", 100),
        order("d1", "p4", "2024-12-01T10:00", 50), order("d2", "p4", "2024-12-15T10:00", 50),
        order("d3", "p4", "2025-01-01T10:00", 50),
        order("e1", "p5", "2024-01-01T10:00", 100),
        order("e2", "p5", "2025-06-30T10:00", 999, status="cancelled"),  # does not count
        order("f1", "p6", "2025-07-02T10:00", 100),  # after the as-of date: not scored
    ]
    store = build_store(tmp_path / "rfm.duckdb", orders)
    yield store
    store.close()


def scores(store: Store, params: RfmParams | None = None) -> dict[str, tuple]:
    from datetime import datetime

    as_of = datetime(2025, 7, 1)
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    ctx = MetricContext(backend=store.ibis(), period=period, as_of=as_of, timezone="UTC",
                        currency="BRL", metric="rfm")
    rows = rfm_table(ctx, params).to_pyarrow().to_pylist()
    return {r["customer_id"]: (r["recency_days"], r["frequency"], float(r["monetary"]), r["r"],
                               r["f"], r["m"], r["fm"], r["segment"]) for r in rows}


def test_scores_by_hand(rfm_store: Store) -> None:
    assert scores(rfm_store) == EXPECTED


def test_replaced_segment_table(rfm_store: Store) -> None:
    rules = (SegmentRule(segment="Recent", r_min=4, r_max=5, fm_min=1, fm_max=5),)
    found = scores(rfm_store, RfmParams(segments=rules))
    assert {k: v[-1] for k, v in found.items()} == {
        "p1": "Recent", "p2": "Recent", "p3": "Other", "p4": "Other", "p5": "Other"}


def test_first_matching_rule_wins(rfm_store: Store) -> None:
    rules = (SegmentRule(segment="A", r_min=1, r_max=5, fm_min=1, fm_max=5),
             SegmentRule(segment="B", r_min=1, r_max=5, fm_min=1, fm_max=5))
    assert {v[-1] for v in scores(rfm_store, RfmParams(segments=rules)).values()} == {"A"}


def test_mean_monetary_option(rfm_store: Store) -> None:
    found = scores(rfm_store, RfmParams(monetary="mean"))
    assert found["p4"][2] == 50
    assert found["p2"][2] == 100


def test_bad_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="min exceeds its max"):
        SegmentRule(segment="X", r_min=4, r_max=2, fm_min=1, fm_max=1)


def test_rfm_segments_metric(rfm_store: Store, metrics: dict) -> None:
    found = compute(rfm_store, ["rfm_segments"], start="2025-06-01", end=AS_OF,
                    catalog=metrics)
    assert found.value("rfm_segments", item="Loyal") == 1
    assert found.value("rfm_segments", "share", item="Lost") == pytest.approx(0.2)
    assert found.value("rfm_segments", "revenue", item="Cannot Lose Them") == 150
    params = {"rfm_segments": {"segments": [
        {"segment": "All", "r_min": 1, "r_max": 5, "fm_min": 1, "fm_max": 5}]}}
    replaced = compute(rfm_store, ["rfm_segments"], start="2025-06-01", end=AS_OF,
                       catalog=metrics, params=params)
    assert replaced.value("rfm_segments", item="All") == 5


def test_segment_slice(rfm_store: Store, metrics: dict) -> None:
    found = compute(rfm_store, ["revenue"], start="2025-06-01", end=AS_OF, by="segment",
                    catalog=metrics)
    assert found.value("revenue", slice="Loyal") == 200
    assert found.value("revenue", slice="Promising") == 100
