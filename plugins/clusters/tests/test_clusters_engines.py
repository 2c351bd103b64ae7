"""`clientela segments clusters --engine postgres`: the feature table is pulled from the
engine, k-means runs here, and the store gets the clusters DuckDB gives.

The store is the fifteen customers of test_clusters (three groups of five, far apart), its
tables copied into a real PostgreSQL server; the command runs once on the store and once on
the server, each on its own copy of the store file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_clusters import records

from clientela import plugins
from clientela.cli.app import main
from clientela.cli.common import workspace
from clientela.store import Store, derived
from clientela.testing.engines import PostgresServer, postgres_backend, store_tables


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-clusters")
    plugins.reset(forget_local=True)
    # the settings an earlier test's command loaded stay cached in this process: read ours
    monkeypatch.setattr(workspace, "_settings", None)


@pytest.mark.postgres
@pytest.mark.slow
def test_clusters_on_postgres_save_what_duckdb_saves(
        clientela_postgres: PostgresServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    on_duckdb = tmp_path / "duckdb.duckdb"
    customers, orders = records()
    with Store(on_duckdb) as store:
        store.upsert(customers)
        store.upsert(orders)
        backend = postgres_backend(store_tables(store), clientela_postgres)
    on_postgres = tmp_path / "postgres.duckdb"
    shutil.copyfile(on_duckdb, on_postgres)
    database = backend.con.info.dbname
    backend.disconnect()
    server = clientela_postgres
    config = tmp_path / "clientela.toml"
    config.write_text('[workspace]\ntimezone = "UTC"\n[engine]\nkind = "postgres"\n'
                      f'dsn = "postgresql://{server.user}@{server.host}:{server.port}/{database}"\n')
    printed = {}
    for engine, path in (("duckdb", on_duckdb), ("postgres", on_postgres)):
        capsys.readouterr()
        assert main(["--config", str(config), "--store", str(path), "segments", "clusters",
                     "--as-of", "2025-07-01", "--engine", engine]) == 0
        printed[engine] = capsys.readouterr().out
    assert printed["postgres"] == printed["duckdb"]
    table = derived.segment_scores("clusters")
    with Store(on_duckdb, read_only=True) as store:
        expected = derived.read(store, table)
    with Store(on_postgres, read_only=True) as store:
        found = derived.read(store, table)
    assert expected is not None and found is not None
    # the three groups, numbered by revenue: L* first, then M*, then O*
    assert dict(zip(expected["customer_id"].to_pylist(), expected["cluster"].to_pylist(),
                    strict=True)) == {f"{g}{i}": n for n, g in enumerate("LMO", 1)
                                      for i in range(5)}
    assert found.equals(expected)
