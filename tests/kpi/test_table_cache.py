"""When the engine's cache writes a shared table out: on the second ask for one metric alone
(a table used once is cheaper inline), on the first when the call answers several."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import ibis
import pytest

from clientela.kpi.context import TableCache
from clientela.kpi.retail import MANY_METRICS, valid_orders


@pytest.mark.parametrize(("eager", "expected"), [(False, [False, True, True]),
                                                 (True, [True, True, True])])
def test_a_shared_table_is_materialised_on_the_right_ask(eager: bool,
                                                         expected: list[bool]) -> None:
    backend = ibis.duckdb.connect()
    cache = TableCache(backend, materialise=True, eager=eager)
    builds: list[int] = []

    def build() -> ibis.Table:
        builds.append(1)
        return ibis.memtable({"x": [1, 2, 3]})

    seen = []
    for _ in range(3):
        table = cache.shared("t", build)
        seen.append("t" in cache.materialised)
        assert table.x.sum().execute() == 6
    assert seen == expected
    assert len(builds) == (1 if eager else 2)  # lazy: once inline, once to write it out
    cache.release()
    assert cache.materialised == {}


def test_nothing_is_materialised_without_an_owner_that_releases() -> None:
    cache = TableCache(ibis.duckdb.connect(), eager=True)
    cache.shared("t", lambda: ibis.memtable({"x": [1]}))
    assert cache.materialised == {}


@pytest.mark.parametrize(("metrics", "written"), [(5, False), (MANY_METRICS, True)])
def test_valid_orders_are_written_out_only_for_many_metrics(tmp_path, metrics: int,
                                                            written: bool) -> None:
    """A few metrics read the store's orders table directly (a scan with the filter and
    columns pushed in); the catalogue shares one written-out table. Same rows either way."""
    from datetime import datetime

    from _kpi_fixtures import basic_records, build_store

    from clientela.kpi.context import MetricContext
    from clientela.kpi.periods import Period

    store = build_store(tmp_path / "s.duckdb", *basic_records())
    try:
        backend = store.ibis()
        cache = TableCache(backend, materialise=True, eager=True, metrics=metrics)
        at = datetime(2026, 1, 1)
        ctx = MetricContext(backend=backend, period=Period(at, at, at, at, "as_of"), as_of=at,
                            timezone="UTC", currency="BRL", metric="test", cache=cache)
        found = valid_orders(ctx, until=at, amounts=("revenue",))
        assert ("valid_orders" in cache.materialised) is written
        plain = valid_orders(replace(ctx, cache=None), until=at, amounts=("revenue",))
        key = ["order_id", "revenue"]
        assert sorted(found.select(*key).to_pyarrow().to_pylist(), key=str) == sorted(
            plain.select(*key).to_pyarrow().to_pylist(), key=str)
        assert found.count().execute() == 6  # basic_records: 8 orders, one cancelled, one refunded
        cache.release()
    finally:
        store.close()


def test_presence_of_every_table_a_call_reads_is_one_query(monkeypatch) -> None:
    """A table with rows, an empty one and a missing one: answered together (without listing
    every table), and `has` asks nothing more afterwards."""
    backend = ibis.duckdb.connect()
    backend.create_table("full", ibis.memtable({"x": [1, 2]}))
    backend.create_table("empty", ibis.memtable({"x": [1]}).filter(ibis._.x > 5))
    cache = TableCache(backend)
    queries: list[int] = []
    original = type(backend).to_pyarrow

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        queries.append(1)
        return original(self, *args, **kwargs)

    def no_listing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("every table listed: a query of its own")

    monkeypatch.setattr(type(backend), "to_pyarrow", counting)
    monkeypatch.setattr(type(backend), "list_tables", no_listing)
    cache.prefetch(["full", "empty", "missing"])
    assert len(queries) == 1
    assert cache.present == {"full": True, "empty": False, "missing": False}

    def no_more(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a second query")

    monkeypatch.setattr(type(backend), "to_pyarrow", no_more)
    monkeypatch.setattr(type(backend), "execute", no_more)
    assert [cache.has(n) for n in ("full", "empty", "missing")] == [True, False, False]
    cache.prefetch(["full", "missing"])  # known already: no query


@pytest.mark.parametrize("planned", [False, True])
def test_a_table_given_in_parts_is_written_one_query_per_part_and_read_as_their_union(
        planned: bool) -> None:
    """Written, the table is its parts' rows (each part its own temporary table); read
    inside a query, it is `build()`'s; released, every part goes."""
    backend = ibis.duckdb.connect()
    cache = TableCache(backend, materialise=True, eager=True)
    whole = backend.create_table("w", ibis.memtable({"x": [1, 2, 3, 4]}))
    halves = [whole.filter(whole.x <= 2), whole.filter(whole.x > 2)]

    def temporary() -> int:
        return backend.raw_sql("SELECT count(*) FROM duckdb_tables() WHERE temporary"
                               ).fetchone()[0]

    if planned:
        with cache.planning():
            cache.reader = "m"
            expr = cache.shared("t", lambda: whole, parts=lambda: halves)
            cache.settle({"m": expr.x.sum().as_table(), "n": expr.count().as_table()},
                         inline_single=False)
        read = cache.ready("m", expr)
    else:
        read = cache.shared("t", lambda: whole, parts=lambda: halves)
    assert temporary() == 2  # one table per part
    assert sorted(read.x.to_pyarrow().to_pylist()) == [1, 2, 3, 4]
    cache.release()
    assert temporary() == 0


@pytest.mark.parametrize(("periods", "since", "written"), [
    (1, datetime(2025, 1, 1), False),  # one period's orders: a filtered scan of the store
    (1, None, True),                   # reaching back to the first order: shared
    (36, datetime(2025, 1, 1), True),  # a call of many periods: shared
    (0, datetime(2025, 1, 1), True),   # not told how many: as before
])
def test_a_call_of_one_period_reads_its_orders_from_the_store(
        tmp_path, periods: int, since: datetime | None, written: bool) -> None:
    """A warm call recomputing one month (a refund's) answers many metrics, each reading
    that month's orders: it scans them from the store table instead of writing every valid
    order out. Same rows either way."""
    from _kpi_fixtures import basic_records, build_store

    from clientela.kpi.context import MetricContext
    from clientela.kpi.periods import Period

    store = build_store(tmp_path / "s.duckdb", *basic_records())
    try:
        backend = store.ibis()
        cache = TableCache(backend, materialise=True, eager=True, metrics=MANY_METRICS)
        cache.periods = periods
        at = datetime(2026, 1, 1)
        ctx = MetricContext(backend=backend, period=Period(at, at, at, at, "as_of"), as_of=at,
                            timezone="UTC", currency="BRL", metric="test", cache=cache)
        found = valid_orders(ctx, since=since, until=at, amounts=("revenue",))
        assert ("valid_orders" in cache.materialised) is written
        plain = valid_orders(replace(ctx, cache=None), since=since, until=at,
                             amounts=("revenue",))
        key = ["order_id", "revenue"]
        rows = sorted(found.select(*key).to_pyarrow().to_pylist(), key=str)
        assert rows == sorted(plain.select(*key).to_pyarrow().to_pylist(), key=str)
        cache.release()
    finally:
        store.close()
