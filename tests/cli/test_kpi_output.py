"""`clientela kpi` as a person reads it: 80 columns, money and percentages, files by extension."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "kpi"))
from _kpi_fixtures import basic_records, build_store, customer, order

NBSP = "\xa0"  # Babel keeps a currency symbol and its amount together


@pytest.fixture
def store(tmp_path: Path) -> str:
    """basic_records (revenue: Jan 110, Feb 430) plus a March order making March revenue
    R$ 2,163,973.08 (o6 is 1 March in UTC)."""
    customers, orders = basic_records()
    customers.append(customer("e", acquisition_channel="online"))
    orders.append(order("o9", "e", "2025-03-10T12:00", "2163913.08", channel="online"))
    path = tmp_path / "k.duckdb"
    build_store(path, customers, orders).close()
    return str(path)


def _lines_fit(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)


def test_to_is_not_included(run, store: str) -> None:
    ran = run("--store", store, "kpi", "revenue", "--grain", "month", "--from", "2025-01",
              "--to", "2025-03", "--format", "json")
    assert ran.exit_code == 0, ran.output
    assert [(r["period"], r["value"]) for r in json.loads(ran.out)] == [
        ("2025-01", 110.0), ("2025-02", 430.0)]


def test_compare_periods_do_not_overlap(run, store: str) -> None:
    """The README's form FROM:TO,FROM:TO with a shared boundary month counts it once."""
    ran = run("--store", store, "kpi", "revenue", "--compare", "2025-01:2025-02,2025-02:2025-03",
              "--format", "json")
    assert ran.exit_code == 0, ran.output
    row = json.loads(ran.out)[0]
    assert (row["before"], row["after"]) == (110.0, 430.0)


def test_help_says_periods_are_half_open(run) -> None:
    ran = run("kpi", "--help")
    text = " ".join(ran.out.split())
    assert "--to is not" in text.replace("│", "").replace("  ", " ") or "NOT included" in text
    assert "<bool>" not in ran.out and "{path}" not in ran.out


@pytest.mark.parametrize("suffix", ["csv", "json", "parquet", "xlsx"])
def test_output_file_by_extension(run, store: str, tmp_path: Path, suffix: str) -> None:
    if suffix == "xlsx":
        pytest.importorskip("openpyxl")
    out = tmp_path / f"kpis.{suffix}"
    ran = run("--store", store, "kpi", "revenue", "--from", "2025-02", "--to", "2025-03",
              "--output", str(out))
    assert ran.exit_code == 0, ran.output
    assert out.exists(), ran.output
    if suffix == "csv":
        assert next(csv.DictReader(out.open()))["value"] == "430.0"
    elif suffix == "json":
        assert json.loads(out.read_text())[0]["value"] == 430.0
    elif suffix == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(out).column("value").to_pylist() == [430.0]
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(out).active
        header = [cell.value for cell in sheet[1]]
        assert sheet.cell(2, header.index("value") + 1).value == 430.0


def test_output_with_an_unknown_extension_is_refused(run, store: str, tmp_path: Path) -> None:
    ran = run("--store", store, "kpi", "revenue", "--from", "2025-02", "--output",
              str(tmp_path / "k.txt"))
    assert ran.exit_code == 2 and "--output" in ran.err


def test_json_money_is_exact(run, store: str) -> None:
    ran = run("--store", store, "kpi", "revenue", "--from", "2025-03", "--to", "2025-04",
              "--format", "json")
    assert ran.exit_code == 0, ran.output
    assert '"value": 2163973.08' in ran.out
    assert "2163973.0800000001" not in ran.out


def test_table_money_ratios_and_counts(run, store: str) -> None:
    ran = run("--store", store, "kpi", "revenue", "orders", "churn_rate", "--from", "2025-02",
              "--to", "2025-03")
    assert ran.exit_code == 0, ran.output
    _lines_fit(ran.out)
    assert f"R${NBSP}430.00" in ran.out or "R$430.00" in ran.out
    # churn_rate in February: of the 3 active in January (a, b... see basic_records), as %
    assert "%" in ran.out
    assert "430.0 " not in ran.out


def test_pt_br_formats_reais(run, store: str) -> None:
    ran = run("--store", store, "kpi", "revenue", "aov", "--from", "2025-03", "--to", "2025-04",
              "--lang", "pt-BR")
    assert ran.exit_code == 0, ran.output
    assert f"R${NBSP}2.163.973,08" in ran.out


def test_measure_column_only_when_it_says_something(run, store: str) -> None:
    plain = run("--store", store, "kpi", "revenue", "aov", "--from", "2025-02", "--to", "2025-03")
    assert "measure" not in plain.out and "item" not in plain.out
    companions = run("--store", store, "kpi", "retention_rate", "--from", "2025-02", "--to",
                     "2025-03")
    assert "measure" in companions.out and "retained" in companions.out


def test_tables_fit_80_columns(run, store: str) -> None:
    for args in (["kpi", "revenue", "aov", "retention_rate", "--grain", "month", "--from",
                  "2025-01", "--to", "2025-04", "--by", "acquisition_channel"],
                 ["kpi", "revenue", "aov", "--compare", "2025-01:2025-02,2025-02:2025-03"],
                 ["kpi", "cohort_retention", "--from", "2024-12", "--to", "2025-04"]):
        ran = run("--store", store, *args)
        assert ran.exit_code == 0, ran.output
        _lines_fit(ran.out)
        assert "revenu\n" not in ran.out  # a name is never cut in two


def test_list_fits_80_columns_and_has_json(run) -> None:
    ran = run("kpi", "--list")
    assert ran.exit_code == 0
    _lines_fit(ran.out)
    assert "Ticket médio" in ran.out and "retention_rate" in ran.out
    as_json = run("kpi", "--list", "--format", "json")
    catalogue = {m["name"]: m for m in json.loads(as_json.out)}
    assert catalogue["aov"]["title_pt"] == "Ticket médio"
    assert "ticket_medio" in catalogue["aov"]["aliases"]
    assert catalogue["retention_rate"]["slices"] == ["acquisition_channel", "segment"]


def test_describe_tells_the_rest(run) -> None:
    ran = run("kpi", "--describe", "lapsed_customers")
    assert ran.exit_code == 0, ran.output
    assert "lapse_days" in ran.out and "unit: count" in ran.out


def test_pt_br_alias_and_did_you_mean(run, store: str) -> None:
    ran = run("--store", store, "kpi", "ticket_medio", "--from", "2025-02", "--to", "2025-03",
              "--format", "json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.out)[0]["metric"] == "aov"
    wrong = run("--store", store, "kpi", "ticket_medo", "--from", "2025-02")
    assert wrong.exit_code == 2
    assert "unknown metric 'ticket_medo'; did you mean 'ticket_medio'?" in \
        " ".join(wrong.err.split())
