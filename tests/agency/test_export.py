"""`clientela export --format parquet DIR`: by month, round trip, only changed partitions."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from clientela.agency.parquet_export import MANIFEST, PARTITION_COLUMNS, export_parquet
from clientela.cli.app import main
from clientela.demo import generate, load
from clientela.model.entities import ENTITIES
from clientela.store import Store


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    with Store(path) as store:
        load(store, generate(customers=200, orders=800, seed=7))
    return path


def read_back(folder: Path, table: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = f"{folder}/{table}/**/*.parquet"
    frame = con.execute(f"SELECT * FROM read_parquet('{files}', hive_partitioning = true, "
                        "union_by_name = true)").to_arrow_table()
    if "month" in frame.column_names and table in PARTITION_COLUMNS:
        frame = frame.drop(["month"])
    return sorted(tuple(row.values()) for row in frame.to_pylist())


def in_store(path: Path, table: str) -> list[tuple[object, ...]]:
    with Store(path, read_only=True) as store:
        frame = store.con.execute(f'SELECT * FROM "{table}"').to_arrow_table()
    return sorted(tuple(row.values()) for row in frame.to_pylist())


def test_every_table_round_trips_and_events_are_cut_by_month(store_file: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lake"
    assert main(["--store", str(store_file), "export", "--format", "parquet", str(out)]) == 0
    for model in ENTITIES:
        assert read_back(out, model.table) == in_store(store_file, model.table), model.table
    with Store(store_file, read_only=True) as store:
        months = {row[0] for row in store.con.execute(
            "SELECT DISTINCT strftime(placed_at, '%Y-%m') FROM orders").fetchall()}
    assert {p.name for p in (out / "orders").iterdir()} == {f"month={m}" for m in months}
    assert (out / "customers" / "data_0.parquet").exists()
    assert "0 unchanged" in capsys.readouterr().out


def test_a_second_export_rewrites_only_what_changed(store_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "lake"
    with Store(store_file, read_only=True) as store:
        first = export_parquet(store, out)
    assert first.unchanged == 0
    untouched = out / "orders" / "month=2024-01" / "data_0.parquet"
    stamp = untouched.stat().st_mtime_ns
    with Store(store_file, read_only=True) as store:
        again = export_parquet(store, out)
    assert again.written == {} and again.removed == {} and again.unchanged == first.files_written
    with Store(store_file) as store:
        order_id, _month = store.con.execute(
            "SELECT order_id, strftime(placed_at, '%Y-%m') FROM orders "
            "WHERE strftime(placed_at, '%Y-%m') = '2024-06' ORDER BY order_id LIMIT 1").fetchone()
        store.con.execute("UPDATE orders SET total = total + 1 WHERE order_id = ?", [order_id])
        store.con.execute("DELETE FROM nps_responses WHERE strftime(responded_at, '%Y-%m') = "
                          "'2024-03'")
    with Store(store_file, read_only=True) as store:
        third = export_parquet(store, out)
    assert third.written == {"orders": ["2024-06"]}
    assert third.removed == {"nps_responses": ["2024-03"]}
    assert not (out / "nps_responses" / "month=2024-03").exists()
    assert untouched.stat().st_mtime_ns == stamp
    assert read_back(out, "orders") == in_store(store_file, "orders")
    manifest = json.loads((out / MANIFEST).read_text())
    assert "2024-03" not in manifest["nps_responses"]


def test_an_empty_table_is_an_empty_file_until_it_has_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    out = tmp_path / "lake"
    with Store(path) as store:
        export_parquet(store, out)
    assert read_back(out, "orders") == []
    with Store(path) as store:
        load(store, generate(customers=20, orders=40, seed=1))
        report = export_parquet(store, out)
    assert not (out / "orders" / "data_0.parquet").exists()
    assert report.removed["orders"] == ["*"]
    assert read_back(out, "orders") == in_store(path, "orders")


def test_an_unknown_format_is_a_user_error(store_file: Path, tmp_path: Path) -> None:
    assert main(["--store", str(store_file), "export", "--format", "csv", str(tmp_path / "x")]) == 2
