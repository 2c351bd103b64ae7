"""Each item of the newcomer's first hour with imports, one test each (all failed before)."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
import textwrap
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clientela.cli.app import main
from clientela.sources.files import FileSource, FileSourceConfig
from clientela.store import Store

HEADER = ["order_id", "status", "placed_at", "subtotal", "total", "channel"]


def orders_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER,
               delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(order_id: str, placed_at: str = "2024-05-01T10:00:00", total: str = "10.00",
        status: str = "paid") -> list[str]:
    return [order_id, status, placed_at, total, total, "online"]


def query(sql: str, path: str = "clientela.duckdb") -> list[tuple[object, ...]]:
    with Store(path) as store:
        return store.con.execute(sql).fetchall()


def quarantine_reasons() -> dict[str, str]:
    return dict(query("SELECT record_key, reason FROM quarantine WHERE resolved_at IS NULL"))


def err_of(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


# -- the store path ------------------------------------------------------------------------


def test_a_store_path_that_is_not_duckdb_is_refused_and_nothing_is_created(
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders_csv(Path("orders.csv"), [row("1")])
    assert main(["--store", "s.csv", "import", "orders.csv", "-e", "orders"]) == 2
    assert "the store s.csv must be a DuckDB file ending in .duckdb" in err_of(capsys)
    assert not Path("s.csv").exists()


def test_an_existing_sqlite_or_csv_file_is_refused_without_any_download(
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders_csv(Path("orders.csv"), [row("1")])
    sqlite3.connect("old.db").execute("CREATE TABLE t (a)").connection.commit()
    assert main(["--store", "old.db", "import", "orders.csv", "-e", "orders"]) == 2
    assert "the store old.db exists and is a SQLite database" in err_of(capsys)
    Path("data.duckdb").write_text("a,b\n1,2\n")
    assert main(["--store", "data.duckdb", "import", "orders.csv", "-e", "orders"]) == 2
    assert "the store data.duckdb exists and is not a DuckDB file" in err_of(capsys)
    assert Path("data.duckdb").read_text() == "a,b\n1,2\n"


def test_the_store_never_downloads_extensions() -> None:
    with Store("s.duckdb") as store:
        settings = dict(store.con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    assert settings == {"autoinstall_known_extensions": "false",
                        "autoload_known_extensions": "false"}


# -- silent corruption: dates --------------------------------------------------------------


def test_compact_dates_are_dates_and_integers_need_a_timestamp_unit() -> None:
    orders_csv(Path("orders.csv"), [row("compact", "19970101"), row("unix", "852076800")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert query("SELECT order_id, placed_at FROM orders") == [
        ("compact", datetime(1997, 1, 1))]
    assert "852076800 is a number, not a date: for Unix timestamps add --timestamp-unit" in \
        quarantine_reasons()["unix"]
    assert main(["import", "orders.csv", "-e", "orders", "--timestamp-unit", "s"]) == 0
    assert query("SELECT order_id, placed_at FROM orders ORDER BY 1") == [
        ("compact", datetime(1997, 1, 1)), ("unix", datetime(1997, 1, 1))]
    assert quarantine_reasons() == {}


def test_integer_timestamps_in_parquet_with_their_unit() -> None:
    pq.write_table(pa.table({
        "order_id": ["a"], "status": ["paid"], "placed_at": pa.array([852076800000], pa.int64()),
        "subtotal": ["1"], "total": ["1"], "channel": ["web"]}), "orders.parquet")
    assert main(["import", "orders.parquet", "-e", "orders"]) == 0
    assert query("SELECT count(*) FROM orders") == [(0,)]
    assert main(["import", "orders.parquet", "-e", "orders", "--timestamp-unit", "ms"]) == 0
    assert query("SELECT placed_at FROM orders") == [(datetime(1997, 1, 1),)]


def test_timestamps_outside_the_bounds_are_quarantined_and_the_bounds_are_configurable(
) -> None:
    soon = f"{date.today().year + 1}-01-01T00:00:00"
    orders_csv(Path("orders.csv"), [row("old", "1899-12-31T23:00:00"), row("ok", "1985-06-01"),
                                    row("ahead", soon), row("far", "9999-12-31T23:59:59"),
                                    row("first", "0001-01-01T00:00:00")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert query("SELECT order_id FROM orders") == [("ok",)]
    reasons = quarantine_reasons()
    assert reasons["old"].endswith("1899-12-31 is before 1900-01-01: expected a date-time from "
                                   "then on (see --not-before)")
    assert "is in the future" in reasons["ahead"] and "is in the future" in reasons["far"]
    assert "0001-01-01 is before 1900-01-01" in reasons["first"]
    assert main(["import", "orders.csv", "-e", "orders", "--not-before", "1800-01-01",
                 "--max-future-days", "400"]) == 0
    assert query("SELECT order_id FROM orders ORDER BY 1") == [("ahead",), ("ok",), ("old",)]


def test_birth_dates_must_be_plausible() -> None:
    Path("customers.csv").write_text(
        "customer_id,birth_date\nold,1850-03-01\nfuture,2999-01-01\nok,19900517\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    assert query("SELECT customer_id, birth_date FROM customers") == [("ok", date(1990, 5, 17))]
    reasons = quarantine_reasons()
    assert "1850-03-01 is not a plausible birth date" in reasons["old"]
    assert "2999-01-01 is not a plausible birth date" in reasons["future"]


def test_one_accepted_9999_order_no_longer_reaches_the_store() -> None:
    orders_csv(Path("orders.csv"), [row(str(i)) for i in range(5)] +
               [row("9999", "9999-01-01T00:00:00")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert query("SELECT max(placed_at) FROM orders") == [(datetime(2024, 5, 1, 10),)]


# -- Brazilian exports ---------------------------------------------------------------------


def test_a_latin1_file_is_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [[f"C{i}", "São Paulo" if i % 2 else "Curitiba"] for i in range(12_000)]
    orders_csv(Path("customers.csv"), rows, header=["customer_id", "city"], encoding="latin-1")
    assert main(["import", "customers.csv", "-e", "customers"]) == 2
    assert ("customers.csv is not UTF-8 (6,000 of 12,001 lines are not); it looks like "
            "Latin-1: add --encoding latin-1") in err_of(capsys)
    assert not Path("clientela.duckdb").exists()
    assert main(["import", "customers.csv", "-e", "customers", "--encoding", "latin-1"]) == 0
    assert query("SELECT city, count(*) FROM customers GROUP BY 1 ORDER BY 1") == [
        ("Curitiba", 6000), ("São Paulo", 6000)]


def test_a_few_broken_bytes_in_a_utf8_file_are_quarantined_not_fatal() -> None:
    lines = [b"customer_id,city"] + [f"C{i},Bel\xc3\xa9m".encode("latin-1") for i in range(300)]
    lines[7] = b"C6,Bel\xe9m"
    Path("customers.csv").write_bytes(b"\n".join(lines) + b"\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    assert query("SELECT count(*) FROM customers") == [(299,)]
    assert "not valid Unicode text" in quarantine_reasons()["C6"]


def test_the_delimiter_is_detected_or_a_wrong_one_gets_a_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders_csv(Path("orders.csv"), [row("1"), row("2")], delimiter=";")
    assert main(["import", "orders.csv", "-e", "orders", "--delimiter", ","]) == 2
    assert ("orders.csv: the whole header is one column ('order_id;status;placed_at;subtotal;"
            "total;channel'); the delimiter looks like ';': use --delimiter ';'") in err_of(capsys)
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert query("SELECT order_id FROM orders ORDER BY 1") == [("1",), ("2",)]


def test_date_format_decimal_comma_and_status_map() -> None:
    orders_csv(Path("orders.csv"), [
        ["1", "Paid", "31/12/2024", "1.234,56", "1.234,56", "loja"],
        ["2", "complete", "01/02/2024 13:45", "0,99", "0,99", "loja"],
        ["3", "Cancelado", "01/02/2024", "5", "5", "loja"],
    ], delimiter=";")
    assert main(["import", "orders.csv", "-e", "orders", "--date-format", "DD/MM/YYYY",
                 "--decimal-comma", "--status-map", "Paid=paid,complete=fulfilled",
                 "--status-map", "cancelado=cancelled"]) == 0
    assert query("SELECT order_id, status, placed_at, total FROM orders ORDER BY 1") == [
        ("1", "paid", datetime(2024, 12, 31), Decimal("1234.56")),
        ("2", "fulfilled", datetime(2024, 2, 1, 13, 45), Decimal("0.99")),
        ("3", "cancelled", datetime(2024, 2, 1), Decimal("5.00")),
    ]


def test_without_decimal_comma_a_comma_amount_is_quarantined_with_the_hint() -> None:
    orders_csv(Path("orders.csv"), [row("1", total="1.234,56")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert "(add --decimal-comma for 1.234,56)" in quarantine_reasons()["1"]


# -- counts, mappings, empty files ----------------------------------------------------------


def test_counts_add_up_with_a_key_repeated_in_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    orders_csv(Path("orders.csv"), [row("1"), row("2"), row("1", total="12.00"), row("3")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    out = capsys.readouterr().out
    (stats,), = query("SELECT stats FROM runs")
    counts = json.loads(stats)
    assert (counts["read"], counts["inserted"], counts["duplicates"]) == (4, 3, 1)
    assert "│ orders │    4 │   3 │       0 │         0 │     0 │           0 │   1 │" in out
    assert "1 row(s) repeated a key of the same file: the last version of each key was kept" \
        in " ".join(out.split())
    assert query("SELECT total FROM orders WHERE order_id = '1'") == [(Decimal("12.00"),)]


def test_a_mapping_naming_a_missing_column_is_refused_before_writing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders_csv(Path("orders.csv"), [row("1")])
    assert main(["import", "orders.csv", "-e", "orders", "--map", "total=Valor"]) == 2
    assert ("--map total=Valor: orders.csv has no column 'Valor'; its columns are 'order_id'"
            in err_of(capsys))
    orders_csv(Path("no_channel.csv"), [row("1")[:5]], header=HEADER[:5])
    assert main(["import", "no_channel.csv", "-e", "orders"]) == 2
    assert ("no_channel.csv has no column for the required field 'channel': add --map "
            "channel=COLUMN or --default channel=VALUE" in err_of(capsys))
    assert not Path("clientela.duckdb").exists()


@pytest.mark.parametrize(("content", "message"), [
    ("", "orders.csv is empty: nothing to import"),
    (",".join(HEADER) + "\n", "orders.csv has a header but no rows: nothing to import"),
])
def test_an_empty_or_header_only_file_says_so(
    content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("orders.csv").write_text(content)
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert message in " ".join(capsys.readouterr().out.split())


def test_big_fields_under_a_1gb_memory_limit_are_quarantined_and_the_rest_lands() -> None:
    Path("clientela.toml").write_text('[workspace]\nmemory_limit = "1GB"\n')
    megabyte = "x" * 1_000_000
    with Path("customers.csv").open("w", encoding="utf-8") as handle:
        handle.write("customer_id,first_name\n")
        for i in range(235):
            handle.write(f"C{i},{megabyte if i < 135 else 'Ana'}\n")
    assert main(["import", "customers.csv", "-e", "customers"]) == 0
    assert query("SELECT count(*) FROM customers") == [(100,)]
    reasons = quarantine_reasons()
    assert len(reasons) == 135
    assert reasons["C0"] == ("Customer 'C0': field 'first_name': value '" + "x" * 56 +
                             "... - 1,000,000 characters; at most 131,072 are accepted")
    (payload,), = query("SELECT payload FROM quarantine WHERE record_key = 'C0'")
    assert json.loads(payload)["first_name"].endswith("... (1,000,000 characters)")


# -- progress ------------------------------------------------------------------------------


def test_progress_is_measured_in_bytes_of_the_file() -> None:
    path = orders_csv(Path("orders.csv"), [row(str(i)) for i in range(30_000)])
    source = FileSource(FileSourceConfig(path=path, entity="orders", batch_size=5_000))
    seen = []
    for batch in source.read(source.stream, {}):
        seen.append(source.bytes_done())
        assert len(batch.rows) == 5_000
    assert source.bytes_total == path.stat().st_size
    assert seen == sorted(seen) and 0 < seen[0] < source.bytes_total
    assert source.bytes_done() == source.bytes_total


# -- Ctrl-C --------------------------------------------------------------------------------


def test_ctrl_c_says_what_was_kept_and_a_rerun_finishes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    orders_csv(Path("orders.csv"), [row(str(i)) for i in range(1_000)])
    real = Store.write_parts
    calls = []

    def interrupted_on_the_third(self: Store, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "write_parts", interrupted_on_the_third)
    assert main(["import", "orders.csv", "-e", "orders", "--batch-size", "100"]) == 1
    err = err_of(capsys)
    assert ("interrupted: 200 row(s) of committed batches are kept (200 new, 0 quarantined); "
            "the batch under way was rolled back. Run the same import again to finish") in err
    assert query("SELECT count(*) FROM orders") == [(200,)]
    monkeypatch.setattr(Store, "write_parts", real)
    assert main(["import", "orders.csv", "-e", "orders", "--batch-size", "100"]) == 0
    assert query("SELECT count(*) FROM orders") == [(1_000,)]


# -- sync --full ---------------------------------------------------------------------------

CURSOR_PLUGIN = """
    from pydantic import BaseModel
    from clientela.hookspecs import hookimpl
    from clientela.model import Customer
    from clientela.sources import SourceBatch, SourceSpec, Stream

    SEEN = []

    class Config(BaseModel):
        pass

    class Counting:
        def streams(self):
            return [Stream("customers", Customer)]

        def read(self, stream, state):
            SEEN.append(dict(state))
            start = state.get("cursor", 0)
            yield SourceBatch(stream, [{"customer_id": f"c{start}", "source": "counting"}],
                              state={"cursor": start + 1})

    @hookimpl
    def register_sources(register):
        register(SourceSpec("counting", "test source with a cursor", Config,
                            lambda config: Counting()))
"""


def test_sync_full_resets_the_cursor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "counting_plugin.py").write_text(textwrap.dedent(CURSOR_PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    Path("clientela.toml").write_text("[sources.counting]\n")
    try:
        args = ["--plugin", "counting_plugin", "sync", "counting"]
        assert main(args) == 0
        assert main(args) == 0
        assert main([*args, "--full"]) == 0
        assert "--full: 1 saved cursor(s) of counting forgotten" in capsys.readouterr().out
        seen = sys.modules["counting_plugin"].SEEN
        assert seen == [{}, {"cursor": 1}, {}]
    finally:
        sys.modules.pop("counting_plugin", None)


def test_moments_that_may_lie_ahead_are_accepted_up_to_a_century() -> None:
    year = date.today().year
    Path("loyalty.csv").write_text(
        "event_id,customer_id,kind,points,occurred_at,expires_at\n"
        f"e1,c1,earn,10,2024-01-01,{year + 2}-01-01\n"
        f"e2,c1,earn,10,2024-01-01,{year + 200}-01-01\n")
    assert main(["import", "loyalty.csv", "-e", "loyalty_events"]) == 0
    assert query("SELECT event_id, expires_at FROM loyalty_events") == [
        ("e1", datetime(year + 2, 1, 1))]
    assert f"{year + 200}-01-01 00:00 is in the future" in quarantine_reasons()["e2"]


def test_a_file_that_is_not_parquet_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    orders_csv(Path("orders.parquet"), [row("1")])
    assert main(["import", "orders.parquet", "-e", "orders"]) == 2
    err = err_of(capsys)
    assert "orders.parquet is not a readable Parquet file" in err and "Traceback" not in err
    assert not Path("clientela.duckdb").exists()


def test_an_older_store_gains_the_quarantine_life_cycle_when_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import duckdb

    from clientela.store.migrations import _v1

    con = duckdb.connect("clientela.duckdb")
    con.execute("CREATE TABLE _clientela_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for statement in _v1():
        con.execute(statement)
    con.execute("INSERT INTO _clientela_meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO quarantine VALUES ('file', 'Order', 'k1', 'Order ''k1'': bad', "
                "'{}', 'h1', NULL, TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01')")
    con.close()
    assert main(["quarantine", "--json"]) == 0
    (shown,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (shown["key"], shown["reason"], shown["resolved"]) == ("k1", "Order 'k1': bad", False)


def test_typed_parquet_values_out_of_range_are_quarantined_not_fatal() -> None:
    from datetime import UTC

    pq.write_table(pa.table({
        "order_id": ["ok", "amount", "year", "points", "naive"],
        "status": ["paid"] * 5,
        "placed_at": pa.array([datetime(2024, 1, 2, 3, tzinfo=UTC), datetime(2024, 1, 2),
                               datetime(9999, 12, 31), datetime(2024, 1, 2),
                               datetime(2024, 1, 2)], pa.timestamp("us")),
        "subtotal": pa.array([Decimal("1.5"), Decimal("1" + "0" * 20), Decimal(1), Decimal(1),
                              Decimal(1)], pa.decimal128(38, 2)),
        "total": pa.array([1.5, 1.0, 1.0, 1.0, 0.1 + 0.2], pa.float64()),
        "loyalty_points_earned": pa.array([0, 0, 0, 2**64 - 1, 0], pa.uint64()),
        "channel": ["web"] * 5}), "orders.parquet")
    assert main(["import", "orders.parquet", "-e", "orders"]) == 0
    assert query("SELECT order_id, subtotal, total FROM orders ORDER BY 1") == [
        ("naive", Decimal("1.00"), Decimal("0.30")), ("ok", Decimal("1.50"), Decimal("1.50"))]
    reasons = quarantine_reasons()
    assert sorted(reasons) == ["amount", "points", "year"]
    assert "expected an amount below" in reasons["amount"]
    assert "9999-12-31 00:00 is in the future" in reasons["year"]
    assert "less than or equal to 9223372036854775807" in reasons["points"]


def test_a_byte_order_mark_never_renames_the_first_column() -> None:
    Path("customers.csv").write_bytes("\ufeffid;E-mail\nc1;a@example.com\n".encode())
    assert main(["import", "customers.csv", "-e", "customers", "--encoding", "utf-8",
                 "--map", "customer_id=id", "--map", "email=E-mail"]) == 0
    assert query("SELECT customer_id, email FROM customers") == [("c1", "a@example.com")]


def test_a_parquet_file_without_rows_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    pq.write_table(pa.table({"customer_id": pa.array([], pa.string())}), "customers.parquet")
    assert main(["import", "customers.parquet", "-e", "customers"]) == 0
    assert "customers.parquet has no rows: nothing to import" in capsys.readouterr().out


def test_the_largest_storable_amount_lands_exactly_and_one_cent_more_is_quarantined() -> None:
    orders_csv(Path("orders.csv"), [row("max", total="9999999999999999.99"),
                                    row("rounds_over", total="9999999999999999.995"),
                                    row("huge", total="1E+100")])
    assert main(["import", "orders.csv", "-e", "orders"]) == 0
    assert query("SELECT order_id, total FROM orders") == [
        ("max", Decimal("9999999999999999.99"))]
    assert sorted(quarantine_reasons()) == ["huge", "rounds_over"]
