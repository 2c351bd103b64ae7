"""The quarantine has a life cycle: open, resolved when the record lands, retried, cleared."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.store import Store

ORDERS = ("order_id,status,placed_at,subtotal,total,channel\n"
          "1,paid,31/12/2024,10,10,web\n2,paid,15/01/2025,20,20,web\n3,paid,01/02/2025,5,5,web\n")


def out_of(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_a_rejected_record_that_later_lands_is_resolved(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    Path("orders.csv").write_text(ORDERS)
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    capsys.readouterr()
    assert main(["quarantine", "--entity", "orders", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(row["key"] for row in shown) == ["1", "2", "3"]
    assert {row["resolved"] for row in shown} == {False}

    assert main(["import", "orders.csv", "-e", "orders", "--date-format", "DD/MM/YYYY"]) == 0
    capsys.readouterr()
    assert main(["quarantine"]) == 0
    assert out_of(capsys) == "nothing open in the quarantine (3 resolved; --all shows them)"
    assert main(["quarantine", "--all", "--json"]) == 0
    history = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((row["key"], row["resolved"]) for row in history) == [
        ("1", True), ("2", True), ("3", True)]


def test_an_unknown_entity_name_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    Path("orders.csv").write_text(ORDERS)
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert main(["quarantine", "--entity", "pedidos"]) == 2
    assert "--entity: unknown entity 'pedidos'" in capsys.readouterr().err


def test_quarantine_masks_emails_and_phones(capsys: pytest.CaptureFixture[str]) -> None:
    Path("customers.csv").write_text(
        "customer_id,email,phone,birth_date\nc1,maria.silva@example.com,+55 11 98765-4321,"
        "31/02/1990\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    capsys.readouterr()
    assert main(["quarantine", "--entity", "customers"]) == 0
    table = capsys.readouterr().out
    assert main(["quarantine", "--entity", "customers", "--json"]) == 0
    (shown,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "maria.silva" not in table and "98765" not in table
    assert shown["payload"]["email"] == "m***@e***.com"
    assert shown["payload"]["phone"] == "***21"
    assert "maria.silva" not in json.dumps(shown) and "98765-4321" not in json.dumps(shown)


def test_retry_revalidates_with_the_current_mapping_and_clear_forgets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("customers.csv").write_text(
        "customer_id,E-mail\nc1,a@example.com\nc2,b@example.com\nc3,not-an-email\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    with Store("clientela.duckdb") as store:
        assert store.count("customers") == 0
    capsys.readouterr()
    assert main(["quarantine", "retry", "--entity", "customers", "--map", "email=E-mail"]) == 0
    assert out_of(capsys) == "retried 3: 2 landed, 1 still quarantined"
    with Store("clientela.duckdb") as store:
        assert store.con.execute(
            "SELECT customer_id, email FROM customers ORDER BY 1").fetchall() == [
            ("c1", "a@example.com"), ("c2", "b@example.com")]
        (reason,), = store.con.execute(
            "SELECT reason FROM quarantine WHERE resolved_at IS NULL").fetchall()
    assert reason == ("Customer 'c3': field 'email': value 'not-an-email' - expected an e-mail "
                      "address like name@example.com")
    assert main(["quarantine", "clear", "--resolved-only"]) == 0
    assert out_of(capsys) == "removed 2 record(s) from the quarantine"
    assert main(["quarantine", "clear", "--entity", "customers"]) == 0
    assert out_of(capsys) == "removed 1 record(s) from the quarantine"
    assert main(["quarantine", "--all"]) == 0
    assert out_of(capsys) == "the quarantine is empty"


def test_a_corrected_import_resolves_every_rejection_of_the_first_attempt() -> None:
    rows = "".join(f"{i};paid;2024-01-02;1.234,56;1.234,56;web\n" for i in range(500))
    Path("orders.csv").write_text("id;status;placed_at;subtotal;total;channel\n" + rows)
    assert main(["import", "orders.csv", "-e", "orders", "--map", "order_id=id"]) == 0

    def open_and_resolved() -> list[tuple[object, ...]]:
        with Store("clientela.duckdb") as store:
            return store.con.execute(
                "SELECT count(*) FILTER (resolved_at IS NULL), count(*) FILTER "
                "(resolved_at IS NOT NULL) FROM quarantine").fetchall()

    assert open_and_resolved() == [(500, 0)]
    assert main(["import", "orders.csv", "-e", "orders", "--map", "order_id=id",
                 "--decimal-comma"]) == 0
    assert open_and_resolved() == [(0, 500)]
    with Store("clientela.duckdb") as store:
        assert store.con.execute("SELECT count(*), sum(total) FROM orders").fetchall() == [
            (500, Decimal("617280.00"))]


def test_a_key_whose_later_version_is_rejected_stays_open() -> None:
    Path("orders.csv").write_text("order_id,status,placed_at,subtotal,total,channel\n"
                                  "1,paid,2024-01-02,10,10,web\n1,paid,2024-01-02,oops,10,web\n")
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    with Store("clientela.duckdb") as store:
        assert store.con.execute("SELECT order_id, total FROM orders").fetchall() == [
            ("1", Decimal("10.00"))]
        assert store.con.execute(
            "SELECT record_key, resolved_at FROM quarantine").fetchall() == [("1", None)]
