"""`clientela segments` and `clientela clv` on Spark and PostgreSQL: computed on the engine,
saved to the workspace's store, the very tables DuckDB saves.

Each case runs the commands twice on copies of one store file: once on the store itself
(DuckDB), once with `--engine spark` (reading an export of that store) or `--engine
postgres` (a real server holding the store's tables). The derived tables they leave in the
store must match: `rfm_scores` row for row and value for value; `clv_scores` and the
fitted parameters to 1e-9 relative. Why a tolerance for CLV at all: the models are fitted
in Python on the same per-customer summary, but the summary's mean spend is a float
division the engines may round in their own order; 1e-9 is far below anything a marketer
reads and far above float64's rounding of a few additions.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from clientela.agency.parquet_export import export_parquet
from clientela.cli.app import main
from clientela.store import Store, derived
from clientela.testing.engines import (
    PostgresServer,
    postgres_backend,
    spark_available,
    spark_session,
    store_tables,
)

AS_OF = "2025-07-01"
SEGMENTS = ["segments", "rfm", "--as-of", AS_OF]
CLV = ["clv", "--horizon", "12", "--holdout", "6"]
PARAMETERS = re.compile(r"(BG/NBD|Gamma-Gamma)\s*│\s*(r|alpha|a|b|p|q|gamma)\s*│\s*([-0-9.e+]+)")


@pytest.fixture(scope="module")
def golden_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The golden test store in a file of this module's own (the commands write into it)."""
    from clientela.testing.golden import golden_store

    path = tmp_path_factory.mktemp("engine-derived") / "golden.duckdb"
    golden_store(path).close()
    yield path


def copy_of(golden_file: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}.duckdb"
    shutil.copyfile(golden_file, target)
    return target


def run(config: Path, store: Path, args: list[str], capsys: pytest.CaptureFixture[str],
        *engine: str) -> str:
    capsys.readouterr()
    code = main(["--config", str(config), "--store", str(store), *args, *engine])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def saved(store: Path, table: derived.DerivedTable) -> pa.Table:
    with Store(store, read_only=True) as opened:
        found = derived.read(opened, table)
    assert found is not None, table.name
    return found


def parameters(printed: str) -> dict[tuple[str, str], float]:
    found = {(model, name): float(value) for model, name, value in PARAMETERS.findall(printed)}
    assert len(found) == 7, printed  # r, alpha, a, b and p, q, gamma
    return found


def assert_same_clv(on_engine: pa.Table, on_duckdb: pa.Table) -> None:
    assert on_engine.column_names == on_duckdb.column_names
    assert on_engine.column("customer_id").to_pylist() == on_duckdb.column("customer_id").to_pylist()
    for column in ("clv", "p_alive", "expected_purchases"):
        for a, b in zip(on_engine.column(column).to_pylist(), on_duckdb.column(column).to_pylist(),
                        strict=True):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (column, a, b)


def compare_engine(golden_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   engine_section: str, engine: str) -> None:
    """segments rfm and clv on the store and on `engine`: the same tables in the store."""
    config = tmp_path / "clientela.toml"
    config.write_text(f'[workspace]\ntimezone = "UTC"\ncurrency = "BRL"\n{engine_section}')
    on_duckdb, on_engine = copy_of(golden_file, tmp_path, "duckdb"), copy_of(golden_file, tmp_path,
                                                                             engine)
    printed_duckdb = run(config, on_duckdb, SEGMENTS, capsys, "--engine", "duckdb")
    printed_engine = run(config, on_engine, SEGMENTS, capsys, "--engine", engine)
    assert printed_engine == printed_duckdb  # the same summary, segment by segment
    rfm = derived.segment_scores("rfm")
    duckdb_scores = saved(on_duckdb, rfm)
    assert duckdb_scores.num_rows > 100
    assert set(duckdb_scores.column("segment").to_pylist()) >= {"Champions", "Lost"}
    assert saved(on_engine, rfm).equals(duckdb_scores)
    clv_duckdb = parameters(run(config, on_duckdb, CLV, capsys, "--engine", "duckdb"))
    clv_engine = parameters(run(config, on_engine, CLV, capsys, "--engine", engine))
    # the printed parameters have 4 significant digits: they must read the same
    assert clv_engine == clv_duckdb
    assert_same_clv(saved(on_engine, derived.CLV_SCORES), saved(on_duckdb, derived.CLV_SCORES))


@pytest.mark.postgres
@pytest.mark.slow
def test_segments_and_clv_on_postgres_save_what_duckdb_saves(
        golden_file: Path, clientela_postgres: PostgresServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with Store(golden_file, read_only=True) as store:
        backend = postgres_backend(store_tables(store), clientela_postgres)
    database = backend.con.info.dbname
    backend.disconnect()
    server = clientela_postgres
    section = ('[engine]\nkind = "postgres"\n'
               f'dsn = "postgresql://{server.user}@{server.host}:{server.port}/{database}"\n')
    compare_engine(golden_file, tmp_path, capsys, section, "postgres")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_segments_and_clv_on_spark_reading_an_export_save_what_duckdb_saves(
        golden_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lake = tmp_path / "lake"
    with Store(golden_file, read_only=True) as store:
        export_parquet(store, lake)
    spark_session()  # the engine joins the active session when no master is given
    compare_engine(golden_file, tmp_path, capsys, f'[engine]\nkind = "spark"\ntables = "{lake}"\n',
                   "spark")


def test_an_engine_that_cannot_be_opened_leaves_the_store_alone(
        golden_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Spark engine pointed at a folder that is not an export: one line naming the setting
    and how to fix it, exit 2, and no scores table written."""
    store = copy_of(golden_file, tmp_path, "bad")
    config = tmp_path / "clientela.toml"
    config.write_text(f'[workspace]\ntimezone = "UTC"\n[engine]\nkind = "spark"\n'
                      f'tables = "{tmp_path / "nowhere"}"\n')
    for args in (SEGMENTS, CLV):
        capsys.readouterr()
        assert main(["--config", str(config), "--store", str(store), *args]) == 2
        err = capsys.readouterr().err
        assert "engine.tables:" in err and "clientela export --format parquet" in err, err
        assert "Traceback" not in err
    with Store(store, read_only=True) as opened:
        assert derived.read(opened, derived.segment_scores("rfm")) is None
        assert derived.read(opened, derived.CLV_SCORES) is None


def test_segments_and_clv_save_into_a_postgresql_store_what_duckdb_saves(
        golden_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        clientela_postgres: PostgresServer) -> None:
    """A workspace whose store is PostgreSQL: `segments rfm` and `clv` compute there and
    replace their tables on the server, the same rows as on the embedded store."""
    from clientela.testing.golden import golden_store

    url = (f"postgresql://{clientela_postgres.user}@{clientela_postgres.host}:"
           f"{clientela_postgres.port}/{clientela_postgres.new_database()}")
    server_config = tmp_path / "server.toml"
    server_config.write_text(f'[store]\nurl = "{url}"\n')
    config = tmp_path / "clientela.toml"
    config.write_text("")
    golden_store(url).close()  # type: ignore[arg-type]  # a URL opens the server's store
    local = copy_of(golden_file, tmp_path, "local")
    for args in (SEGMENTS, CLV, SEGMENTS):  # the second segments run replaces the first
        capsys.readouterr()
        code = main(["--config", str(server_config), *args])
        printed = capsys.readouterr().out
        assert code == 0, printed
        assert printed == run(config, local, args, capsys)
    with Store(url, read_only=True) as opened:
        on_server = derived.read(opened, derived.segment_scores("rfm"))
        clv_server = derived.read(opened, derived.CLV_SCORES)
    assert on_server is not None and clv_server is not None
    key = [("customer_id", "ascending")]
    assert (on_server.sort_by(key).to_pylist()
            == saved(local, derived.segment_scores("rfm")).sort_by(key).to_pylist())
    assert_same_clv(clv_server, saved(local, derived.CLV_SCORES))
