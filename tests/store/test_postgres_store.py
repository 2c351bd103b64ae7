"""What only the PostgreSQL store has: its SQL translation, its isolation between
connections, its errors, and `[store] url` selecting it from the command line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from clientela.cli.app import main
from clientela.cli.kpi_output import json_rows
from clientela.config import ConfigError, load_settings
from clientela.kpi import compute
from clientela.model import Order, validate_rows
from clientela.model.entities import ENTITIES
from clientela.plugins import registry
from clientela.store import Store, StoreError
from clientela.store.dialect import DUCKDB, POSTGRES
from clientela.store.upsert import records_to_arrow, upsert_arrow
from clientela.testing.engines import PostgresServer


def test_duckdb_runs_the_sql_as_written() -> None:
    sql = "INSERT OR IGNORE INTO t SELECT unnest(?)"
    assert DUCKDB.sql(sql, params=True) == sql


@pytest.mark.parametrize(("duckdb", "postgres"), [
    ("INSERT OR IGNORE INTO t (a) SELECT a FROM s",
     "INSERT INTO t (a) SELECT a FROM s ON CONFLICT DO NOTHING"),
    ("SELECT a FROM (SELECT 1 AS a) WHERE a = ?",
     "SELECT a FROM (SELECT 1 AS a) AS _q1 WHERE a = %s"),
    ("DELETE FROM t WHERE id IN (SELECT unnest(?))",
     "DELETE FROM t WHERE id IN (SELECT UNNEST(CAST(%s AS TEXT[])))"),
    ("SELECT strftime(at, '%Y-%m-%dT%H:%M:%S.%f') FROM t",
     "SELECT TO_CHAR(at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') FROM t"),
    ("SELECT a FROM t WHERE b LIKE 'x%' AND c = ?",
     "SELECT a FROM t WHERE b LIKE 'x%%' AND c = %s"),
    ("SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1",
     "SELECT a FROM (SELECT a, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) AS _w, b "
     "FROM t) AS _t WHERE _w = 1"),
])
def test_the_postgres_dialect_translates_what_the_two_disagree_on(duckdb: str,
                                                                  postgres: str) -> None:
    assert POSTGRES.sql(duckdb, params="?" in duckdb) == postgres


def test_the_store_url_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENTELA_STORE__URL", "postgresql://shop@db.internal:5432/shop")
    assert load_settings(None).store.url == "postgresql://shop@db.internal:5432/shop"


def _url(server: PostgresServer) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"


@pytest.mark.postgres
def test_an_open_batch_is_invisible_to_other_connections_until_it_commits(
        store_postgres_server: PostgresServer) -> None:
    url = _url(store_postgres_server)
    good, bad = validate_rows(Order, [{
        "source": "shop", "order_id": "1", "customer_id": "c1", "status": "paid",
        "placed_at": "2024-01-10T12:00:00Z", "subtotal": "10", "total": "10",
        "channel": "online"}])
    assert len(good) == 1 and not bad
    with Store(url) as writer, Store(url) as reader:
        writer.con.begin()
        upsert_arrow(writer.con, Order, records_to_arrow(Order, good))  # type: ignore[arg-type]
        assert (writer.count("orders"), reader.count("orders")) == (1, 0)
        writer.con.rollback()
        assert writer.count("orders") == 0
        writer.upsert(good)
        assert reader.count("orders") == 1


def test_a_store_that_cannot_be_reached_is_a_store_error_without_its_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql://shop:s3cret@127.0.0.1:1/clientela?connect_timeout=2")
    message = str(caught.value)
    assert "cannot open the PostgreSQL store postgresql://shop:***@127.0.0.1:1" in message
    assert "s3cret" not in message


def test_the_store_url_must_be_a_postgresql_url_and_is_never_echoed() -> None:
    Path("clientela.toml").write_text('[store]\nurl = "mysql://root:hunter2@db/shop"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(Path("clientela.toml"))
    assert "expected a PostgreSQL URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.postgres
def test_store_url_puts_the_workspace_on_postgresql(
        store_postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = _url(store_postgres_server)
    monkeypatch.setenv("STORE_URL", url)
    Path("clientela.toml").write_text('[store]\nurl = "${STORE_URL}"\n')
    Path("orders.csv").write_text("order_id,status,placed_at,subtotal,total,channel\n"
                                  "1,paid,2024-12-31,10,10,web\n2,paid,31/01/2025,20,20,web\n")
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    capsys.readouterr()
    assert main(["quarantine", "--entity", "orders", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["key"] for row in shown] == ["2"]
    Path("customers.csv").write_text(
        "customer_id,E-mail\nc1,a@example.com\nc2,b@example.com\nc3,not-an-email\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    capsys.readouterr()
    assert main(["quarantine", "retry", "--entity", "customers", "--map", "email=E-mail"]) == 0
    assert " ".join(capsys.readouterr().out.split()) == (
        "retried 3: 2 landed, 1 still quarantined")
    assert main(["quarantine", "clear", "--resolved-only"]) == 0
    assert " ".join(capsys.readouterr().out.split()) == "removed 2 record(s) from the quarantine"
    assert not Path("clientela.duckdb").exists()
    with Store(url) as store:
        orders = store.con.execute("SELECT order_id, total FROM orders ORDER BY order_id")
        assert orders.fetch_arrow_table().to_pylist() == [
            {"order_id": "1", "total": Decimal("10.00")}]
        assert store.con.execute("SELECT customer_id, email FROM customers ORDER BY 1"
                                 ).fetchall() == [("c1", "a@example.com"), ("c2", "b@example.com")]
        assert store.con.execute("SELECT entity, record_key FROM quarantine ORDER BY 1"
                                 ).fetchall() == [("Customer", "c3"), ("Order", "2")]


@pytest.mark.postgres
def test_two_processes_opening_a_new_database_at_once_both_get_it_migrated(
        store_postgres_server: PostgresServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = _url(store_postgres_server)

    def open_and_count(_: int) -> int:
        with Store(url) as store:
            return store.count("orders")

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_and_count, range(4))) == [0, 0, 0, 0]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgres_store_filled_through_the_write_path_gives_duckdbs_kpis(
        clientela_golden_store: Store, store_postgres_server: PostgresServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The golden store's rows, landed on PostgreSQL by the store's own upsert, read by
    `clientela kpi --engine postgres` with the store's URL as the DSN: the same figures."""
    url = _url(store_postgres_server)
    with Store(url) as store:
        for model in ENTITIES:
            table = clientela_golden_store.con.execute(
                f'SELECT * FROM "{model.table}"').to_arrow_table()
            assert store.write_batch(model, table).counts.inserted == table.num_rows
    metrics = ["revenue", "aov", "repeat_rate", "nps"]
    args = ["kpi", *metrics, "--from", "2024-01", "--to", "2024-07", "--grain", "month",
            "--format", "json"]
    result = compute(clientela_golden_store, metrics, start="2024-01", end="2024-07",
                     grain="month", timezone="UTC")
    units = {name: metric.unit for name, metric in registry().metrics.items()}
    expected = json.loads(json.dumps(json_rows(result.to_arrow(), units)))
    Path("clientela.toml").write_text(
        f'[workspace]\ntimezone = "UTC"\n[engine]\nkind = "postgres"\ndsn = "{url}"\n')
    capsys.readouterr()
    assert main([*args, "--engine", "postgres"]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    with Store(url) as store:  # and from Python, on the store itself
        on_store = compute(store, metrics, start="2024-01", end="2024-07", grain="month",
                           timezone="UTC")
        assert json.loads(json.dumps(json_rows(on_store.to_arrow(), units))) == expected
