"""The campaign metrics share their costly work within an engine call, and sharing changes
no answer.

Inside one `compute` call, conversion, revenue, ROI and lift read one touch x order join
(lift through the units conversion also reads, `converted_units`)
and reach, conversion and lift one count of touched customers (`touch_orders`,
`contacts`): the first metric to ask computes its own cheaper form inline, the second
materialises the shared table, the rest read it. These tests pin that sharing down and
check that each path (alone, together, one period at a time) gives the same rows, on a
store that reaches every branch: control groups, a same-instant tie, customers without
an acquisition channel (a null slice), an order credited after the series' end but
inside the window of one of its touches, and contacts long after the end (ROI counts
them, through the pairs joined after the shared span).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
import pytest
from _fixtures_extra import campaign, customer, make_store, order, same_on_every_engine, touch

from clientela.kpi import KpiResult, compute
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.metrics.campaigns import metrics
from clientela.store import Store
from clientela.testing.conformance import period_by_period
from clientela.testing.engines import spark_available

METRICS = {m.name: m for m in metrics()}
FIVE = ["campaign_reach", "campaign_conversion", "campaign_revenue", "campaign_roi",
        "campaign_lift"]
SERIES: dict[str, Any] = {"start": "2025-03", "end": "2025-05", "grain": "month", "timezone": "UTC"}
SPAN = "|2025-03-01T00:00:00|2025-05-01T00:00:00|2"
"""How the keys of the tables shared by the series' metrics name its two months."""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Campaigns A (email) and B (sms) start in March, C (push) in April.

    March: A contacts c1 c2 c3 (c3 has no customer record: null acquisition channel) with
    controls k1 k2; c1 buys twice inside one window and once inside two overlapping ones;
    B contacts c2 at the same instant as A (the greater touch_id, B's, wins the credit).
    April: A contacts c4 with control k3; C contacts c5 on the 28th, who buys on 3 May
    (after the series, inside the window). June: A contacts c6 and B c6 a day later, and
    c6 buys twice (the first credited to A, the second to B): ROI only.
    """
    records: list[Any] = [
        campaign("A", "2025-03-01", cost=100, channel="email"),
        campaign("B", "2025-03-05", cost=50, channel="sms"),
        campaign("C", "2025-04-02", cost=30, channel="push"),
        customer("c1", acquisition_channel="organic"),
        customer("c2", acquisition_channel="paid_search"),
        customer("c4", acquisition_channel="organic"),
        customer("c5", acquisition_channel="referral"),
        customer("c6", acquisition_channel="organic"),
        customer("k1", acquisition_channel="organic"),
        customer("k2", acquisition_channel="paid_search"),
        customer("k3", acquisition_channel="organic"),
        touch("c1", "2025-03-03 10:00", campaign_id="A"),
        touch("c1", "2025-03-05 10:00", campaign_id="A"),
        touch("c2", "2025-03-10 09:00", campaign_id="A", touch_id="t-a"),
        touch("c2", "2025-03-10 09:00", campaign_id="B", channel="sms", touch_id="t-b"),
        touch("c3", "2025-03-20 09:00", campaign_id="A"),
        touch("k1", "2025-03-03 10:00", campaign_id="A", is_control=True),
        touch("k2", "2025-03-03 10:00", campaign_id="A", is_control=True),
        touch("c4", "2025-04-07 09:00", campaign_id="A"),
        touch("k3", "2025-04-07 09:00", campaign_id="A", is_control=True),
        touch("c5", "2025-04-28 09:00", campaign_id="C", channel="push"),
        touch("c6", "2025-06-10 09:00", campaign_id="A"),
        touch("c6", "2025-06-11 09:00", campaign_id="B", channel="sms"),
        order("c1", "2025-03-04 10:00", 100),
        order("c1", "2025-03-06 10:00", 40),
        order("c2", "2025-03-12 10:00", 70),
        order("c3", "2025-03-21 10:00", 25),
        order("k1", "2025-03-05 10:00", 30),
        order("k2", "2025-03-06 10:00", 999, status="cancelled"),
        order("c4", "2025-04-08 10:00", 60),
        order("k3", "2025-04-09 10:00", 15),
        order("c5", "2025-05-03 10:00", 80),
        order("c6", "2025-06-10 20:00", 11),
        order("c6", "2025-06-12 10:00", 13),
    ]
    return make_store(tmp_path / "s.duckdb", records)


def _rows(result: KpiResult) -> list[tuple[Any, ...]]:
    return sorted((tuple(row.values()) for row in result.rows()), key=repr)


def _slices(by: str | None) -> list[str]:
    return [name for name in FIVE if by is None or by in METRICS[name].slices]


@pytest.mark.parametrize("by", [None, "channel", "acquisition_channel"])
def test_alone_together_and_period_by_period_agree(store: Store, by: str | None) -> None:
    names = _slices(by)
    together = compute(store, names, catalog=METRICS, by=by, **SERIES)
    alone = [row for name in names
             for row in _rows(compute(store, [name], catalog=METRICS, by=by, **SERIES))]
    one_by_one = compute(store, period_by_period(names, METRICS), by=by, **SERIES)
    assert _rows(together) == sorted(alone, key=repr)
    assert _rows(together) == _rows(one_by_one)


def test_roi_counts_contacts_after_the_series(store: Store) -> None:
    """A's revenue: March (c1's 100 + 40, c3's 25), April (60), June (11); B's: March (c2's
    70, the tie) and June (13)."""
    for names in (["campaign_roi"], FIVE):  # alone: one join; together: shared pairs + tail
        r = compute(store, names, catalog=METRICS, **SERIES)
        assert r.value("campaign_roi", "revenue", period="2025-03", item="A") == 236
        assert r.value("campaign_roi", "revenue", period="2025-03", item="B") == 83
        assert r.value("campaign_roi", "revenue", period="2025-04", item="C") == 80


def test_the_join_and_the_count_are_computed_once(store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The pairs, the converted units and the touched customers, each asked by several
    metrics of one call: the engine plans the call's series first, writes each of them out
    once, and every metric reads that table."""
    asked: list[str] = []
    caches: list[TableCache] = []
    shared = TableCache.shared

    def spy(self: TableCache, key: str, build: Any, **kw: Any) -> Any:
        if key.startswith("campaign_") and SPAN in key:  # the series, not a lone period
            asked.append(key.split("|")[0])
            caches.append(self)
        return shared(self, key, build, **kw)

    monkeypatch.setattr(TableCache, "shared", spy)
    compute(store, FIVE, catalog=METRICS, **SERIES)
    # conversion (through the units), revenue and ROI; lift reads the units
    assert (asked.count("campaign_pairs"), asked.count("campaign_units"),
            asked.count("campaign_contacts")) == (3, 2, 3)
    written = {key.split("|")[0]: n for key, n in caches[0].written.items()
               if key.startswith("campaign_") and SPAN in key}
    assert written == {"campaign_pairs": 1, "campaign_units": 1, "campaign_contacts": 1}


def _month(month: int) -> Period:
    start, end = datetime(2025, month, 1), datetime(2025, month + 1, 1)
    return Period(start, end, start, end, f"2025-{month:02d}")


@pytest.mark.parametrize("name", FIVE)
@pytest.mark.parametrize("by", [None, "channel"])
@pytest.mark.parametrize("series", [False, True])
def test_compiles_for_postgres(store: Store, name: str, by: str | None, series: bool) -> None:
    """No server: compiled, not run; no division between integers (PostgreSQL truncates)."""
    backend = store.ibis()
    months = (_month(3), _month(4))
    span = Period(months[0].start, months[1].end, months[0].start_utc, months[1].end_utc,
                  "2025-03..2025-04")
    ctx = MetricContext(backend=backend, period=span if series else months[0],
                        as_of=months[1].end_utc, timezone="UTC", currency="BRL", metric=name,
                        by=by, cache=TableCache(backend), periods=months if series else None)
    metric = METRICS[name]
    expr = metric.compute(ctx, metric.params())
    assert "SELECT" in str(ibis.to_sql(expr, dialect="postgres"))
    for division in expr.op().find(ops.Divide):
        kinds = (division.left.dtype, division.right.dtype)
        assert any(k.is_floating() or k.is_decimal() for k in kinds), (name, kinds)


@pytest.mark.spark
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_pyspark(store: Store) -> None:
    same_on_every_engine(store, list(METRICS.values()), slices=(None,), **SERIES)
