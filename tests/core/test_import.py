from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clientela.cli.app import main
from clientela.store import Store

BAD_ROWS = {
    100: ("email", "not-an-email"),
    500: ("birth_date", "31/02/1990"),
    900: ("consent_email", "maybe"),
}


def customers_csv(path: Path, n: int = 1000, bad: dict[int, tuple[str, str]] | None = None) -> Path:
    bad = BAD_ROWS if bad is None else bad
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "E-mail", "first_name", "birth_date", "consent_email", "tags"])
        for i in range(n):
            row = {"id": f"C{i:05d}", "E-mail": f"person{i}@example.com", "first_name": f"P{i}",
                   "birth_date": "1990-05-17", "consent_email": "subscribed", "tags": "vip;bf"}
            if i in bad:
                column, value = bad[i]
                row["E-mail" if column == "email" else column] = value
            writer.writerow(row.values())
    return path


def snapshot(store_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Everything a run leaves, minus load times and run ids."""
    with Store(store_path) as store:
        out: dict[str, list[tuple[object, ...]]] = {}
        for table in store.counts():
            cols = [c for (c,) in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND column_name <> '_loaded_at' ORDER BY ordinal_position", [table]).fetchall()]
            out[table] = store.con.execute(
                f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()
        out["quarantine"] = store.con.execute(
            "SELECT source, entity, record_key, reason, payload FROM quarantine ORDER BY ALL"
        ).fetchall()
        return out


IMPORT = ["import", "customers.csv", "--entity", "customers", "--map", "customer_id=id",
          "--map", "email=E-mail"]


def test_997_load_and_3_are_quarantined_with_reasons(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    customers_csv(tmp_path / "customers.csv")
    assert main(IMPORT) == 0
    out = capsys.readouterr().out
    assert "1000" in out and "997" in out
    with Store("clientela.duckdb") as store:
        assert store.count("customers") == 997
        reasons = store.con.execute(
            "SELECT record_key, reason FROM quarantine ORDER BY record_key").fetchall()
    assert reasons == [
        ("C00100", "Customer 'C00100': field 'email': value 'not-an-email' - expected an e-mail "
                   "address like name@example.com"),
        ("C00500", "Customer 'C00500': field 'birth_date': value '31/02/1990' - expected a date "
                   "as YYYY-MM-DD"),
        ("C00900", "Customer 'C00900': field 'consent_email': value 'maybe' - Input should be "
                   "'subscribed', 'pending', 'unsubscribed' or 'unknown'"),
    ]


def test_importing_the_same_file_again_changes_nothing(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    customers_csv(tmp_path / "customers.csv")
    assert main(IMPORT) == 0
    first = snapshot(tmp_path / "clientela.duckdb")
    capsys.readouterr()
    assert main(IMPORT) == 0
    out = capsys.readouterr().out
    assert "│ customers │ 1000 │   0 │       0 │       997 │" in out.replace("  ", " ").replace(
        "  ", " ") or "997" in out
    assert snapshot(tmp_path / "clientela.duckdb") == first
    with Store("clientela.duckdb") as store:
        stats = store.con.execute("SELECT stats FROM runs ORDER BY started_at").fetchall()
    assert [json.loads(s)["unchanged"] for (s,) in stats] == [0, 997]
    assert [json.loads(s)["inserted"] for (s,) in stats] == [997, 0]


def test_jsonl_and_parquet_with_defaults(tmp_path: Path) -> None:
    rows = [{"order_id": "1", "status": "paid", "placed_at": "2025-01-01T10:00:00",
             "subtotal": "10", "total": "10"},
            {"order_id": "2", "status": "paid", "placed_at": "2025-01-02T10:00:00",
             "subtotal": "5", "total": "5", "channel": "app"}]
    (tmp_path / "orders.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n{broken\n[1, 2]\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist([{**rows[0], "channel": None}, rows[1]]),
                   tmp_path / "orders.parquet")
    assert main(["import", "orders.jsonl", "-e", "orders", "--default", "channel=store"]) == 0
    assert main(["import", "orders.parquet", "-e", "orders", "--default", "channel=store",
                 "--source-name", "pos"]) == 0
    with Store("clientela.duckdb") as store:
        assert store.con.execute(
            "SELECT source, order_id, channel FROM orders ORDER BY ALL").fetchall() == [
            ("file", "1", "store"), ("file", "2", "app"), ("pos", "1", "store"), ("pos", "2", "app")]
        reasons = [r for (r,) in store.con.execute(
            "SELECT reason FROM quarantine ORDER BY reason").fetchall()]
    assert reasons == ["Order '?': line 3: not valid JSON (Expecting property name enclosed in "
                       "double quotes)", "Order '?': line 4: expected a JSON object"]


@pytest.mark.parametrize(("args", "message"), [
    (["import", "missing.csv", "-e", "customers"], "no such file: missing.csv"),
    (["import", "customers.csv", "-e", "clients"], "unknown entity 'clients'"),
    (["import", "customers.csv", "-e", "customers", "--map", "email"],
     "--map 'email': expected FIELD=VALUE"),
    (["import", "customers.xlsx", "-e", "customers"], "cannot tell the format of customers.xlsx"),
])
def test_user_mistakes_name_the_input_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    customers_csv(tmp_path / "customers.csv", n=3, bad={})
    (tmp_path / "customers.xlsx").write_bytes(b"PK")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from clientela.sources.files import FileSource, FileSourceConfig
    from clientela.store import Store
    from clientela.sync import run_sync

    config = FileSourceConfig(path=Path(sys.argv[1]), entity="customers", batch_size=100,
                              mapping={"customer_id": "id", "email": "E-mail"})

    def die(stream, batch):
        if stream.batches == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    with Store("clientela.duckdb") as store:
        run_sync(store, "file", FileSource(config), context={}, on_batch=die, kind="import")
""")


def _clean_reference(tmp_path: Path, csv_path: Path) -> dict[str, list[tuple[object, ...]]]:
    clean = tmp_path / "clean"
    clean.mkdir()
    os.chdir(clean)
    assert main([*IMPORT[:1], str(csv_path), *IMPORT[2:], "--batch-size", "100"]) == 0
    os.chdir(tmp_path)
    return snapshot(clean / "clientela.duckdb")


def test_sigkill_after_a_committed_batch_then_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    csv_path = customers_csv(tmp_path / "customers.csv")
    (tmp_path / "killer.py").write_text(KILLER)
    done = subprocess.run([sys.executable, "killer.py", str(csv_path), "4"], check=False)
    assert done.returncode == -signal.SIGKILL
    with Store("clientela.duckdb") as store:
        assert store.count("customers") == 399  # 4 batches of 100, one bad row among them
    assert main([*IMPORT, "--batch-size", "100"]) == 0
    assert snapshot(tmp_path / "clientela.duckdb") == _clean_reference(tmp_path, csv_path)


def test_sigkill_at_an_arbitrary_moment_then_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    csv_path = customers_csv(tmp_path / "customers.csv", n=20_000,
                             bad={5: ("email", "x"), 15_000: ("email", "y")})
    process = subprocess.Popen(
        [sys.executable, "-m", "clientela.cli.app", "import", str(csv_path), "-e", "customers",
         "--map", "customer_id=id", "--map", "email=E-mail", "--batch-size", "500"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "clientela.duckdb").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.8)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert main([*IMPORT[:1], str(csv_path), *IMPORT[2:], "--batch-size", "500"]) == 0
    assert snapshot(tmp_path / "clientela.duckdb") == _clean_reference(tmp_path, csv_path)


def test_column_mapping_from_the_configuration(tmp_path: Path) -> None:
    customers_csv(tmp_path / "customers.csv", n=5, bad={})
    (tmp_path / "clientela.toml").write_text(
        '[sources.file.mappings.customers]\ncustomer_id = "id"\nemail = "E-mail"\n')
    assert main(["import", "customers.csv", "--entity", "customers"]) == 0
    with Store("clientela.duckdb") as store:
        assert store.con.execute(
            "SELECT customer_id, email, tags FROM customers ORDER BY 1 LIMIT 2").fetchall() == [
            ("C00000", "person0@example.com", ["vip", "bf"]),
            ("C00001", "person1@example.com", ["vip", "bf"]),
        ]


def test_a_forgotten_person_stays_forgotten_when_the_source_sends_them_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customers_csv(tmp_path / "customers.csv", n=3, bad={})
    assert main(IMPORT) == 0
    assert main(["forget", "Person1@example.com"]) == 0
    out = capsys.readouterr().out
    assert "person1@example.com" not in out
    assert main(IMPORT) == 0
    with Store("clientela.duckdb") as store:
        rows = store.con.execute(
            "SELECT customer_id, email, first_name, tags, consent_email FROM customers ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("C00000", "person0@example.com", "P0", ["vip", "bf"], "subscribed"),
        ("C00001", None, None, None, "unsubscribed"),
        ("C00002", "person2@example.com", "P2", ["vip", "bf"], "subscribed"),
    ]


def test_a_forgotten_persons_rejected_row_is_quarantined_without_personal_data(
    tmp_path: Path,
) -> None:
    customers_csv(tmp_path / "customers.csv", n=3, bad={})
    assert main(IMPORT) == 0
    assert main(["forget", "person1@example.com"]) == 0
    customers_csv(tmp_path / "customers.csv", n=3, bad={1: ("birth_date", "1990-13-45")})
    assert main(IMPORT) == 0
    with Store("clientela.duckdb") as store:
        (payload, reason), = store.con.execute("SELECT payload, reason FROM quarantine").fetchall()
    assert json.loads(payload) == {"consent_email": "subscribed", "customer_id": "C00001",
                                   "source": "file"}
    assert "1990-13-45" not in reason and "example.com" not in reason
