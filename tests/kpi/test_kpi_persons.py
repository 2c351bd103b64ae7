"""KPIs of persons: a two-source store where one woman is an online and a POS customer.

The store (every number below counted by hand):

| record | source | person   | created    | acquired | home store | valid orders (UTC)           |
|--------|--------|----------|------------|----------|------------|------------------------------|
| web-1  | shop   | p-maria  | 2025-01-05 | online   | -          | o1 01-10 100, o2 03-05 50    |
| pos-77 | pos    | p-maria  | 2025-02-01 | store    | centro     | o3 03-20 store 80            |
| web-2  | shop   | (itself) | 2025-03-01 | online   | -          | o4 03-10 40                  |
| pos-88 | pos    | (itself) | 2025-01-20 | store    | sul        | o6 02-01 30, o5 03-12 60     |

(online orders on the online records, store orders on the POS ones.)

`identity_links` holds web-1 -> p-maria and pos-77 -> p-maria (filled by hand, as the
resolver would). In March 2025, as persons: active Maria, web-2, pos-88 = 3; new: web-2
only (Maria's first order is January, pos-88's February) = 1; omnichannel (two channels or
more): Maria (online + store) = 1 of 3. As records (no links, or identity off): active 4,
new 2 (pos-77 and web-2: pos-77's first order is its own 03-20), omnichannel 0.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from _kpi_fixtures import order as _order

from clientela.identity.analytics import identity_resolution
from clientela.kpi import compute
from clientela.kpi.context import MetricContext, TableCache
from clientela.kpi.periods import Period
from clientela.model import Customer
from clientela.segments.rfm import rfm_table
from clientela.store import Store
from clientela.testing.engines import engines, spark_available, store_tables

MAR = ("2025-03-01", "2025-04-01")
LINKED_AT = datetime(2025, 4, 1)


def customer(customer_id: str, source: str, **kw: object) -> Customer:
    return Customer(source=source, customer_id=customer_id, **kw)


def order(order_id: str, customer_id: str, when: str, total: int, source: str,
          **kw: object) -> object:
    return _order(order_id, customer_id, when, total, **kw).model_copy(update={"source": source})


def two_source_records() -> list:
    return [
        customer("web-1", created_at=datetime(2025, 1, 5), acquisition_channel="online",
                 email="maria@example.com", source="shop"),
        customer("pos-77", created_at=datetime(2025, 2, 1), acquisition_channel="store",
                 home_store_id="centro", cpf="529.982.247-25", source="pos"),
        customer("web-2", created_at=datetime(2025, 3, 1), acquisition_channel="online",
                 source="shop"),
        customer("pos-88", created_at=datetime(2025, 1, 20), acquisition_channel="store",
                 home_store_id="sul", source="pos"),
    ]


def two_source_orders() -> list:
    return [
        order("o1", "web-1", "2025-01-10T12:00", 100, channel="online", source="shop"),
        order("o2", "web-1", "2025-03-05T12:00", 50, channel="online", source="shop"),
        order("o3", "pos-77", "2025-03-20T12:00", 80, channel="store", store_id="centro",
              source="pos"),
        order("o4", "web-2", "2025-03-10T12:00", 40, channel="online", source="shop"),
        order("o5", "pos-88", "2025-03-12T12:00", 60, channel="store", store_id="sul",
              source="pos"),
        order("o6", "pos-88", "2025-02-01T12:00", 30, channel="store", store_id="sul",
              source="pos"),
    ]


def link(store: Store, *pairs: tuple[str, str]) -> None:
    for customer_id, person_id in pairs:
        store.con.execute("INSERT INTO identity_links VALUES (?, ?, 'cpf', ?)",
                          [customer_id, person_id, LINKED_AT])


@pytest.fixture
def two_sources(tmp_path: Path) -> Store:
    store = Store(tmp_path / "two.duckdb")
    store.upsert(two_source_records())
    store.upsert(two_source_orders())
    yield store
    store.close()


@pytest.fixture
def linked(two_sources: Store) -> Store:
    link(two_sources, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    return two_sources


def march(store: object, metrics: dict, name: str, measure: str = "value", **kw: object
          ) -> float | None:
    result = compute(store, [name], start=MAR[0], end=MAR[1], catalog=metrics, **kw)
    return result.value(name, measure)


def test_persons_counted_once(linked: Store, metrics: dict) -> None:
    assert march(linked, metrics, "active_customers") == 3
    assert march(linked, metrics, "new_customers") == 1
    assert march(linked, metrics, "omnichannel_share") == pytest.approx(1 / 3)
    assert march(linked, metrics, "omnichannel_share", "omnichannel_customers") == 1
    assert march(linked, metrics, "revenue") == 230  # money does not change with persons


def test_empty_links_and_identity_off_give_record_numbers(two_sources: Store,
                                                          metrics: dict) -> None:
    expected = {"active_customers": 4, "new_customers": 2, "omnichannel_share": 0}
    assert {n: march(two_sources, metrics, n) for n in expected} == expected
    link(two_sources, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with identity_resolution(False):
        assert {n: march(two_sources, metrics, n) for n in expected} == expected
    assert march(two_sources, metrics, "active_customers") == 3  # on again after the block


def test_a_person_named_by_one_of_her_records(two_sources: Store, metrics: dict) -> None:
    """A record without a link row is its own person: linking pos-77 to `web-1` makes web-1
    (which has no row) and pos-77 one person."""
    link(two_sources, ("pos-77", "web-1"))
    assert march(two_sources, metrics, "active_customers") == 3
    assert march(two_sources, metrics, "omnichannel_share", "omnichannel_customers") == 1


def test_series_counts_persons_in_every_month(linked: Store, metrics: dict) -> None:
    result = compute(linked, ["active_customers", "new_customers"], start="2025-01",
                     end="2025-04", grain="month", catalog=metrics)
    found = {(r["metric"], r["period"]): r["value"] for r in result.rows()}
    # January: Maria (o1); February: pos-88 (o6); March: Maria, web-2, pos-88
    assert found == {
        ("active_customers", "2025-01"): 1, ("active_customers", "2025-02"): 1,
        ("active_customers", "2025-03"): 3,
        ("new_customers", "2025-01"): 1, ("new_customers", "2025-02"): 1,
        ("new_customers", "2025-03"): 1,
    }


def _ctx(backend: object, at: datetime) -> MetricContext:
    return MetricContext(backend=backend, period=Period(at, at, at, at, "as_of"), as_of=at,
                         timezone="UTC", currency="BRL", metric="test",
                         cache=TableCache(backend))


def test_rfm_one_row_per_person(linked: Store) -> None:
    rows = {r["customer_id"]: r for r in
            rfm_table(_ctx(linked.ibis(), datetime(2025, 4, 1))).to_pyarrow().to_pylist()}
    assert sorted(rows) == ["p-maria", "pos-88", "web-2"]
    maria = rows["p-maria"]
    assert (maria["frequency"], float(maria["revenue"])) == (3, 230.0)
    assert maria["recency_days"] == 12  # o3, 20 March, to 1 April
    with identity_resolution(False):
        plain = rfm_table(_ctx(linked.ibis(), datetime(2025, 4, 1))).to_pyarrow()
    assert sorted(plain.column("customer_id").to_pylist()) == ["pos-77", "pos-88", "web-1",
                                                               "web-2"]


def test_rfm_segments_count_persons(linked: Store, metrics: dict) -> None:
    result = compute(linked, ["rfm_segments"], start=MAR[0], end=MAR[1], catalog=metrics)
    assert sum(r["value"] for r in result.rows() if r["measure"] == "value") == 3


def test_person_row_of_the_customers_table(linked: Store, metrics: dict) -> None:
    """Maria: created at her earliest record's date (web-1, January), acquired online (the
    earliest record's channel), home store centro (the earliest record that names one)."""
    ctx = _ctx(linked.ibis(), datetime(2025, 4, 1))
    rows = {r["customer_id"]: r for r in ctx.table("customers").to_pyarrow().to_pylist()}
    assert sorted(rows) == ["p-maria", "pos-88", "web-2"]
    maria = rows["p-maria"]
    assert (maria["created_at"], maria["acquisition_channel"], maria["home_store_id"],
            maria["source"]) == (datetime(2025, 1, 5), "online", "centro", "shop")
    assert rows["pos-88"]["home_store_id"] == "sul"  # an unlinked record as it is
    by_channel = compute(linked, ["active_customers"], start=MAR[0], end=MAR[1],
                         by="acquisition_channel", catalog=metrics)
    found = {r["acquisition_channel"]: r["value"] for r in by_channel.rows()}
    assert found == {"online": 2, "store": 1}  # Maria and web-2 online; pos-88 in store


def _tables(store: Store) -> dict:
    return {**store_tables(store),
            "identity_links": store.con.execute("SELECT * FROM identity_links").to_arrow_table()}


def test_an_ibis_backend_without_the_store(linked: Store, metrics: dict) -> None:
    for name, backend in engines(_tables(linked), spark=False):
        assert march(backend, metrics, "active_customers") == 3, name


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_pyspark_reads_persons(linked: Store, metrics: dict) -> None:
    from clientela.testing.engines import spark_backend

    result = compute(spark_backend(_tables(linked)), ["active_customers", "omnichannel_share"],
                     start=MAR[0], end=MAR[1], catalog=metrics)
    assert result.value("active_customers") == 3
    assert result.value("omnichannel_share") == pytest.approx(1 / 3)


@pytest.mark.postgres
def test_postgres_reads_persons(linked: Store, metrics: dict, postgres_server: object) -> None:
    from clientela.testing.engines import postgres_backend

    backend = postgres_backend(_tables(linked), postgres_server)
    try:
        assert march(backend, metrics, "active_customers") == 3
        assert march(backend, metrics, "omnichannel_share") == pytest.approx(1 / 3)
        assert march(backend, metrics, "new_customers") == 1
    finally:
        backend.disconnect()


@pytest.mark.parametrize(("enabled", "active", "omni"), [("true", 3, 1), ("false", 4, 0)])
def test_cli_follows_identity_enabled(linked: Store, tmp_path: Path, enabled: str, active: int,
                                      omni: int, capsys: pytest.CaptureFixture[str]) -> None:
    """`clientela kpi` on the two-source store: `[identity] enabled = false` gives the record
    numbers back."""
    import json

    from clientela.cli.app import main

    path = linked.path
    linked.close()
    config = tmp_path / "clientela.toml"
    config.write_text(f"[workspace]\nstore = \"{path}\"\n\n[identity]\nenabled = {enabled}\n")
    code = main(["--config", str(config), "kpi", "active_customers", "omnichannel_share",
                 "--from", "2025-03", "--to", "2025-04", "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    found = {(r["metric"], r["measure"]): r["value"] for r in json.loads(out.out)}
    assert found[("active_customers", "value")] == active
    assert found[("omnichannel_share", "omnichannel_customers")] == omni
