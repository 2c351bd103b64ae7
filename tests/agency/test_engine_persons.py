"""Persons on an export: `identity_links` travels with the Parquet export, and Spark reading
the export counts persons exactly as the store does.

The store (counted by hand): web-1 (online shop) and pos-77 (the shops' till) are one woman,
Maria, linked to the person p-maria; web-2 is someone else. Orders in March 2025: web-1 on
the 5th (50), pos-77 on the 20th (80), web-2 on the 10th (40); and web-1 in January (100).
In March, as persons: active customers Maria and web-2 = 2, new customers web-2 = 1 (Maria
first bought in January). As records (what an export without the links gave): active 3,
new 2 (pos-77's first order is its own March one).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from clientela.agency.parquet_export import export_parquet
from clientela.cli.app import main
from clientela.cli.kpi_output import json_rows
from clientela.identity.analytics import identity_resolution
from clientela.kpi import compute
from clientela.model import Customer, Order
from clientela.plugins import registry
from clientela.store import Store
from clientela.testing.engines import spark_available, spark_session

METRICS = ["active_customers", "new_customers", "revenue"]


def _order(order_id: str, customer_id: str, when: str, total: int, channel: str,
           source: str) -> Order:
    amount = Decimal(total)
    return Order(source=source, order_id=order_id, customer_id=customer_id,
                 placed_at=datetime.fromisoformat(when).replace(tzinfo=UTC), total=amount,
                 subtotal=amount, status="paid", channel=channel)


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    path = tmp_path / "persons.duckdb"
    with Store(path) as store:
        store.upsert([
            Customer(source="shop", customer_id="web-1", created_at=datetime(2025, 1, 5)),
            Customer(source="pos", customer_id="pos-77", created_at=datetime(2025, 2, 1)),
            Customer(source="shop", customer_id="web-2", created_at=datetime(2025, 3, 1)),
        ])
        store.upsert([
            _order("o1", "web-1", "2025-01-10T12:00", 100, "online", "shop"),
            _order("o2", "web-1", "2025-03-05T12:00", 50, "online", "shop"),
            _order("o3", "pos-77", "2025-03-20T12:00", 80, "store", "pos"),
            _order("o4", "web-2", "2025-03-10T12:00", 40, "online", "shop"),
        ])
        for customer_id in ("web-1", "pos-77"):
            store.con.execute("INSERT INTO identity_links VALUES (?, 'p-maria', 'cpf', ?)",
                              [customer_id, datetime(2025, 4, 1)])
    return path


def march(store: Store) -> dict[str, float]:
    result = compute(store, METRICS, start="2025-03", end="2025-04", timezone="UTC")
    return {name: result.value(name) for name in METRICS}


def json_like_the_cli(store: Store) -> list[dict[str, Any]]:
    result = compute(store, METRICS, start="2025-03", end="2025-04", timezone="UTC")
    units = {name: metric.unit for name, metric in registry().metrics.items()}
    return json.loads(json.dumps(json_rows(result.to_arrow(), units)))


def test_the_hand_counts(linked: Path) -> None:
    with Store(linked, read_only=True) as store:
        assert march(store) == {"active_customers": 2, "new_customers": 1, "revenue": 170}
        with identity_resolution(False):
            assert march(store) == {"active_customers": 3, "new_customers": 2, "revenue": 170}


def test_the_export_carries_the_links_and_rewrites_them_only_when_they_change(
        linked: Path, tmp_path: Path) -> None:
    import duckdb

    lake = tmp_path / "lake"
    with Store(linked, read_only=True) as store:
        first = export_parquet(store, lake)
    assert first.written["identity_links"] == ["*"]
    links = lake / "identity_links" / "data_0.parquet"
    read = duckdb.connect().execute(
        f"SELECT customer_id, person_id FROM '{links}' ORDER BY customer_id").fetchall()
    assert read == [("pos-77", "p-maria"), ("web-1", "p-maria")]
    stamp = links.stat().st_mtime_ns
    with Store(linked, read_only=True) as store:
        again = export_parquet(store, lake)
    assert again.written == {} and links.stat().st_mtime_ns == stamp
    with Store(linked) as store:
        store.con.execute("DELETE FROM identity_links WHERE customer_id = 'pos-77'")
    with Store(linked, read_only=True) as store:
        third = export_parquet(store, lake)
    assert third.written == {"identity_links": ["*"]}  # no month of any table rewritten
    read = duckdb.connect().execute(f"SELECT customer_id FROM '{links}'").fetchall()
    assert read == [("web-1",)]


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_kpi_on_spark_reading_an_export_counts_persons(
        linked: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    with Store(linked, read_only=True) as store:
        export_parquet(store, lake)
        expected = json_like_the_cli(store)
    assert {row["metric"]: row["value"] for row in expected} == {
        "active_customers": 2, "new_customers": 1, "revenue": 170}
    config = tmp_path / "clientela.toml"
    config.write_text(f'[workspace]\ntimezone = "UTC"\n[engine]\nkind = "spark"\n'
                      f'tables = "{lake}"\n')
    spark_session()  # the engine joins the active session when no master is given
    capsys.readouterr()
    assert main(["--config", str(config), "kpi", *METRICS, "--from", "2025-03", "--to", "2025-04",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
