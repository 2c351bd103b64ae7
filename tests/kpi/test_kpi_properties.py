"""Invariants that hold for any store: slices add up, churn mirrors retention, and RFM
segments partition the scored customers."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from _kpi_fixtures import build_store, catalog, customer, order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientela.kpi import compute

CHANNELS = ("online", "store", "app")
METRICS = catalog()
START = datetime(2025, 1, 1)

order_st = st.tuples(
    st.integers(0, 7),                             # customer (7 = guest)
    st.integers(0, 180 * 24),                      # hours after 1 Jan 2025
    st.integers(1, 50_000),                        # cents
    st.sampled_from(("paid", "paid", "cancelled", "refunded", "partially_refunded")),
    st.sampled_from(CHANNELS),
    st.booleans(),                                 # foreign currency
)


def make(rows: list[tuple]) -> tuple[list, list]:
    people = [customer(f"c{i}", acquisition_channel=CHANNELS[i % 3]) for i in range(7)]
    orders = []
    for k, (who, hours, cents, status, channel, foreign) in enumerate(rows):
        total = Decimal(cents) / 100
        refunded = total if status == "refunded" else (
            (total / 2).quantize(Decimal("0.01")) if status == "partially_refunded" else 0)
        orders.append(order(
            f"o{k}", None if who == 7 else f"c{who}", START + timedelta(hours=hours), total,
            status=status, channel=channel, refunded_amount=Decimal(refunded),
            currency="USD" if foreign else "", fx_rate=Decimal("5.25") if foreign else None,
            store_id=f"s{who % 2}"))
    return people, orders


SETTINGS = settings(max_examples=10, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.lists(order_st, min_size=1, max_size=40),
       st.sampled_from(("channel", "store_id", "acquisition_channel", "segment")))
def test_additive_slices_sum_to_the_total(rows: list[tuple], by: str) -> None:
    with tempfile.TemporaryDirectory() as folder, \
            build_store(Path(folder) / "p.duckdb", *make(rows)) as store:
        kw = dict(start="2025-01", end="2025-07", grain="quarter", catalog=METRICS)
        total = compute(store, ["revenue", "orders", "gross_sales"], **kw)
        sliced = compute(store, ["revenue", "orders", "gross_sales"], by=by, **kw)
        for metric in ("revenue", "orders", "gross_sales"):
            for period in ("2025-Q1", "2025-Q2"):
                whole = total.value(metric, period=period)
                parts = [r["value"] for r in sliced.rows()
                         if r["metric"] == metric and r["period"] == period]
                assert sum(parts) == pytest.approx(whole, abs=1e-6)


@SETTINGS
@given(st.lists(order_st, min_size=1, max_size=40))
def test_churn_is_one_minus_retention(rows: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as folder, \
            build_store(Path(folder) / "p.duckdb", *make(rows)) as store:
        found = compute(store, ["retention_rate", "churn_rate"], start="2025-01",
                        end="2025-07", grain="month", catalog=METRICS)
        for period in ("2025-02", "2025-03", "2025-04", "2025-05", "2025-06"):
            kept = found.value("retention_rate", period=period)
            lost = found.value("churn_rate", period=period)
            assert (kept is None) == (lost is None)
            if kept is not None:
                assert lost == pytest.approx(1 - kept)


@SETTINGS
@given(st.lists(order_st, min_size=1, max_size=60))
def test_rfm_segments_partition_the_customers(rows: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as folder, \
            build_store(Path(folder) / "p.duckdb", *make(rows)) as store:
        found = compute(store, ["rfm_segments", "recency_days"], start="2025-06",
                        end="2025-07", catalog=METRICS)
        sizes = [r["value"] for r in found.rows()
                 if r["metric"] == "rfm_segments" and r["measure"] == "value"]
        scored = found.value("recency_days", "customers")
        assert sum(sizes) == (scored or 0)
        shares = [r["value"] for r in found.rows()
                  if r["metric"] == "rfm_segments" and r["measure"] == "share"]
        if shares:
            assert sum(shares) == pytest.approx(1.0)
        assert all(r["item"] != "Other" for r in found.rows() if r["metric"] == "rfm_segments")
