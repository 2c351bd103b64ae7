"""A new user's path: demo, KPIs, segments, plugins, through the real CLI entry point."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.store import Store


@pytest.fixture
def demo_store(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["demo", "--customers", "400", "--orders", "2000", "--seed", "7"]) == 0
    return capsys.readouterr().out


def test_demo_prints_kpis_of_the_generated_store(demo_store: str) -> None:
    out = " ".join(demo_store.split())
    assert "wrote clientela.toml for the demo store" in out
    for title in ("Revenue", "Ticket médio", "Evasão", "Recorrência", "RFM segments", "Champions"):
        assert title in out
    with Store("clientela.duckdb") as store:
        counts = store.counts()
        by_source = {(table, source): n for table in ("customers", "orders") for source, n in
                     store.con.execute(f"SELECT source, count(*) FROM {table} GROUP BY 1")
                     .fetchall()}
    # the e-commerce platform's, and the shops' POS export (on by default, --no-pos)
    assert by_source["customers", "demo"] == 400 and by_source["customers", "demo-pos"] > 0
    assert 1800 <= by_source["orders", "demo"] <= 2200 and by_source["orders", "demo-pos"] > 0
    assert all(counts[table] > 0 for table in counts)


def test_demo_twice_changes_nothing(demo_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Store("clientela.duckdb") as store:
        before = store.con.execute(
            "SELECT count(*), sum(total), max(_loaded_at) FROM orders").fetchall()
    assert main(["demo", "--customers", "400", "--orders", "2000", "--seed", "7",
                 "--no-report"]) == 0
    with Store("clientela.duckdb") as store:
        assert store.con.execute(
            "SELECT count(*), sum(total), max(_loaded_at) FROM orders").fetchall() == before


def test_kpi_revenue_matches_an_independent_sql_sum(demo_store: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kpi", "revenue", "orders", "--from", "2025-03", "--to", "2025-04",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {row["metric"]: row["value"] for row in rows}
    with Store("clientela.duckdb") as store:
        # independent: local (Sao Paulo, UTC-3 all year since 2019) month bounds in UTC
        expected = store.con.execute("""
            SELECT sum((total - refunded_amount) * coalesce(fx_rate, 1)), count(*)
            FROM orders
            WHERE status NOT IN ('cancelled', 'refunded')
              AND placed_at >= TIMESTAMP '2025-03-01 03:00:00'
              AND placed_at <  TIMESTAMP '2025-04-01 03:00:00'""").fetchone()
    assert expected is not None
    assert Decimal(str(got["revenue"])) == Decimal(expected[0]).quantize(Decimal("0.01"))
    assert got["orders"] == expected[1]


def test_segments_and_plugins_commands(demo_store: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segments", "rfm", "--output", "rfm.csv"]) == 0
    lines = (tmp_path / "rfm.csv").read_text().splitlines()
    # one row a person (the demo's two sources share customers, resolved into one person each)
    assert len(lines) - 1 == _persons_with_valid_orders()
    assert {line.split(",")[0].strip('"') for line in lines[1:]} == _person_ids_with_valid_orders()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "clientela-builtins" in out and "revenue" in out and "rfm" in out


def _person_ids_with_valid_orders() -> set[str]:
    """Independently of the segmenter: the persons (`identity_links`, a customer without a link
    being its own person) of the customers with at least one order neither cancelled nor
    refunded."""
    with Store("clientela.duckdb") as store:
        rows = store.con.execute("""
            SELECT DISTINCT COALESCE(il.person_id, c.customer_id)
            FROM customers c LEFT JOIN identity_links il ON il.customer_id = c.customer_id
            WHERE EXISTS (
              SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id
                AND o.status NOT IN ('cancelled', 'refunded'))""").fetchall()
    return {str(row[0]) for row in rows}


def _persons_with_valid_orders() -> int:
    return len(_person_ids_with_valid_orders())


def test_clv_saves_per_customer_predictions_for_push(demo_store: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clv", "--holdout", "6", "--output", "clv.csv"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "saved CLV and P(alive) of" in out
    import pyarrow.csv as pcsv

    written = pcsv.read_csv(tmp_path / "clv.csv").select(["customer_id", "clv", "p_alive"])
    with Store("clientela.duckdb") as store:
        saved = store.con.execute(
            "SELECT customer_id, clv, p_alive FROM clv_scores ORDER BY customer_id").fetchall()
    expected = sorted(zip(*(written.column(c).to_pylist() for c in written.column_names),
                          strict=True))
    assert len(saved) == len(expected) > 0
    assert [row[0] for row in saved] == [str(row[0]) for row in expected]
    assert all(abs(a[1] - b[1]) < 1e-6 and abs(a[2] - b[2]) < 1e-9
               for a, b in zip(saved, expected, strict=True))
    assert all(0.0 <= row[2] <= 1.0 for row in saved)
