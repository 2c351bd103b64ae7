"""The engine's own duties: grains in the time zone, comparison, parameters, slices and the
refusal to report zeros for data the store does not have."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clientela.kpi import KpiError, MissingDataError, compute
from clientela.kpi.periods import buckets, parse_bound
from clientela.store import Store


def test_month_buckets_in_sao_paulo_are_utc_instants() -> None:
    found = buckets(datetime(2025, 1, 1), datetime(2025, 3, 1), "month",
                    ZoneInfo("America/Sao_Paulo"))
    assert [(p.label, p.start_utc, p.end_utc) for p in found] == [
        ("2025-01", datetime(2025, 1, 1, 3), datetime(2025, 2, 1, 3)),
        ("2025-02", datetime(2025, 2, 1, 3), datetime(2025, 3, 1, 3)),
    ]


@pytest.mark.parametrize(("grain", "labels"), [
    ("week", ["2025-W01", "2025-W02"]),
    ("quarter", ["2025-Q1"]),
    ("year", ["2025"]),
    ("day", ["2025-01-01", "2025-01-02"]),
])
def test_grains_clip_to_the_range(grain: str, labels: list[str]) -> None:
    end = datetime(2025, 1, 3) if grain == "day" else datetime(2025, 1, 10)
    found = buckets(datetime(2025, 1, 1), end, grain, ZoneInfo("UTC"))
    assert [p.label for p in found] == labels
    assert found[0].start == datetime(2025, 1, 1) and found[-1].end == end


def test_parse_bound_inclusive() -> None:
    assert parse_bound("2025-12", inclusive=True) == datetime(2026, 1, 1)
    assert parse_bound("2025-Q2") == datetime(2025, 4, 1)
    with pytest.raises(KpiError, match="cannot read"):
        parse_bound("soon")


def test_series_and_conversions(basic_store: Store, metrics: dict) -> None:
    found = compute(basic_store, ["revenue", "orders"], start="2025-01", end="2025-04",
                    grain="month", timezone="America/Sao_Paulo", catalog=metrics)
    frame = found.to_pandas()
    assert list(frame[frame.metric == "revenue"].value) == [110, 490, 0]
    pl = pytest.importorskip("polars")
    assert isinstance(found.to_polars(), pl.DataFrame)
    assert found.to_polars().shape == (6, 7)
    assert found.to_arrow().num_rows == 6


def test_compare(basic_store: Store, metrics: dict) -> None:
    found = compute(basic_store, ["revenue", "aov"],
                    compare=(("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-01")),
                    catalog=metrics)
    row = found.value("revenue", column="change")
    assert (found.value("revenue", column="before"), found.value("revenue", column="after"),
            row, found.value("revenue", column="relative_change")) == (110, 430, 320,
                                                                       pytest.approx(320 / 110))
    empty = compute(basic_store, ["aov"], compare=(("2023-01-01", "2023-02-01"),
                                                   ("2025-01-01", "2025-02-01")),
                    catalog=metrics)
    assert empty.value("aov", column="before") is None
    assert empty.value("aov", column="change") is None


def test_missing_data_is_named(basic_store: Store, metrics: dict) -> None:
    with pytest.raises(MissingDataError, match="'cac' needs the 'marketing_spend' table"):
        compute(basic_store, ["cac"], start="2025-01", end="2025-02", catalog=metrics)
    with pytest.raises(MissingDataError, match="order_lines"):
        compute(basic_store, ["items_per_order"], start="2025-01", end="2025-02",
                catalog=metrics)


def test_bad_requests(basic_store: Store, metrics: dict) -> None:
    with pytest.raises(KpiError, match="unknown metric 'nope'"):
        compute(basic_store, ["nope"], start="2025-01", end="2025-02", catalog=metrics)
    with pytest.raises(KpiError, match="cannot be sliced by 'channel'"):
        compute(basic_store, ["retention_rate"], start="2025-01", end="2025-02", by="channel",
                catalog=metrics)
    with pytest.raises(KpiError, match="lapse_days"):
        compute(basic_store, ["lapsed_customers"], start="2025-01", end="2025-02",
                params={"lapsed_customers": {"lapse_days": "x"}}, catalog=metrics)
    with pytest.raises(KpiError, match="unknown grain"):
        compute(basic_store, ["orders"], start="2025-01", end="2025-02", grain="hour",
                catalog=metrics)
    with pytest.raises(KpiError, match="unknown time zone"):
        compute(basic_store, ["orders"], start="2025-01", end="2025-02", timezone="Mars/Base",
                catalog=metrics)


def test_cac(tmp_path, metrics: dict) -> None:
    from datetime import date
    from decimal import Decimal

    from _kpi_fixtures import build_store, customer, order

    from clientela.model import MarketingSpend

    spend = [MarketingSpend(source="test", day=date(2025, 1, d), channel=ch, amount=Decimal(a))
             for d, ch, a in [(1, "online", 300), (2, "store", 100), (31, "online", 100)]]
    people = [customer("a", acquisition_channel="online"),
              customer("b", acquisition_channel="online"),
              customer("c", acquisition_channel="store")]
    orders = [order("1", "a", "2025-01-05", 10), order("2", "b", "2025-01-06", 10),
              order("3", "c", "2024-12-06", 10), order("4", "c", "2025-01-06", 10)]
    with build_store(tmp_path / "cac.duckdb", people, orders, spend) as store:
        found = compute(store, ["cac", "ltv_historical"], start="2025-01", end="2025-02",
                        catalog=metrics)
        assert found.value("cac") == 250  # 500 / 2 new (a, b)
        assert found.value("ltv_historical") == 10
        by = compute(store, ["cac"], start="2025-01", end="2025-02", by="acquisition_channel",
                     catalog=metrics)
        assert by.value("cac", slice="online") == 200
        assert by.value("cac", slice="store") is None  # spend 100, nobody new


def test_ltv_cac_ratio(tmp_path, metrics: dict) -> None:
    from datetime import date
    from decimal import Decimal

    from _kpi_fixtures import build_store, customer, order

    from clientela.model import MarketingSpend

    spend = [MarketingSpend(source="test", day=date(2025, 1, d), channel=ch, amount=Decimal(a))
             for d, ch, a in [(1, "online", 300), (2, "store", 100), (31, "online", 100),
                              (1, "app", 50)]]
    people = [customer("a", acquisition_channel="online"),
              customer("b", acquisition_channel="online"),
              customer("c", acquisition_channel="store"),
              customer("d", acquisition_channel="app")]
    orders = [order("1", "a", "2025-01-05", 10), order("2", "b", "2025-01-06", 10),
              order("3", "c", "2024-12-06", 10), order("4", "c", "2025-01-06", 10),
              order("5", "a", "2025-01-20", 30), order("6", "b", "2025-03-02", 50),
              order("7", "d", "2025-01-09", 40, status="cancelled"),
              order("8", "a", "2025-02-10", 100, status="refunded",
                    refunded_amount=Decimal(100))]
    with build_store(tmp_path / "ltvcac.duckdb", people, orders, spend) as store:
        jan = dict(start="2025-01", end="2025-02", catalog=metrics)
        found = compute(store, ["ltv_cac_ratio"], **jan)
        # cohort {a, b} (c began in December, d only cancelled): revenue to 1 Feb 40 + 10;
        # spend 300 + 100 + 100 + 50 = 550 over 2 new customers
        assert found.value("ltv_cac_ratio", "ltv") == 25
        assert found.value("ltv_cac_ratio", "cac") == 275
        assert found.value("ltv_cac_ratio", "spend") == 550
        assert found.value("ltv_cac_ratio", "new_customers") == 2
        assert found.value("ltv_cac_ratio") == pytest.approx(25 / 275)
        # a later as-of date grows the cohort's LTV (b's March order), not its CAC
        later = compute(store, ["ltv_cac_ratio"], as_of="2025-04", **jan)
        assert later.value("ltv_cac_ratio", "ltv") == 50  # (40 + 60) / 2
        assert later.value("ltv_cac_ratio") == pytest.approx(50 / 275)
        by = compute(store, ["ltv_cac_ratio"], by="acquisition_channel", **jan)
        assert by.value("ltv_cac_ratio", slice="online") == pytest.approx(25 / 200)
        assert by.value("ltv_cac_ratio", "cac", slice="online") == 200
        assert by.value("ltv_cac_ratio", slice="store") is None  # spend 100, nobody new
        assert by.value("ltv_cac_ratio", "ltv", slice="store") is None
        assert by.value("ltv_cac_ratio", slice="app") is None  # d's only order was cancelled
        assert by.value("ltv_cac_ratio", "spend", slice="app") == 50
        feb = compute(store, ["ltv_cac_ratio"], start="2025-02", end="2025-03",
                      catalog=metrics)
        assert feb.value("ltv_cac_ratio") is None  # no spend, nobody new: no CAC
        with pytest.raises(KpiError, match="ltv"):
            compute(store, ["ltv_cac_ratio"], params={"ltv_cac_ratio": {"ltv": "future"}},
                    **jan)


def test_ltv_cac_ratio_with_predicted_clv(tmp_path, metrics: dict) -> None:
    """ltv=predicted: the cohort's mean predicted CLV / CAC. Every customer of this simulated
    BG/NBD store is acquired in 2024, so the cohort's mean CLV is clv_predicted's value."""
    from datetime import date
    from decimal import Decimal

    import numpy as np

    from clientela import clv
    from clientela.clv.engine.synthetic import orders_table, write_orders
    from clientela.metrics.catalog import builtin_metrics
    from clientela.model import MarketingSpend

    n = 400  # the size and seeds tests/clv fits on
    ages = np.random.default_rng(0).integers(60, 366, n).astype(np.float64)
    sim = clv.simulate_orders(n, age=ages, r=0.243, alpha=30.9, a=0.793, b=2.426, p=6.25,
                              q=3.74, gamma=15.44, seed=0)
    day = np.floor(365 - sim.age[sim.customer] + sim.time)
    cents = np.maximum(np.round(sim.amount * 100), 1).astype(np.int64)
    placed_us = ((day + (datetime(2024, 1, 1) - datetime(1970, 1, 1)).days) * 86_400
                 + 12 * 3600).astype(np.int64) * 1_000_000
    ids = np.char.add("c", np.char.zfill(sim.customer.astype(str), 4))
    everything = {m.name: m for m in builtin_metrics()} | metrics
    with Store(tmp_path / "bgnbd.duckdb") as store:
        write_orders(store, orders_table(ids, placed_us, cents))
        store.upsert([MarketingSpend(source="test", day=date(2024, 6, 1), channel="online",
                                     amount=Decimal(2000))])
        found = compute(store, ["ltv_cac_ratio", "clv_predicted"], start="2024", end="2025",
                        params={"ltv_cac_ratio": {"ltv": "predicted"}}, catalog=everything)
        assert found.value("ltv_cac_ratio", "new_customers") == n
        assert found.value("ltv_cac_ratio", "cac") == 2000 / n
        mean_clv = found.value("clv_predicted")
        assert mean_clv is not None and mean_clv > 0
        assert found.value("ltv_cac_ratio", "ltv") == pytest.approx(mean_clv, rel=1e-12)
        assert found.value("ltv_cac_ratio") == pytest.approx(mean_clv / (2000 / n), rel=1e-12)
        historical = compute(store, ["ltv_cac_ratio", "ltv_historical"], start="2024",
                             end="2025", catalog=everything)
        assert historical.value("ltv_cac_ratio", "ltv") == pytest.approx(
            historical.value("ltv_historical"))


def test_registered_through_the_plugin_hook() -> None:
    from clientela.plugins import registry

    found = registry()
    assert {"revenue", "aov", "retention_rate", "rfm_segments", "cac"} <= set(found.metrics)
    assert found.owners[("metric", "revenue")] == "clientela-builtins"
    assert "rfm" in found.segmenters


def test_shared_tables_are_dropped_after_each_call(basic_store: Store, metrics: dict) -> None:
    """compute() materialises valid orders, first orders and customer histories once per call;
    none may outlive the call, even when a metric fails half-way."""
    before = set(basic_store.ibis().list_tables())
    names = ["revenue", "new_customers", "repeat_rate", "rfm_segments", "ltv_historical"]
    found = compute(basic_store, names, start="2024-12", end="2025-04", grain="month",
                    by="acquisition_channel", catalog=metrics)
    assert found.value("repeat_rate", period="2025-03", slice="online") == 1.0  # a: o1, o2
    assert set(basic_store.ibis().list_tables()) == before
    with pytest.raises(MissingDataError):
        compute(basic_store, ["revenue", "cac"], start="2025-01", end="2025-03",
                catalog=metrics)
    assert set(basic_store.ibis().list_tables()) == before


def test_running_out_of_memory_names_the_metric_and_the_setting(tmp_path: Path) -> None:
    """A memory_limit too small for the work is a KpiError that says what to change, not a
    database traceback."""
    from clientela.testing.golden import golden_store

    golden_store(tmp_path / "golden.duckdb").close()
    with Store(tmp_path / "golden.duckdb", read_only=True, memory_limit="4MB") as store, \
            pytest.raises(KpiError, match=r"'rfm_segments': the database ran out of memory .*"
                                          r"workspace\.memory_limit"):
        compute(store, ["rfm_segments"], start="2024-01", end="2025-01", grain="month")
