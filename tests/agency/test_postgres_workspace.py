"""A workspace whose store is a PostgreSQL database (`[store] url`): its jobs, its run
history and its lock live on the server, next to a DuckDB workspace in the same run."""

from __future__ import annotations

import pytest

from agency.helpers import PLUGIN, customers_csv, import_schedule, workspace_section
from agency.test_concurrency import plugin_path, start_run, wait_until_started  # noqa: F401
from clientela.cli.app import main
from clientela.cli.workspaces import _last_run
from clientela.store import Store
from clientela.testing.engines import PostgresServer

pytestmark = pytest.mark.postgres


def _url(server: PostgresServer) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"


def test_run_due_runs_a_postgresql_and_a_duckdb_workspace_and_both_histories_say_ok(
        tmp_path, agency_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = _url(agency_postgres)
    monkeypatch.setenv("PGSHOP_STORE", url)
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "pgshop.toml").write_text(
        '[workspace]\ntimezone = "America/Sao_Paulo"\n\n[store]\nurl = "${PGSHOP_STORE}"\n',
        encoding="utf-8")
    pg_csv = customers_csv(tmp_path / "data" / "pgshop.csv", ["P1", "P2", "P3"])
    duck_csv = customers_csv(tmp_path / "data" / "duckshop.csv", ["D1", "D2"])
    (tmp_path / "clientela-agency.toml").write_text("".join([
        '\n[workspaces.pgshop]\nconfig = "clients/pgshop.toml"\n',
        workspace_section("duckshop"),
        import_schedule("pgshop", pg_csv), import_schedule("duckshop", duck_csv),
    ]), encoding="utf-8")

    assert main(["run", "--due"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 job(s): 2 ok, 0 failed, 0 busy" in out
    with Store(url) as store:  # the job and its history went to the server
        assert store.count("customers") == 3
        assert [(r["target"], r["status"], r["stats"]["rows"]) for r in store.run_log("schedule")
                ] == [(f"import {pg_csv} --entity customers", "ok", {"customers": 3})]
    assert not (tmp_path / "pgshop.duckdb").exists()
    with Store(tmp_path / "stores" / "duckshop.duckdb", read_only=True) as store:
        assert store.count("customers") == 2
        assert [r["status"] for r in store.run_log("schedule")] == ["ok"]

    assert main(["workspaces"]) == 0  # lists the server's history (the table wraps here)
    capsys.readouterr()
    job, outcome, _ = _last_run(url)
    assert (job, outcome) == (f"import {pg_csv} --entity customers", "ok")
    assert main(["run", "--due"]) == 0  # done for the night, on both
    assert "nothing was due" in capsys.readouterr().out


def test_a_second_run_on_a_postgresql_workspace_leaves_it_to_the_first(
        tmp_path, agency_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch,
        plugin_path: None, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    url = _url(agency_postgres)
    monkeypatch.setenv("ACME_STORE", url)
    gate = tmp_path / "gate"
    (tmp_path / "clientela-agency.toml").write_text(f"""
[workspaces.acme]
store = "${{ACME_STORE}}"
timezone = "UTC"

[[schedules]]
workspace = "acme"
job = "hold"
args = ["{gate}"]
cron = "0 3 * * *"
timezone = "UTC"
""", encoding="utf-8")
    first = start_run(tmp_path)  # another process: as from another machine, only the server
    try:                         # can tell the two apart
        wait_until_started(gate, first)
        assert main(["--plugin", PLUGIN, "run", "--due"]) == 1
        out = " ".join(capsys.readouterr().out.split())
        assert f"another `clientela run` holds this store's lock (clientela pid {first.pid} " \
               "on" in out
        assert "1 job(s): 0 ok, 0 failed, 1 busy" in out
    finally:
        gate.write_text("open", encoding="utf-8")
        assert first.wait(timeout=60) == 0
    with Store(url) as store:
        assert [r["status"] for r in store.run_log("schedule")] == ["ok"]  # the first's, once
    assert not list(tmp_path.glob("*.lock"))
