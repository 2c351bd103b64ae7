"""return_probability and cohort_retention answer a whole series in one query.

test_kpi_series.py checks them with the rest of the catalogue on the golden store; these
tests also run the two metrics over 2023, where every month has cohorts, with parameters that
move the edges (a short month, few months), and on PySpark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pytest
from _kpi_fixtures import basic_records, build_store, order

from clientela.kpi import compute
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period, run_everywhere
from clientela.testing.contexts import series_context
from clientela.testing.engines import spark_available, store_tables

TZ = "America/Sao_Paulo"
NAMES = ["return_probability", "cohort_retention"]
SHORT = {"return_probability": {"max_months": 2, "window_days": 7},
         "cohort_retention": {"max_months": 2}}


def _both(store: Store, metrics: dict[str, Metric], **kw: Any) -> int:
    series = compute(store, NAMES, catalog=metrics, timezone=TZ, **kw)
    one_by_one = compute(store, period_by_period(NAMES, metrics), timezone=TZ, **kw)
    check_identical({"series": series, "one period at a time": one_by_one})
    return len([r for r in series.rows() if r["metric"] == "cohort_retention"])


@pytest.mark.parametrize("kw", [
    {"grain": "month", "start": "2023-01", "end": "2024-03"},
    {"grain": "week", "start": "2023-01-10", "end": "2023-04-15"},  # clipped first and last
    {"grain": "quarter", "start": "2022-11-15", "end": "2024-02"},
    {"grain": "month", "start": "2023-01", "end": "2024-01", "params": SHORT},
    {"grain": "month", "start": "2023-01", "end": "2023-12", "by": "acquisition_channel"},
    {"grain": "month", "start": "2023-01", "end": "2023-12", "by": "segment"},
], ids=["month", "week", "quarter", "short-params", "acquisition_channel", "segment"])
def test_series_equals_period_by_period_with_cohorts(clientela_golden_store: Store,
                                                     metrics: dict[str, Metric],
                                                     kw: dict[str, Any]) -> None:
    assert _both(clientela_golden_store, metrics, **kw) > 0  # cohorts were compared


def test_an_as_of_before_the_period_has_no_cohort_cell(clientela_golden_store: Store,
                                                       metrics: dict[str, Metric]) -> None:
    """No month of the period has begun by a fixed as-of date before it: no cells (this
    used to fail on an empty max())."""
    result = compute(clientela_golden_store, ["cohort_retention"], catalog=metrics,
                     start="2023-02", end="2023-05", grain="month", timezone=TZ,
                     as_of="2023-03-15")
    assert {r["period"] for r in result.rows()} == {"2023-02", "2023-03"}


def _series_context(store: Store, name: str) -> MetricContext:
    return series_context(store, name, start="2023-01", end="2023-04", timezone=TZ)


@pytest.mark.parametrize("name", NAMES)
def test_series_compiles_for_postgres(clientela_golden_store: Store,
                                      metrics: dict[str, Metric], name: str) -> None:
    metric = metrics[name]
    expr = metric.compute(_series_context(clientela_golden_store, name), metric.params())
    assert PERIOD_COLUMN in expr.columns
    assert "SELECT" in str(ibis.to_sql(expr, dialect="postgres"))


@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_as_of_is_not_a_series(clientela_golden_store: Store,
                                       metrics: dict[str, Metric], name: str) -> None:
    from dataclasses import replace

    ctx = replace(_series_context(clientela_golden_store, name), as_of_fixed=True)
    with pytest.raises(SeriesUnsupported):
        metrics[name].compute(ctx, metrics[name].params())


def _unknown_customer_store(path: Path) -> Store:
    """The basic fixture plus customer x, whom the customers table does not know (so its
    acquisition channel is null): orders on 3 Jan and 15 Feb 2025."""
    customers, orders = basic_records()
    orders = [*orders, order("x1", "x", "2025-01-03T12:00", 10),
              order("x2", "x", "2025-02-15T12:00", 10)]
    return build_store(path, customers, orders)


def _null_slice(store: Store, metrics: dict[str, Metric], name: str, start: str,
                end: str) -> dict[tuple[str, str], float | None]:
    found = compute(store, [name], start=start, end=end, by="acquisition_channel",
                    catalog=metrics)
    return {(r["item"], r["measure"]): r["value"] for r in found.rows()
            if r["acquisition_channel"] is None}


def test_customers_without_a_slice_value_count_in_the_null_slice(
        tmp_path: Path, metrics: dict[str, Metric]) -> None:
    """A null slice is a slice like any other (a join on the slice used to lose it: a null
    at_risk, a cohort never active in its own first month)."""
    store = _unknown_customer_store(tmp_path / "unknown.duckdb")
    try:
        # as of 1 March: a closed 43-day gap (at risk at m = 0, 1; returns at 1), then an
        # open 13-day gap (no month observed)
        assert _null_slice(store, metrics, "return_probability", "2025-02-01",
                           "2025-03-01") == {
            ("0", "value"): 0.0, ("0", "returned"): 0, ("0", "at_risk"): 1,
            ("1", "value"): 1.0, ("1", "returned"): 1, ("1", "at_risk"): 1}
        cells = _null_slice(store, metrics, "cohort_retention", "2025-01-01", "2025-04-01")
        assert {item: v for (item, measure), v in cells.items() if measure == "value"} == {
            "2025-01 +00": 1.0, "2025-01 +01": 1.0, "2025-01 +02": 0.0}
    finally:
        store.close()


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_series_identical_on_duckdb_and_pyspark(clientela_golden_store: Store,
                                                metrics: dict[str, Metric]) -> None:
    from clientela.testing.engines import engines

    backends = list(engines(store_tables(clientela_golden_store), spark=True))
    for kw in ({"grain": "month", "start": "2023-01", "end": "2023-07"},
               {"grain": "month", "start": "2023-01", "end": "2023-07",
                "by": "acquisition_channel", "params": SHORT}):
        results = run_everywhere(backends, NAMES, catalog=metrics, timezone=TZ, **kw)
        check_identical(results)
        assert any(r["metric"] == "cohort_retention" for r in results["duckdb"].rows())


def test_medians_of_the_null_slice_are_joined_to_it(tmp_path: Path,
                                                    metrics: dict[str, Metric]) -> None:
    """recency_days and interpurchase_days join their medians to their means per slice;
    the null slice's median used to be lost in that join (null = null is not true)."""
    store = _unknown_customer_store(tmp_path / "unknown.duckdb")
    try:
        # as of 1 March, x's last order (15 Feb 12:00) is 14 calendar days old
        recency = _null_slice(store, metrics, "recency_days", "2025-02-01", "2025-03-01")
        assert recency[(None, "value")] == 14.0
        assert recency[(None, "median")] == 14.0
        # x's one gap, 3 Jan 12:00 -> 15 Feb 12:00, ends in February: 43 days
        gaps = _null_slice(store, metrics, "interpurchase_days", "2025-02-01", "2025-03-01")
        assert gaps[(None, "value")] == 43.0
        assert gaps[(None, "median")] == 43.0
    finally:
        store.close()
