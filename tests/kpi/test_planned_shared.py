"""The engine plans a series call before running it: a shared table one metric reads stays
inside that metric's query (not written), one several metrics read is written once, and the
answers are those of each metric asked alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import ibis
import pytest
from _kpi_fixtures import basic_records, build_store, catalog

from clientela.kpi import compute, engine
from clientela.kpi.context import TableCache, _columns_used

SALES = ["revenue", "orders", "aov", "active_customers", "new_customers"]


class RecordingCache(TableCache):
    """A TableCache that remembers itself and the columns of each table it writes."""

    made: ClassVar[list[RecordingCache]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingCache.made.append(self)
        self.columns: dict[str, list[str]] = {}

    def _write(self, key: str, table: ibis.Table, transient: bool) -> ibis.Table:
        self.columns[key] = list(table.columns)
        return super()._write(key, table, transient)


@pytest.fixture
def store(tmp_path):
    made = build_store(tmp_path / "s.duckdb", *basic_records())
    yield made
    made.close()


@pytest.fixture
def recording(monkeypatch) -> list[RecordingCache]:
    RecordingCache.made = []
    monkeypatch.setattr(engine, "TableCache", RecordingCache)
    return RecordingCache.made


def _catalog() -> dict[str, Any]:
    """The fixture catalogue, and recency_days asked period by period (not as a series)."""
    found = catalog()
    found["recency_by_period"] = replace(found["recency_days"], name="recency_by_period",
                                         series=False)
    return found


def _call(store: Any, names: list[str]) -> list[dict[str, Any]]:
    """December to February: every month has an answer for every metric (a month without
    one is asked again alone, which would ask for the shared tables once more)."""
    return compute(store, names, start="2024-12", end="2025-03", grain="month",
                   catalog=_catalog()).rows()


def _written(cache: RecordingCache) -> dict[str, int]:
    return {key.split("|")[0]: n for key, n in cache.written.items()}


def test_the_period_totals_four_metrics_read_are_written_once(
        store, recording) -> None:
    rows = _call(store, SALES)
    [cache] = recording
    # period totals: read by revenue, orders, aov and active customers; the first orders'
    # times: read by new customers alone, so they stay in its query
    assert _written(cache) == {"period_totals": 1}
    assert cache.materialised == {}  # released at the end of the call
    alone = [row for name in SALES for row in _call(store, [name])]
    assert rows == alone
    revenue = {r["period"]: r["value"] for r in rows if r["metric"] == "revenue"}
    # by hand (basic_records, UTC months): Dec o5 30; Jan o1 100 + the guest's o7 10 (o3
    # cancelled); Feb o2 50 - 20 refunded, o4 80 USD x 5.0 (o6 is 1 March in UTC)
    assert revenue == {"2024-12": 30.0, "2025-01": 110.0, "2025-02": 430.0}


def test_a_shared_table_read_once_is_not_written(store, recording) -> None:
    _call(store, ["new_customers"])
    [cache] = recording
    assert cache.written == {}


def test_a_shared_table_two_metrics_read_is_written_once(store, recording) -> None:
    rows = _call(store, ["new_customers", "cohort_retention"])
    [cache] = recording
    # cohort_retention filters the table (passes every column on): written whole
    assert _written(cache) == {"first_order_times": 1}
    assert sorted(next(iter(cache.columns.values()))) == ["customer_id", "first_at"]
    assert rows == _call(store, ["new_customers"]) + _call(store, ["cohort_retention"])


def test_with_metrics_answered_period_by_period_after_every_planned_table_is_written_whole(
        store, recording) -> None:
    """A metric asked period by period runs after the plan and may read the same tables, so
    every planned table is written out, whole."""
    names = ["revenue", "new_customers", "recency_by_period"]
    rows = _call(store, names)
    [cache] = recording
    written = _written(cache)
    assert written.get("period_totals") == 1 and written.get("first_order_times") == 1
    totals = [c for k, c in cache.columns.items() if k.startswith("period_totals")]
    assert len(totals[0]) > 4  # every total, not only revenue
    assert rows == [row for name in names for row in _call(store, [name])]


def test_columns_used_sees_projections_and_gives_up_on_a_table_passed_on() -> None:
    shared = ibis.table({"k": "int64", "a": "int64", "b": "int64"}, name="t")
    picked = shared.select("k", "a")
    summed = shared.group_by("k").aggregate(total=shared.b.sum())
    assert _columns_used(shared, [picked, summed]) == {"k", "a", "b"}
    assert _columns_used(shared, [picked]) == {"k", "a"}
    assert _columns_used(shared, [shared.filter(shared.a > 1).select("k")]) is None
    assert _columns_used(shared, [ibis.table({"x": "int64"}, name="u")]) == set()


def test_a_written_table_is_dropped_once_its_last_reader_has_run(
        store, recording, monkeypatch) -> None:
    """The period totals four sales metrics read are dropped right after the last of them
    runs, before the metric after them, not at the end of the call; the answers are those
    of each metric asked alone."""
    held: dict[str, bool] = {}
    run_series = engine._run_series

    def watching(metric: Any, *args: Any) -> Any:
        [cache] = recording
        held[metric.name] = any(k.startswith("period_totals") for k in cache.materialised)
        return run_series(metric, *args)

    monkeypatch.setattr(engine, "_run_series", watching)
    names = [*SALES[:4], "cohort_retention"]  # revenue, orders, aov, active; then cohorts
    rows = _call(store, names)
    [cache] = recording
    assert _written(cache)["period_totals"] == 1
    assert held == {"revenue": True, "orders": True, "aov": True, "active_customers": True,
                    "cohort_retention": False}
    monkeypatch.setattr(engine, "_run_series", run_series)
    assert rows == [row for name in names for row in _call(store, [name])]
