"""`clientela kpi` and `clientela segments rfm` as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _kpi_fixtures import basic_records, build_store

from clientela.cli.app import main


class Ran:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli.duckdb"
    customers, orders = basic_records()
    build_store(path, customers, orders).close()
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(store_file: Path | None, *args: str) -> Ran:
        prefix = ["--store", str(store_file)] if store_file else []
        code = main([*prefix, *args])
        out = capsys.readouterr()
        return Ran(code, out.out + out.err)

    return invoke


def test_kpi_json_series(store_file: Path, run) -> None:
    found = run(store_file, "kpi", "revenue", "aov", "--grain", "month", "--from", "2025-01",
                "--to", "2025-03", "--format", "json")
    assert found.exit_code == 0, found.output
    rows = json.loads(found.output)
    assert [(r["metric"], r["period"], r["value"]) for r in rows] == [
        ("revenue", "2025-01", 110.0), ("revenue", "2025-02", 430.0),
        ("aov", "2025-01", 55.0), ("aov", "2025-02", 215.0)]


def test_kpi_compare_csv_to_file(store_file: Path, tmp_path: Path, run) -> None:
    out = tmp_path / "cmp.csv"
    found = run(store_file, "kpi", "revenue", "--compare", "2025-01:2025-02,2025-02:2025-03",
                "--format", "csv", "--output", str(out))
    assert found.exit_code == 0, found.output
    rows = list(csv.DictReader(out.open()))
    assert (rows[0]["before"], rows[0]["after"], rows[0]["change"]) == ("110.0", "430.0",
                                                                        "320.0")


def test_kpi_table_by_slice_and_param(store_file: Path, run) -> None:
    found = run(store_file, "kpi", "revenue", "lapsed_customers", "--from", "2025-02", "--to",
                "2025-03", "--by", "acquisition_channel", "--param",
                "lapsed_customers.lapse_days=30")
    assert found.exit_code == 0, found.output
    assert "acquisition_channel" in found.output and "online" in found.output


def test_kpi_parquet(store_file: Path, tmp_path: Path, run) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "k.parquet"
    found = run(store_file, "kpi", "orders", "--from", "2025-01", "--to", "2025-04",
                "--grain", "month", "--format", "parquet", "-o", str(out))
    assert found.exit_code == 0, found.output
    assert pq.read_table(out).column("value").to_pylist() == [2.0, 2.0, 1.0]


@pytest.mark.parametrize(("args", "message"), [
    (["kpi", "revenue", "--from", "2025-01", "--grain", "hour"], "--grain 'hour'"),
    (["kpi", "revenue", "--from", "2025-01", "--by", "color"], "--by 'color'"),
    (["kpi", "revenue", "--from", "2025-01", "--format", "xml"], "--format 'xml'"),
    (["kpi", "revenue", "--compare", "2025-01"], "--compare '2025-01'"),
    (["kpi", "revenue", "--from", "someday"], "--from"),
    (["kpi", "revenue", "--from", "2025-01", "--param", "lapse_days"], "--param"),
    (["kpi", "revenue", "--from", "2025-01", "--format", "parquet"], "--output"),
    (["kpi", "nope", "--from", "2025-01"], "unknown metric 'nope'"),
    (["kpi", "revenue"], "--from is required"),
    (["segments", "rfm", "--output", "x.txt"], ".csv or .parquet"),
    (["segments", "rfm", "--as-of", "yesterday"], "--as-of"),
])
def test_bad_flags_are_one_line_usage_errors(store_file: Path, args: list[str],
                                             message: str, run) -> None:
    found = run(store_file, *args)
    assert found.exit_code == 2, found.output
    assert message in " ".join(found.output.split())
    assert "Traceback" not in found.output


def test_missing_table_is_a_failure_not_a_usage_error(store_file: Path, run) -> None:
    found = run(store_file, "kpi", "cac", "--from", "2025-01")
    assert found.exit_code == 1, found.output
    assert "marketing_spend" in found.output and "Traceback" not in found.output


def test_kpi_list_has_both_titles(run) -> None:
    found = run(None, "kpi", "--list")
    assert found.exit_code == 0, found.output
    for text in ("retention_rate", "Ticket médio", "Evasão", "Resgate", "Recorrência",
                 "rfm_segments"):
        assert text in found.output


def test_segments_rfm_writes_table_and_file(store_file: Path, tmp_path: Path, run) -> None:
    out = tmp_path / "rfm.csv"
    found = run(store_file, "segments", "rfm", "--as-of", "2025-03-01", "--output", str(out))
    assert found.exit_code == 0, found.output
    assert "RFM segments" in found.output
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["customer_id"] for r in rows) == ["a", "b", "c"]
    again = run(store_file, "segments", "rfm", "--as-of", "2025-02-01")
    assert again.exit_code == 0, again.output
    from clientela.store import Store

    with Store(store_file, read_only=True) as store:
        ids = store.con.execute("SELECT customer_id FROM rfm_scores ORDER BY 1").fetchall()
    assert ids == [("a",), ("c",)]  # replaced by the second run, as of 1 February
