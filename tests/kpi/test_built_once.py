"""Expressions built once per engine call (`clientela.kpi.built`): the valid orders read
straight from the store and the period's cut are the same object for every metric of a call
that asks for the same span, amounts and table, a new one for another question, and
nothing is kept without the engine's cache (a metric called directly)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from _kpi_fixtures import basic_records, build_store

from clientela.kpi import compute
from clientela.kpi.built import built_once
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import buckets, zone
from clientela.kpi.retail import _valid_orders
from clientela.kpi.series import in_period
from clientela.store import Store

MARCH = buckets(datetime(2025, 3, 1), datetime(2025, 4, 1), "month", zone("UTC"))[0]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    customers, orders = basic_records()
    return build_store(tmp_path / "s.duckdb", customers, orders)


def _ctx(store: Store, metric: str, cache: TableCache | None) -> MetricContext:
    return MetricContext(backend=store.ibis(), period=MARCH, as_of=MARCH.end_utc,
                         timezone="UTC", currency="BRL", metric=metric, cache=cache)


def test_built_once_per_cache_and_key(store: Store) -> None:
    made: list[int] = []

    def build() -> object:
        made.append(1)
        return object()

    cache = TableCache(store.ibis())
    first = built_once(_ctx(store, "a", cache), "k", build)  # type: ignore[arg-type]
    assert built_once(_ctx(store, "b", cache), "k", build) is first  # type: ignore[arg-type]
    assert built_once(_ctx(store, "b", cache), "j", build) is not first  # type: ignore[arg-type]
    assert len(made) == 2
    other = TableCache(store.ibis())  # another engine call
    assert built_once(_ctx(store, "a", other), "k", build) is not first  # type: ignore[arg-type]
    alone = _ctx(store, "a", None)
    assert built_once(alone, "k", build) is not built_once(alone, "k", build)  # type: ignore[arg-type]
    assert len(made) == 5


def test_two_metrics_of_a_call_share_the_valid_orders_and_their_cut(store: Store) -> None:
    cache = TableCache(store.ibis())
    orders, revenue = _ctx(store, "orders", cache), _ctx(store, "revenue", cache)
    plain = _valid_orders(orders, since=None, until=None, amounts=())
    assert _valid_orders(revenue, since=None, until=None, amounts=()) is plain
    with_revenue = _valid_orders(revenue, since=None, until=None, amounts=("revenue",))
    assert with_revenue is not plain
    assert _valid_orders(orders, since=MARCH.start_utc, until=None, amounts=()) is not plain
    cut = in_period(orders, plain, "placed_at")
    assert in_period(revenue, plain, "placed_at") is cut
    assert in_period(revenue, with_revenue, "placed_at") is not cut
    # the same expression as built afresh: the memo changes no query
    fresh = _ctx(store, "orders", None)
    assert in_period(fresh, _valid_orders(fresh, since=None, until=None, amounts=()),
                     "placed_at").equals(cut)


def test_answers_unchanged_by_sharing(store: Store) -> None:
    """Metrics answered in one call (sharing what is built once) answer as each asked
    alone (sharing nothing with another metric)."""
    names = ["orders", "revenue", "active_customers", "aov"]
    together = compute(store, names, start="2025-03", end="2025-04", grain="month")
    alone = {name: compute(store, [name], start="2025-03", end="2025-04", grain="month")
             for name in names}
    for name in names:
        values = [r["value"] for r in together.rows() if r["metric"] == name]
        assert values and all(v is not None for v in values)
        assert values == [r["value"] for r in alone[name].rows()]
