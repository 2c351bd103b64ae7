"""`clientela loyalty ...` as a user runs it, on a store built from orders alone (imported
from CSV files, no loyalty events anywhere)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.cli.common import workspace
from clientela.testing.pytest_plugin import clientela_store_toml

CUSTOMERS = """customer_id,email
a,ana.souza@example.com
b,bruno@example.com
"""
ORDERS = """order_id,customer_id,status,placed_at,subtotal,total,channel,\
loyalty_points_redeemed,loyalty_discount
o4,b,paid,2024-03-15T12:00:00Z,100,100,web,0,0
o1,a,paid,2025-01-10T12:00:00Z,600,600,web,0,0
o3,b,paid,2025-01-20T12:00:00Z,300,300,web,0,0
o2,a,paid,2025-02-05T12:00:00Z,200,200,web,500,25
"""


def summary(output: str) -> dict[str, str]:
    """The rows of `loyalty run`'s table: label -> value."""
    return {m.group(1): m.group(2) for m in re.finditer(r"│ ([a-z ]+?)\s+│\s+(\S+) │", output)}


class Ran:
    def __init__(self, code: int, output: str) -> None:
        self.code, self.output = code, output


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        clientela_store_target: str):
    """The workspace on a DuckDB file (the default `clientela.duckdb`), then on a PostgreSQL
    database (`[store] url`): every test expects the same figures on both."""
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "clientela.toml").write_text(
        clientela_store_toml(clientela_store_target) + '[workspace]\ntimezone = "UTC"\n\n'
        '[loyalty]\nredemption_threshold = 500\npoint_value = 0.05\n', encoding="utf-8")

    def invoke(*args: str) -> Ran:
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out + out.err)

    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    assert invoke("import", "customers.csv", "--entity", "customers").code == 0
    assert invoke("import", "orders.csv", "--entity", "orders").code == 0
    return invoke


def test_run_then_the_loyalty_kpis_by_month(cli) -> None:
    """Month ends: Feb 1st a 600, b 300 + 100; Mar 1st a 600 - 500 + 200 = 300, b 400, and
    b's 100 of 2024-03-15 expire on March 15th (within 30 days); Apr 1st a 300, b 300."""
    ran = cli("loyalty", "run", "--until", "2025-04-01")
    assert ran.code == 0, ran.output
    assert summary(ran.output) == {
        "earned": "1,200", "redeemed": "500", "expired": "100", "reversed": "0", "adjusted": "0",
        "members with points": "2", "outstanding points": "600", "liability": "R$30.00"}

    kpi = cli("kpi", "loyalty_members_with_points", "loyalty_redeemable_members",
              "loyalty_points_expiring", "--grain", "month", "--from", "2025-01", "--to",
              "2025-04", "--format", "json")  # half-open: January to March
    assert kpi.code == 0, kpi.output
    rows = json.loads(kpi.output)
    got = {(r["metric"], r["period"], r.get("measure", "value")): r["value"] for r in rows}
    assert [got[("loyalty_members_with_points", m, "value")]
            for m in ("2025-01", "2025-02", "2025-03")] == [2, 2, 2]
    assert [got[("loyalty_members_with_points", m, "points")]
            for m in ("2025-01", "2025-02", "2025-03")] == [1000, 700, 600]
    assert [got[("loyalty_redeemable_members", m, "value")]
            for m in ("2025-01", "2025-02", "2025-03")] == [1, 0, 0]
    assert [got[("loyalty_points_expiring", m, "value")]
            for m in ("2025-01", "2025-02", "2025-03")] == [0, 100, 0]

    again = cli("loyalty", "run", "--until", "2025-04-01")
    assert again.code == 0 and summary(again.output)["earned"] == "0", again.output


def test_balance_statement_is_masked(cli) -> None:
    assert cli("loyalty", "run", "--until", "2025-04-01").code == 0
    ran = cli("loyalty", "balance", "ana.souza@example.com", "--at", "2025-04-01")
    assert ran.code == 0, ran.output
    assert "a***@e***.com" in ran.output and "ana.souza" not in ran.output
    assert "300 points (R$15.00)" in ran.output
    assert "2026-01-10" in ran.output  # o1's lot: 100 of it left
    assert "redeem" in ran.output and "-500" in ran.output
    missing = cli("loyalty", "balance", "nobody@example.com")
    assert missing.code == 2 and "n***@e***.com" in missing.output
    assert "nobody@" not in missing.output


def test_adjust_then_run(cli, tmp_path: Path) -> None:
    assert cli("loyalty", "run", "--until", "2025-04-01").code == 0
    given = cli("loyalty", "adjust", "b", "--points", "250", "--at", "2025-03-20", "--id", "apology")
    assert given.code == 0, given.output
    ran = cli("loyalty", "run", "--until", "2025-04-01")
    assert summary(ran.output)["adjusted"] == "250", ran.output
    assert summary(ran.output)["outstanding points"] == "850"
    too_much = cli("loyalty", "adjust", "a", "--points", "-301", "--at", "2025-04-01")
    assert too_much.code == 2 and "points: -301 would leave a negative balance" in \
        too_much.output
    (tmp_path / "adj.csv").write_text("customer_id,points,at,id\na,-100,2025-03-30,fix1\n"
                                      "a,x,2025-03-30,fix2\n", encoding="utf-8")
    bad = cli("loyalty", "adjust", "--file", "adj.csv")
    assert bad.code == 2 and "adj.csv:3: points: expected a whole number" in bad.output
    redeemable = cli("loyalty", "audience", "redeemable", "--at", "2025-04-01", "-o", "r.csv")
    assert redeemable.code == 0 and "redeemable: 1 member(s)" in redeemable.output
    assert (tmp_path / "r.csv").read_text().splitlines()[1:] == ['"b",550']


def test_a_bad_rule_is_refused_naming_the_field(cli, tmp_path: Path) -> None:
    (tmp_path / "clientela.toml").write_text(
        '[workspace]\nstore = "shop.duckdb"\n\n[loyalty]\nlock_days = -3\n', encoding="utf-8")
    workspace._settings = None  # a new process would read the file afresh
    ran = cli("loyalty", "run")
    assert ran.code == 2
    assert "loyalty.lock_days: Input should be greater than or equal to 0" in ran.output
    assert "Traceback" not in ran.output


def test_an_imported_ledger_is_left_alone(cli, tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(
        "event_id,customer_id,kind,points,occurred_at\ne1,a,earn,10,2025-01-01T00:00:00Z\n",
        encoding="utf-8")
    assert cli("import", "events.csv", "--entity", "loyalty_events").code == 0
    ran = cli("loyalty", "run")
    assert ran.code == 2 and "imported from file" in ran.output


def test_rebuild_replays_every_customer_to_the_same_ledger(cli, clientela_store_target: str
                                                           ) -> None:
    """`--rebuild` replays a and b from their orders: the ledger it leaves is the one the
    incremental run wrote, event for event (ids, points, times)."""
    from clientela.store import Store

    def events() -> list[tuple[object, ...]]:
        with Store(clientela_store_target) as store:
            return store.con.execute(
                "SELECT event_id, customer_id, kind, points, occurred_at, expires_at "
                "FROM loyalty_events ORDER BY event_id").fetchall()

    assert cli("loyalty", "run", "--until", "2025-04-01").code == 0
    before = events()
    assert sorted((e[1], e[2], e[3]) for e in before) == [
        ("a", "earn", 200), ("a", "earn", 600), ("a", "redeem", -500),
        ("b", "earn", 100), ("b", "earn", 300), ("b", "expire", -100)]
    rebuilt = cli("loyalty", "run", "--until", "2025-04-01", "--rebuild")
    assert rebuilt.code == 0, rebuilt.output
    assert summary(rebuilt.output)["outstanding points"] == "600"
    assert events() == before
