"""Each optimised plan answers exactly what the readable formula it replaces answers.

`first_orders` (group-bys) against `first_orders_reference` (a ranking), and `rfm_table`
(cut points joined back once) against `rfm_table_reference` (RANK() per score), on a
store built to have the hard cases: several orders of a customer at one instant, equal
amounts and equal recencies across customers (rank ties), no salesperson, cancelled orders
and guest checkouts, over a monthly series and at one instant.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import ibis
import pytest
from _kpi_fixtures import build_store, order

from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.localtime import (
    calendar_day,
    calendar_day_number,
    day_number,
    offset_intervals,
)
from clientela.kpi.periods import Period
from clientela.kpi.retail import (
    MANY_METRICS,
    first_order_times,
    first_orders,
    first_orders_reference,
    valid_orders,
)
from clientela.metrics.rfm_segments import rfm_segments
from clientela.segments.rfm import (
    DEFAULT_SEGMENTS,
    RfmParams,
    SegmentRule,
    rfm_table,
    rfm_table_reference,
)
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
    return sorted((tuple(sorted(r.items())) for r in found), key=repr)


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


RULES_WITH_GAPS = (  # a label used twice, and pairs no rule covers ("Other")
    SegmentRule(segment="Top", r_min=4, r_max=5, fm_min=4, fm_max=5),
    SegmentRule(segment="Middle", r_min=2, r_max=4, fm_min=2, fm_max=3),
    SegmentRule(segment="Top", r_min=1, r_max=1, fm_min=5, fm_max=5),
    SegmentRule(segment="Low", r_min=1, r_max=2, fm_min=1, fm_max=1),
)


@pytest.fixture(scope="module")
def dst_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Orders around New York's daylight-saving changes and local midnights (an order at
    03:30 UTC is the previous local day), with tied amounts and instants."""
    rng = random.Random(7)
    orders = []
    for i in range(300):
        customer = None if i % 41 == 0 else f"c{rng.randrange(50)}"
        day = datetime(2024, 1, 1) + timedelta(days=rng.randrange(330))
        when = day + timedelta(hours=rng.choice((3, 4, 5, 23)), minutes=30)
        orders.append(order(f"d{i:03d}", customer, when, rng.choice((40, 90, 90, 300)),
                            status="refunded" if i % 29 == 0 else "paid"))
    store = build_store(tmp_path_factory.mktemp("plans") / "dst.duckdb", orders)
    yield store
    store.close()


@pytest.mark.parametrize("monetary", ["total", "mean"])
@pytest.mark.parametrize("rules", [DEFAULT_SEGMENTS, RULES_WITH_GAPS], ids=["default", "gaps"])
def test_rfm_series_equals_the_rank_formula_across_daylight_saving(
        dst_store: Store, monetary: str, rules: tuple[SegmentRule, ...]) -> None:
    """The series computes recency from the period end's local day worked out in Python and
    names segments from the 25 (R, FM) pairs; the reference computes both per row."""
    ctx = series_context(dst_store, "rfm_segments", start="2024-02", end="2024-12",
                         timezone="America/New_York")
    params = RfmParams(monetary=monetary, segments=rules)
    found = rows(rfm_table(ctx, params))
    assert {dict(r)["_period"] for r in found} == set(range(10))
    assert found == rows(rfm_table_reference(ctx, params))
    if rules is RULES_WITH_GAPS:
        assert {"Top", "Middle", "Low", "Other"} <= {dict(r)["segment"] for r in found}


def segments_reference(ctx, params):  # type: ignore[no-untyped-def]
    """The rfm_segments summary as it was written before: grouped by the segment's name."""
    scored = cv.with_slice(ctx, rfm_table_reference(ctx, params))
    per = scored.group_by([*ctx.keys, cv.as_item(scored.segment)]).aggregate(
        value=scored.count(), revenue=cv.money_sum(scored.revenue),
        recency_days=cv.mean(scored.recency_days), frequency=cv.mean(scored.frequency),
        monetary=cv.mean(scored.monetary), r=cv.mean(scored.r), f=cv.mean(scored.f),
        m=cv.mean(scored.m))
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    return per.mutate(share=cv.ratio(per.value, per.value.sum().over(window)))


@pytest.mark.parametrize("rules", [DEFAULT_SEGMENTS, RULES_WITH_GAPS], ids=["default", "gaps"])
@pytest.mark.parametrize("series", [True, False], ids=["series", "instant"])
def test_rfm_segments_summed_by_code_equal_the_summary_by_name(
        dst_store: Store, rules: tuple[SegmentRule, ...], series: bool) -> None:
    """Summing by the segment's integer code and naming it after gives the rows the
    summary by name gave, a label used by two rules included. The means are float64
    averages of the same rows on a small single-threaded store, so they are compared
    exactly."""
    params = RfmParams(segments=rules)
    if series:
        ctx = series_context(dst_store, "rfm_segments", start="2024-02", end="2024-12",
                             timezone="America/New_York")
    else:
        at = datetime(2024, 9, 1, 4)
        ctx = MetricContext(backend=dst_store.ibis(), period=Period(at, at, at, at, "as_of"),
                            as_of=at, timezone="America/New_York", currency="BRL",
                            metric="rfm_segments")
    found = rows(rfm_segments(ctx, params))
    assert len(found) >= 4
    assert found == rows(segments_reference(ctx, params))


@pytest.mark.parametrize("zone_name", ["America/New_York", "America/Sao_Paulo", "UTC"])
def test_calendar_day_number_is_the_day_the_engine_computes(dst_store: Store,
                                                             zone_name: str) -> None:
    """`calendar_day_number` (Python) equals `calendar_day` (SQL) at local midnights, just
    around them, at the daylight-saving changes and outside the intervals' span."""
    intervals = offset_intervals(zone_name, datetime(2018, 1, 1), datetime(2025, 1, 1))
    moments = [datetime(2017, 6, 1, 3, 0), datetime(2026, 1, 1, 2, 59, 59, 999999)]
    for start, _, _ in intervals:
        moments += [start - timedelta(microseconds=1), start, start + timedelta(seconds=1)]
    for month in range(1, 13):
        for hour in (2, 3, 4, 5):
            moments += [datetime(2024, month, 1, hour), datetime(2024, month, 1, hour) -
                        timedelta(microseconds=1)]
    table = ibis.memtable({"at": moments}, schema={"at": "timestamp"})
    computed = table.select("at", day=calendar_day(table.at, intervals))
    found = {r["at"]: r["day"] for r in dst_store.ibis().to_pyarrow(computed).to_pylist()}
    assert found == {m: calendar_day_number(m, intervals) for m in moments}
    # and at a whole local midnight it is that local date
    midnight = datetime(2024, 7, 1, 4) if zone_name == "America/New_York" else None
    if midnight is not None:
        assert calendar_day_number(midnight, intervals) == day_number(midnight, zone_name)


def test_shared_valid_orders_equal_the_store_table_read_directly(
        clientela_golden_store: Store) -> None:
    """The catalogue's written-out valid orders leave `discount_value` out and add it on
    reading: every column of every valid order (FX orders, order and loyalty discounts,
    refunds) equals the same read straight from the store, where it is computed from the
    raw amounts."""
    backend = clientela_golden_store.ibis()
    cache = TableCache(backend, materialise=True, eager=True, metrics=MANY_METRICS)
    at = datetime(2030, 1, 1)
    ctx = MetricContext(backend=backend, period=Period(at, at, at, at, "as_of"), as_of=at,
                        timezone="UTC", currency="BRL", metric="test", cache=cache)
    try:
        shared = rows(valid_orders(ctx))
        assert "valid_orders" in cache.materialised
        assert "discount_value" not in cache.materialised["valid_orders"].columns
        direct = rows(valid_orders(replace(ctx, cache=None)))
        assert len(shared) > 50
        assert shared == direct
        discounted = [dict(r) for r in shared if dict(r)["discount_value"]]
        assert any(r["order_discount"] and r["loyalty_value"] for r in discounted)
        only = rows(valid_orders(ctx, amounts=("discount_value",)))
        assert only == rows(valid_orders(replace(ctx, cache=None), amounts=("discount_value",)))
    finally:
        cache.release()
