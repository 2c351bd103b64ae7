"""omnichannel_share, loyalty_points_expiring and opportunities_open answer a whole series in
one query, and that answer equals the one asked period by period.

test_kpi_series.py covers them with the rest of the catalogue on the golden store; these
tests build a store of their own: a seeded random bulk plus every edge the series
formulations cut at (an event or an order on a period's end, a lot expiring exactly at a
period's end or at end + horizon, an opportunity closed exactly at a period's end, one
opened and closed inside one period, one open since before the series, a last order
exactly at a trailing-window start). Both answers are compared over several grains,
slices, parameters, a fixed as_of and PySpark.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pytest
from _fixtures_extra import customer, loyalty, make_store, opportunity, order, run, value

from clientela.kpi import compute
from clientela.kpi.context import PERIOD_COLUMN, MetricContext
from clientela.kpi.errors import SeriesUnsupported
from clientela.kpi.periods import to_utc
from clientela.metrics import funnel, sales
from clientela.metrics import loyalty as loyalty_metrics
from clientela.metrics.api import Metric
from clientela.model.base import Record
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period, run_everywhere
from clientela.testing.contexts import series_context
from clientela.testing.engines import spark_available, store_tables

TZ = "America/Sao_Paulo"
SP = ZoneInfo(TZ)
NAMES = ["omnichannel_share", "loyalty_points_expiring", "opportunities_open"]
CHANNELS = ("online", "store", "app", "whatsapp")
ACQUISITION = ("online", "store", "instagram", None)


def _catalog() -> dict[str, Metric]:
    found = [*sales.metrics(), *loyalty_metrics.metrics(), *funnel.metrics()]
    return {m.name: m for m in found if m.name in NAMES}


METRICS = _catalog()


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _month_end(year: int, month: int) -> datetime:
    """The naive UTC instant of local midnight on the 1st of (year, month) in TZ."""
    return to_utc(datetime(year, month, 1), SP)


def _edges() -> list[Record]:
    """The instants the series cut at, each met exactly once or twice."""
    may, june = _month_end(2024, 5), _month_end(2024, 6)
    return [
        # e1: a lot expiring exactly at May's end (in the window of April's end, and of May's
        # end: expires_at >= E) and one exactly at May's end + 30 days (not in May's window)
        loyalty("e1", "earn", 400, _text(_month_end(2024, 3)), expires=_text(may)),
        loyalty("e1", "earn", 300, "2024-04-02", expires=_text(may + timedelta(days=30))),
        loyalty("e1", "redeem", -250, _text(may)),  # on May's end: counts from May's end on
        loyalty("e1", "earn", 90, "2022-06-01"),    # before every series, never expiring
        loyalty("e1", "adjust", 15, "2024-04-20", expires=_text(june)),
        # e2: a lot earned and expired inside one month, and one expiring before it is earned
        loyalty("e2", "earn", 500, "2024-07-03", expires="2024-07-20"),
        loyalty("e2", "earn", 60, "2024-08-05", expires="2024-08-01"),
        # opportunities: closed exactly at April's end (open at it), opened and closed in
        # March, open since 2022, opened exactly at a month's end
        opportunity("online", "2024-02-10", status="won", closed=_text(_month_end(2024, 5)),
                    value="100", salesperson_id="p1", customer_id="e1"),
        opportunity("store", "2024-03-05", status="lost", closed="2024-03-20",
                    salesperson_id="p2", customer_id="e2"),
        opportunity("online", "2022-11-01", value="70"),
        opportunity("app", _text(_month_end(2024, 9)), status="won",
                    closed=_text(_month_end(2024, 10)), value="5"),
        # omnichannel: e3's store order is exactly at the start of the 12-month window to
        # April 2025's end
        customer("e1", acquisition_channel="online"), customer("e2"),
        customer("e3", acquisition_channel="store"),
        order("e3", _text(_month_end(2024, 5)), 10, channel="store"),
        order("e3", "2024-05-02", 10, channel="online"),
        order("e3", "2025-03-10", 10, channel="online"),
        order("e1", _text(may), 10, channel="app"),
        order("e1", "2024-02-29 12:00", 10, channel="online"),
    ]


def _bulk(seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    start = datetime(2023, 6, 1)
    span = (datetime(2026, 1, 1) - start).total_seconds()

    def moment() -> datetime:
        return start + timedelta(seconds=int(rng.random() * span))

    records: list[Record] = []
    for i in range(40):
        cid = f"c{i}"
        records.append(customer(cid, acquisition_channel=rng.choice(ACQUISITION)))
        for _ in range(rng.randint(0, 12)):
            records.append(order(cid if rng.random() > 0.05 else None, _text(moment()),
                                 rng.randint(5, 200), channel=rng.choice(CHANNELS),
                                 status="cancelled" if rng.random() < 0.08 else "paid"))
        balance = 0
        for _ in range(rng.randint(0, 10)):
            when = moment()
            if balance > 0 and rng.random() < 0.35:
                spent = rng.randint(1, balance)
                balance -= spent
                records.append(loyalty(cid, rng.choice(("redeem", "expire")), -spent,
                                       _text(when)))
                continue
            points = rng.randint(10, 400)
            balance += points
            expires = None if rng.random() < 0.2 else when + timedelta(
                days=rng.choice((10, 25, 30, 31, 45, 60, 90, 200, 400)))
            records.append(loyalty(cid, "earn" if rng.random() < 0.9 else "adjust", points,
                                   _text(when), expires=None if expires is None
                                   else _text(expires)))
    for _ in range(60):
        opened = moment()
        closed = opened + timedelta(days=rng.randint(0, 200))
        status = rng.choice(("open", "won", "lost"))
        records.append(opportunity(
            rng.choice(CHANNELS), _text(opened), status=status,
            closed=None if status == "open" else _text(closed),
            value=None if rng.random() < 0.1 else str(rng.randint(1, 999)),
            salesperson_id=rng.choice(("p1", "p2", None)),
            customer_id=f"c{rng.randint(0, 39)}"))
    return records


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    built = make_store(Path(tmp_path_factory.mktemp("series-more")) / "s.duckdb",
                       [*_edges(), *_bulk()])
    yield built
    built.close()


def _both(store: Store, names: list[str], **kw: Any) -> list[dict[str, Any]]:
    series = compute(store, names, catalog=METRICS, timezone=TZ, **kw)
    one_by_one = compute(store, period_by_period(names, METRICS), timezone=TZ, **kw)
    check_identical({"series": series, "one period at a time": one_by_one})
    return series.rows()


def _nonzero(rows: list[dict[str, Any]], name: str) -> int:
    return sum(1 for r in rows if r["metric"] == name and r["measure"] == "value"
               and r["value"])


@pytest.mark.parametrize("kw", [
    {"grain": "month", "start": "2024-01", "end": "2025-07"},
    {"grain": "week", "start": "2024-03-01", "end": "2024-06-15"},  # clipped first and last
    {"grain": "quarter", "start": "2023-11-15", "end": "2025-06"},
    {"grain": "day", "start": "2024-02-26", "end": "2024-03-03"},   # ends on 29 February
], ids=["month", "week", "quarter", "day"])
def test_series_equals_period_by_period(store: Store, kw: dict[str, Any]) -> None:
    rows = _both(store, NAMES, **kw)
    if kw["grain"] in ("month", "quarter"):
        assert all(_nonzero(rows, name) > 2 for name in NAMES)  # there was something to compare


@pytest.mark.parametrize("by", ["channel", "salesperson_id", "acquisition_channel", "segment"])
def test_sliced_series_equals_period_by_period(store: Store, by: str) -> None:
    names = [name for name in NAMES if by in METRICS[name].slices]
    _both(store, names, grain="month", start="2024-03", end="2025-03", by=by)


@pytest.mark.parametrize("params", [
    {"loyalty_points_expiring": {"expiry_days": 10},
     "omnichannel_share": {"window_months": 1, "min_channels": 1}},
    {"loyalty_points_expiring": {"expiry_days": 45},
     "omnichannel_share": {"window_months": 3, "min_channels": 3}},
    {"loyalty_points_expiring": {"expiry_days": 400},
     "omnichannel_share": {"window_months": 24, "min_channels": 1}},
], ids=["short", "medium", "long"])
def test_parameters_move_the_edges(store: Store, params: dict[str, Any]) -> None:
    names = ["loyalty_points_expiring", "omnichannel_share"]
    _both(store, names, grain="month", start="2024-01", end="2025-01", params=params)
    _both(store, names, grain="week", start="2024-04-10", end="2024-06-20", params=params)


def test_a_fixed_as_of_is_answered_period_by_period(store: Store) -> None:
    """The two point-in-time metrics fall back to one period at a time (their as-of
    instant is the same for every period); omnichannel_share's window ends at each
    period's end whatever as_of says, so it stays a series."""
    _both(store, NAMES, grain="month", start="2024-02", end="2024-08", as_of="2024-06-15")
    result = compute(store, ["opportunities_open"], catalog=METRICS, timezone=TZ,
                     grain="month", start="2024-02", end="2024-05", as_of="2024-06-15")
    values = {value(result, "opportunities_open", period=p)
              for p in ("2024-02", "2024-03", "2024-04")}
    assert len(values) == 1  # open at the same instant in every period


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    built = make_store(Path(tmp_path_factory.mktemp("series-edges")) / "e.duckdb", _edges())
    yield built
    built.close()


def test_points_expiring_at_the_edges_by_hand(edges: Store) -> None:
    """e1 at April's end (1 May 03:00 UTC; horizon 31 May 03:00): balance
    90 + 400 + 300 + 15 = 805 (the redeem on the end itself is not before it); expiring
    later: 90 (never), 300 (exactly at the horizon), 15 (June): 805 - 405 = 400 come out of
    the 400 expiring exactly at the end. At May's end: balance 555, the 400 and 300 have
    expired, later 90, and the 15 expire in the window: min(555 - 90, 15) = 15. At March's
    end the 400 expire exactly at the horizon, so nothing is in the window. e2's lots expire
    inside the month they are earned in, or before it: never counted."""
    found = run(edges, list(METRICS.values()), ["loyalty_points_expiring"], "2024-03",
                "2024-10", grain="month", timezone=TZ)
    expected = {"2024-03": 0, "2024-04": 400, "2024-05": 15, "2024-06": 0, "2024-07": 0}
    for period, points in expected.items():
        assert value(found, "loyalty_points_expiring", period=period) == points, period
    assert value(found, "loyalty_points_expiring", "customers", period="2024-05") == 1


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_mostly_empty_periods(edges: Store, by: str | None) -> None:
    """Periods with nothing to count (unsliced: answered with zeros in the series query;
    sliced: no row) equal their one-period answers."""
    _both(edges, NAMES, grain="month", start="2023-10", end="2025-09", by=by)


def test_opportunities_open_at_the_edges_by_hand(edges: Store) -> None:
    """O1 (p1, 100) is closed exactly at April's end: open at it, not at May's. O2 (p2) is
    opened and closed in March: opened, never open at an end. O3 (70) is open since 2022.
    O4 (5) is opened exactly at August's end, so in September, and closed exactly at
    September's end: open at it."""
    found = run(edges, list(METRICS.values()), ["opportunities_open"], "2024-03", "2024-10",
                grain="month", timezone=TZ)
    expected = {"2024-03": (2, 1, 170), "2024-04": (2, 0, 170), "2024-05": (1, 0, 70),
                "2024-08": (1, 0, 70), "2024-09": (2, 1, 75)}
    for period, (open_now, opened, open_value) in expected.items():
        got = tuple(value(found, "opportunities_open", m, period=period)
                    for m in ("value", "opened", "open_value"))
        assert got == (open_now, opened, open_value), period
    by = run(edges, list(METRICS.values()), ["opportunities_open"], "2024-03", "2024-06",
             grain="month", timezone=TZ, by="salesperson_id")
    assert value(by, "opportunities_open", slice="p1", period="2024-04") == 1
    assert not [r for r in by.rows()  # nothing open nor opened: no row, as period by period
                if r["salesperson_id"] == "p1" and r["period"] == "2024-05"]
    assert value(by, "opportunities_open", "opened", slice="p2", period="2024-03") == 1


def test_omnichannel_share_at_the_edges_by_hand(edges: Store) -> None:
    """e3's store order, exactly at 1 May 2024 03:00 UTC, is exactly at the start of the
    12-month window to April 2025's end (counted) and before the one to May 2025's end.
    e1's last order (app) is at the same instant."""
    found = run(edges, list(METRICS.values()), ["omnichannel_share"], "2025-03", "2025-07",
                grain="month", timezone=TZ)
    expected = {"2025-03": (0.5, 2), "2025-04": (0.5, 2), "2025-05": (0.0, 1),
                "2025-06": (0.0, 1)}
    for period, (share, active) in expected.items():
        assert value(found, "omnichannel_share", period=period) == share, period
        assert value(found, "omnichannel_share", "active_customers", period=period) == active
    may = run(edges, list(METRICS.values()), ["omnichannel_share"], "2024-05", "2024-06",
              timezone=TZ)
    assert value(may, "omnichannel_share") == 1.0  # both bought in two channels


def test_a_window_from_a_day_a_shorter_month_lacks(edges: Store) -> None:
    """One month before 30 or 31 March is 29 February (2024): the day series used to stop
    on a date error."""
    rows = _both(edges, ["omnichannel_share"], grain="day", start="2024-03-28",
                 end="2024-04-02", params={"omnichannel_share": {"window_months": 1}})
    assert {r["period"] for r in rows} == {"2024-03-28", "2024-03-29", "2024-03-30",
                                           "2024-03-31", "2024-04-01"}


def _series_context(store: Store, name: str) -> MetricContext:
    return series_context(store, name, start="2024-01", end="2024-04", timezone=TZ, by="acquisition_channel")


@pytest.mark.parametrize("name", NAMES)
def test_series_compiles_for_postgres(store: Store, name: str) -> None:
    metric = METRICS[name]
    expr = metric.compute(_series_context(store, name), metric.params())
    assert PERIOD_COLUMN in expr.columns
    assert "SELECT" in str(ibis.to_sql(expr, dialect="postgres"))


@pytest.mark.parametrize("name", ["loyalty_points_expiring", "opportunities_open"])
def test_a_fixed_as_of_is_not_a_series(store: Store, name: str) -> None:
    ctx = replace(_series_context(store, name), as_of_fixed=True)
    with pytest.raises(SeriesUnsupported):
        METRICS[name].compute(ctx, METRICS[name].params())


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_series_identical_on_duckdb_and_pyspark(store: Store) -> None:
    from clientela.testing.engines import engines

    backends = list(engines(store_tables(store), spark=True))
    for kw in ({"grain": "month", "start": "2024-01", "end": "2025-01"},
               {"grain": "week", "start": "2024-03-01", "end": "2024-05-15",
                "by": "acquisition_channel"}):
        check_identical(run_everywhere(backends, NAMES, catalog=METRICS, timezone=TZ, **kw))


def test_count_at_or_before_is_bisect_right() -> None:
    """The period index conventions.count_at_or_before computes in the engine is Python's
    bisect_right over the same instants, at, just before and after each one."""
    import bisect
    from datetime import datetime, timedelta

    import ibis

    from clientela.kpi import conventions as cv

    ends = [datetime(2025, m, 1) for m in range(2, 9)]
    probes = [datetime(2025, 1, 1)] + [e + d for e in ends for d in (
        timedelta(microseconds=-1), timedelta(0), timedelta(seconds=1))]
    table = ibis.memtable({"t": probes})
    found = table.select(n=cv.count_at_or_before(table.t, ends)).to_pyarrow()["n"].to_pylist()
    assert found == [bisect.bisect_right(ends, p) for p in probes]
    for size in range(1, 6):  # every shape of the search tree
        some = ends[:size]
        got = table.select(n=cv.count_at_or_before(table.t, some)).to_pyarrow()["n"]
        assert got.to_pylist() == [bisect.bisect_right(some, p) for p in probes]
