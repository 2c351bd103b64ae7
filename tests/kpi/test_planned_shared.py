"""The engine plans a series call before running it: a shared table one metric reads stays
inside that metric's query (not written), one several metrics read is written once, and the
answers are those of each metric asked alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import ibis
import pytest
from _kpi_fixtures import RecordingCache, basic_records, build_store, catalog

from clientela.kpi import compute, engine
from clientela.kpi.context import TableCache, _closure, _reads

SALES = ["revenue", "orders", "aov", "active_customers", "new_customers"]


@pytest.fixture
def store(tmp_path):
    made = build_store(tmp_path / "s.duckdb", *basic_records())
    yield made
    made.close()


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


def test_reads_stops_at_a_planned_table_and_closure_reaches_what_it_is_built_from() -> None:
    base = ibis.table({"k": "int64", "v": "int64"}, name="t")
    inner = base.filter(base.v > 1)
    outer = inner.group_by("k").aggregate(n=inner.v.sum())
    targets = {inner.op(): "inner", outer.op(): "outer"}
    assert _reads(outer.select("k").op(), targets) == {"outer"}  # not inner: through outer
    assert _reads(outer.op(), targets) == {"inner"}
    assert _reads(inner.union(inner).op(), targets) == {"inner"}
    assert _reads(base.select("k").op(), targets) == set()
    assert _closure({"outer"}, {"outer": {"inner"}, "inner": set()}) == {"outer", "inner"}
    assert _closure(set(), {"outer": {"inner"}}) == set()


def test_a_written_table_is_dropped_once_its_last_reader_has_run(
        store, recording, monkeypatch) -> None:
    """The period totals four sales metrics read are dropped right after the last of them
    runs, before the metric after them, not at the end of the call; the answers are those
    of each metric asked alone."""
    held: dict[str, bool] = {}
    run_series = engine._run_series

    def watching(metric: Any, *args: Any) -> Any:  # held as each metric's query has run
        answer = run_series(metric, *args)
        [cache] = recording
        held[metric.name] = any(k.startswith("period_totals") for k in cache.materialised)
        return answer

    monkeypatch.setattr(engine, "_run_series", watching)
    names = [*SALES[:4], "cohort_retention"]  # revenue, orders, aov, active; then cohorts
    rows = _call(store, names)
    [cache] = recording
    assert _written(cache)["period_totals"] == 1
    assert held == {"revenue": True, "orders": True, "aov": True, "active_customers": True,
                    "cohort_retention": False}
    monkeypatch.setattr(engine, "_run_series", run_series)
    assert rows == [row for name in names for row in _call(store, [name])]


class EventCache(RecordingCache):
    """A RecordingCache that logs, in order, each metric run, each table written and each
    table dropped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[tuple[str, str]] = []

    def _write(self, key: str, table: ibis.Table, transient: bool,
               parts: Sequence[ibis.Table] = ()) -> ibis.Table:
        self.events.append(("write", key.split("|")[0]))
        return super()._write(key, table, transient, parts)

    def ready(self, metric: str, expr: ibis.Table) -> ibis.Table:
        self.events.append(("run", metric))
        return super().ready(metric, expr)

    def _done(self, reader: str) -> None:
        before = set(self.materialised)
        super()._done(reader)
        self.events += [("drop", k.split("|")[0]) for k in sorted(before - set(self.materialised))]


def test_each_shared_table_is_written_as_its_first_reader_runs_and_dropped_after_its_last(
        store, monkeypatch) -> None:
    """Not all at once before the first metric: the period totals are written when revenue
    (their first reader) runs and dropped after active customers (their last); the first
    orders' times wait until new customers, their first reader, runs. At any moment only
    the tables of the metrics around the current one are held."""
    RecordingCache.made = []
    monkeypatch.setattr(engine, "TableCache", EventCache)
    names = [*SALES[:4], "new_customers", "cohort_retention"]
    rows = _call(store, names)
    [cache] = RecordingCache.made
    assert cache.events == [
        ("run", "revenue"), ("write", "period_totals"),
        ("run", "orders"), ("run", "aov"), ("run", "active_customers"),
        ("drop", "period_totals"),
        ("run", "new_customers"), ("write", "first_order_times"),
        ("run", "cohort_retention"), ("drop", "first_order_times")]
    monkeypatch.setattr(engine, "TableCache", TableCache)
    assert rows == [row for name in names for row in _call(store, [name])]


def _nested_plan(order: list[str]) -> tuple[EventCache, dict[str, ibis.Table], ibis.Table]:
    """Three metrics on an in-memory DuckDB: a and b read `outer`, built from `inner`; c
    reads `inner` itself. Planned in `order`; returns the cache, the planned expressions and
    the base table."""
    con = ibis.duckdb.connect()
    base = con.create_table("t", ibis.memtable({"k": [1, 1, 2, 2], "v": [1, 2, 3, 4]}))
    cache = EventCache(con, materialise=True, eager=True, metrics=3)

    def inner() -> ibis.Table:
        return cache.shared("inner", lambda: base.filter(base.v > 1))

    def outer() -> ibis.Table:
        return cache.shared("outer", lambda: inner().group_by("k").aggregate(n=inner().v.sum()))

    build = {"a": lambda: outer().select("k", "n"),
             "b": lambda: outer().filter(outer().n > 3),
             "c": lambda: inner().select("v")}
    exprs = {}
    with cache.planning():
        for name in order:
            cache.reader = name
            exprs[name] = build[name]()
        cache.settle(exprs, inline_single=True)
    return cache, exprs, base


def _answers(cache: EventCache, exprs: dict[str, ibis.Table]) -> dict[str, list[Any]]:
    found = {}
    for name, expr in exprs.items():
        found[name] = sorted(cache.ready(name, expr).to_pyarrow().to_pylist(),
                             key=lambda row: sorted(row.items()))
        cache.answered(name)
    return found


def test_a_table_built_from_another_is_written_after_it_and_frees_it_once_written() -> None:
    # by hand: v > 1 keeps (1, 2), (2, 3), (2, 4); sums by k: 1 -> 2, 2 -> 7
    expected = {"a": [{"k": 1, "n": 2}, {"k": 2, "n": 7}], "b": [{"k": 2, "n": 7}],
                "c": [{"v": 2}, {"v": 3}, {"v": 4}]}
    cache, exprs, _ = _nested_plan(["a", "b", "c"])
    assert cache.materialised == {} and cache.events == []  # nothing written by settle
    assert _answers(cache, exprs) == expected
    # inner is held for c, which reads it itself; outer goes after b, its last reader
    assert cache.events == [("run", "a"), ("write", "inner"), ("write", "outer"),
                            ("run", "b"), ("drop", "outer"), ("run", "c"), ("drop", "inner")]
    cache, exprs, _ = _nested_plan(["c", "a", "b"])
    assert _answers(cache, exprs) == expected
    # c ran, but outer is still to be written from inner: inner goes once outer is written
    assert cache.events == [("run", "c"), ("write", "inner"), ("run", "a"), ("write", "outer"),
                            ("drop", "inner"), ("run", "b"), ("drop", "outer")]
    assert cache.materialised == {}


def test_readers_of_one_table_run_together_and_the_answers_keep_the_callers_order(
        store, monkeypatch) -> None:
    """Asked for revenue, new customers, orders, cohort retention: orders (a reader of the
    period totals) runs beside revenue, so the totals are dropped before the first orders'
    times are written; the result still lists the metrics as asked."""
    RecordingCache.made = []
    monkeypatch.setattr(engine, "TableCache", EventCache)
    names = ["revenue", "new_customers", "orders", "cohort_retention"]
    rows = _call(store, names)
    [cache] = RecordingCache.made
    assert cache.events == [
        ("run", "revenue"), ("write", "period_totals"), ("run", "orders"),
        ("drop", "period_totals"),
        ("run", "new_customers"), ("write", "first_order_times"),
        ("run", "cohort_retention"), ("drop", "first_order_times")]
    assert list(dict.fromkeys(row["metric"] for row in rows)) == names
    monkeypatch.setattr(engine, "TableCache", TableCache)
    assert rows == [row for name in names for row in _call(store, [name])]
