"""Each optimised plan answers exactly what the readable formula it replaces answers.

`first_orders` (group-bys) against `first_orders_reference` (a ranking), and `rfm_table`
(cut points joined back once) against `rfm_table_reference` (RANK() per score), on a
store built to have the hard cases: several orders of a customer at one instant, equal
amounts and equal recencies across customers (rank ties), no salesperson, cancelled orders
and guest checkouts, over a monthly series and at one instant.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from _kpi_fixtures import build_store, order

from clientela.kpi.context import MetricContext
from clientela.kpi.periods import Period
from clientela.kpi.retail import (
    first_order_times,
    first_orders,
    first_orders_reference,
    valid_orders,
)
from clientela.segments.rfm import RfmParams, rfm_table, rfm_table_reference
from clientela.store import Store
from clientela.testing.contexts import series_context

START = datetime(2024, 1, 1)


@pytest.fixture(scope="module")
def tied_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    rng = random.Random(20)
    orders = []
    for i in range(400):
        customer = None if i % 37 == 0 else f"c{rng.randrange(60)}"
        # whole days at 10:00 or 15:00 only: many orders share an instant
        when = START + timedelta(days=rng.randrange(240), hours=rng.choice((10, 15)))
        orders.append(order(
            f"o{i:03d}", customer, when, rng.choice((50, 100, 100, 150, 250)),
            channel=rng.choice(("online", "store", "app")),
            status="cancelled" if i % 23 == 0 else "paid"))
    store = build_store(tmp_path_factory.mktemp("plans") / "tied.duckdb", orders)
    yield store
    store.close()


def rows(table) -> list[tuple]:
    found = table.to_pyarrow().to_pylist()
    return sorted(tuple(sorted(r.items())) for r in found)


def instant(store: Store, as_of: datetime) -> MetricContext:
    period = Period(as_of, as_of, as_of, as_of, "as_of")
    return MetricContext(backend=store.ibis(), period=period, as_of=as_of, timezone="UTC",
                         currency="BRL", metric="test")


def test_first_orders_equal_the_ranking(tied_store: Store) -> None:
    ctx = instant(tied_store, datetime(2025, 1, 1))
    found = rows(first_orders(ctx))
    assert found == rows(first_orders_reference(valid_orders(ctx, amounts=())))
    # the store has ties at a customer's first instant, so the tie-break was exercised
    orders = valid_orders(ctx, amounts=()).to_pyarrow().to_pylist()
    firsts = {dict(r)["customer_id"]: dict(r)["first_at"] for r in found}
    at_first = [o for o in orders if o["customer_id"] and o["placed_at"] == firsts[o["customer_id"]]]
    assert len(at_first) > len(firsts)


@pytest.mark.parametrize("monetary", ["total", "mean"])
def test_rfm_scores_equal_the_rank_formula_at_one_instant(tied_store: Store,
                                                          monetary: str) -> None:
    ctx = instant(tied_store, datetime(2024, 6, 1))
    params = RfmParams(monetary=monetary)
    found = rows(rfm_table(ctx, params))
    assert len(found) > 40
    assert found == rows(rfm_table_reference(ctx, params))


def test_rfm_scores_equal_the_rank_formula_over_a_series(tied_store: Store) -> None:
    ctx = series_context(tied_store, "rfm_segments", start="2024-01", end="2024-10")
    found = rows(rfm_table(ctx))
    assert {dict(r)["_period"] for r in found} == set(range(9))
    assert found == rows(rfm_table_reference(ctx))


def test_first_order_times_equal_the_ranking(tied_store: Store) -> None:
    ctx = instant(tied_store, datetime(2025, 1, 1))
    reference = first_orders_reference(valid_orders(ctx, amounts=()))
    expected = rows(reference.select("customer_id", "first_at"))
    assert len(expected) > 40
    assert rows(first_order_times(ctx)) == expected
    until = datetime(2024, 3, 1)
    assert rows(first_order_times(ctx, until=until)) == [
        r for r in expected if dict(r)["first_at"] < until]
