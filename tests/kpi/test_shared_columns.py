"""A shared table is written with only the columns the call's answers can depend on, and a
metric reads every column the docs promise: a plugin metric reading `coupon` from the valid
orders (docs/plugin_hooks.md) gets it inside the catalogue, whose built-in metrics read no
coupon, and every answer is the one each metric gives asked alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ibis
import pytest
from _kpi_fixtures import RecordingCache, build_store, catalog, customer, order

from clientela import plugins
from clientela.kpi import compute
from clientela.kpi.column_use import columns_used
from clientela.kpi.retail import MANY_METRICS

PLUGIN = "plugin_coupon_metric"
SERIES = sorted(name for name, metric in catalog().items()
                if metric.series and metric.needs == ("orders",))
"""Built-in metrics answered as one series each, from the orders alone: a call of only these
is planned whole, so its shared tables can be narrowed."""


def _records() -> tuple[list[Any], list[Any]]:
    customers = [customer("a"), customer("b"), customer("c")]
    orders = [
        order("o1", "a", "2025-01-10T12:00", 100, channel="online", coupon="VOLTE5"),
        order("o2", "a", "2025-02-15T12:00", 50, channel="store", store_id="s1",
              status="partially_refunded", refunded_amount=Decimal("20"), coupon="BLACK"),
        order("o3", "b", "2025-01-20T12:00", 200, status="cancelled", coupon="VOLTE5"),
        order("o4", "b", "2025-02-05T12:00", 80, channel="online"),
        order("o5", "c", "2024-12-20T12:00", 30, channel="store", store_id="s2"),
        # 1 March 02:30 in UTC: outside February
        order("o6", "c", "2025-03-01T02:30", 60, channel="online", coupon="BLACK"),
        order("o7", None, "2025-01-05T12:00", 10, channel="online", coupon="BEMVINDO10"),
    ]
    return customers, orders


@pytest.fixture
def store(tmp_path):
    with build_store(tmp_path / "s.duckdb", *_records()) as made:
        yield made


@pytest.fixture
def coupon_plugin():
    plugins.add_local_plugin(PLUGIN)
    yield
    plugins.reset(forget_local=True)


def _call(store: Any, names: list[str], by: str | None = None) -> list[dict[str, Any]]:
    """November 2024 (no valid order: each metric answers it alone, after the plan) to
    February 2025."""
    return compute(store, names, start="2024-11", end="2025-03", grain="month", by=by).rows()


def _valid_orders_columns(cache: RecordingCache) -> list[str]:
    [columns] = [c for key, c in cache.columns.items() if key == "valid_orders"]
    return columns


def test_a_plugin_metric_reads_the_coupon_of_the_shared_valid_orders(
        store, recording, coupon_plugin) -> None:
    names = [*SERIES, "coupon_orders"]
    assert len(names) >= MANY_METRICS  # the valid orders are written once and shared
    rows = _call(store, names)
    coupons = {r["period"]: r["value"] for r in rows if r["metric"] == "coupon_orders"}
    # by hand: Jan o1 and the guest's o7 (o3 is cancelled); Feb o2 (partially refunded
    # counts; o4 has no coupon); Dec o5 has none; o6 is March in UTC; November has no order
    assert coupons == {"2024-11": 0.0, "2024-12": 0.0, "2025-01": 2.0, "2025-02": 1.0}
    assert "coupon" in _valid_orders_columns(recording[0])
    alone = [row for name in names for row in _call(store, [name])]
    assert rows == alone


def test_sliced_by_channel_the_coupon_orders_are_counted_per_channel(
        store, coupon_plugin) -> None:
    by_channel = [name for name in SERIES if "channel" in catalog()[name].slices]
    assert len(by_channel) + 1 >= MANY_METRICS
    rows = _call(store, [*by_channel, "coupon_orders"], by="channel")
    found = {(r["period"], r["channel"]): r["value"] for r in rows
             if r["metric"] == "coupon_orders" and r["value"]}
    assert found == {("2025-01", "online"): 2.0, ("2025-02", "store"): 1.0}
    alone = [row for name in [*by_channel, "coupon_orders"]
             for row in _call(store, [name], by="channel")]
    assert rows == alone


def test_the_catalogue_writes_the_valid_orders_without_the_columns_it_never_reads(
        store, recording) -> None:
    rows = _call(store, SERIES)
    columns = _valid_orders_columns(recording[0])
    assert "coupon" not in columns and "salesperson_id" not in columns
    assert {"customer_id", "placed_at", "revenue"} <= set(columns)
    assert rows == [row for name in SERIES for row in _call(store, [name])]


def test_the_columns_used_follow_each_answer_back_to_the_table() -> None:
    t = ibis.table({"a": "int64", "b": "string", "c": "float64", "d": "string"}, name="t")
    shared = t.filter(t.a > 0)
    every = shared.select("a", "b", "c", "d")  # a reader naming every column
    other = ibis.table({"a": "int64", "z": "int64"}, name="o")
    answers = {
        # an aggregate: its keys and measures; a row count reads no column
        "aggregate": every.group_by("b").aggregate(s=every.c.sum(), n=every.count()),
        "filter": every.filter(every.d == "x").select("a"),
        "join": every.inner_join(other, every.a == other.a).select("z"),
        "union": every.select("a", "c").union(every.select("a", "c")).select("a"),
        "window": every.mutate(r=ibis.row_number().over(group_by=every.b,
                                                       order_by=every.c)).select("r"),
        "count": every.aggregate(n=every.count()),
        "distinct": every.select("a", "b").distinct().select("a"),
        "drop": every.drop("b", "c").filter(every.a > 1).select("d"),
        "subquery": other.filter(other.z.isin(every.c.cast("int64"))),
    }
    found = {name: columns_used([answer.op()], [shared.op()])[shared.op()]
             for name, answer in answers.items()}
    assert found == {"aggregate": {"b", "c"}, "filter": {"a", "d"}, "join": {"a"},
                     "union": {"a"}, "window": {"b", "c"}, "count": set(),
                     "distinct": {"a", "b"}, "drop": {"a", "d"}, "subquery": {"c"}}
    both = columns_used([answers["join"].op(), answers["filter"].op()], [shared.op(), t.op()])
    assert both == {shared.op(): {"a", "d"}, t.op(): {"a", "d"}}
