"""pytest plugin (entry point `pytest11`): fixtures for testing metrics on every engine.

Import-light on purpose: pytest loads it in every project that has
clientela installed, so nothing heavy (Ibis, Spark) is imported until a
fixture is used.

    def test_my_metric(clientela_conformance):
        result = clientela_conformance([MY_METRIC], start="2024-01", end="2025-01",
                                       grain="quarter")
        assert len(result) > 0

`clientela_conformance` computes the metrics on the golden store with DuckDB
and, when PySpark and Java are available, with PySpark, and fails unless the
answers are identical; then it compiles each metric (whole and by each slice
it declares) for PostgreSQL, without a server, and fails when it would not
run there (`clientela.testing.portability`). `--clientela-engines=duckdb`
limits the engines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from clientela.kpi import KpiResult
    from clientela.store import Store
    from clientela.testing.engines import PostgresServer

REQUIRE_POSTGRES = "CLIENTELA_REQUIRE_POSTGRES"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clientela")
    group.addoption("--clientela-engines", default="auto",
                    help="Engines for clientela_conformance: auto (DuckDB, plus PySpark when "
                    "available) or a comma list of duckdb,pyspark.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "spark: runs on PySpark local mode (needs Java; skipped without pyspark)")


@pytest.fixture(scope="session")
def clientela_golden_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The golden store (clientela.testing.golden) in a session-wide DuckDB file."""
    from clientela.testing.golden import golden_store

    store = golden_store(Path(tmp_path_factory.mktemp("clientela-golden")) / "golden.duckdb")
    yield store
    store.close()


@pytest.fixture(scope="session")
def clientela_engines(clientela_golden_store: Store, request: pytest.FixtureRequest
                      ) -> list[tuple[str, Any]]:
    """(name, Ibis backend) for every engine to test on, each holding the golden tables."""
    from clientela.testing.engines import engines, spark_available, store_tables

    wanted = str(request.config.getoption("--clientela-engines"))
    if wanted == "auto":
        spark = spark_available()
    else:
        names = {n.strip() for n in wanted.split(",")}
        spark = "pyspark" in names
        if spark and not spark_available():
            pytest.skip("pyspark or java is not available")
    return list(engines(store_tables(clientela_golden_store), spark=spark))


@pytest.fixture
def clientela_conformance(clientela_engines: list[tuple[str, Any]]
                          ) -> Callable[..., KpiResult]:
    """A function: (metrics, **compute kwargs) -> the result, after asserting that every
    engine returned exactly the same table and that every metric compiles for PostgreSQL."""
    from clientela.testing.conformance import conform
    from clientela.testing.portability import check_postgres

    def check(metrics: list[Any], **kwargs: Any) -> KpiResult:
        kwargs.setdefault("timezone", "America/Sao_Paulo")
        result = conform(clientela_engines, metrics, **kwargs)
        check_postgres(clientela_engines[0][1], metrics, params=kwargs.get("params"),
                       timezone=kwargs["timezone"], catalog=kwargs.get("catalog"))
        return result

    return check


@pytest.fixture(scope="session")
def clientela_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session (initdb into a temporary
    directory, pg_ctl on a free 127.0.0.1 port), stopped and deleted at the end; ask it for
    a fresh database with `new_database()`.

    Skipped where PostgreSQL's binaries or the psycopg driver are missing, or the server
    will not start; with CLIENTELA_REQUIRE_POSTGRES=1 each of those fails instead, so CI
    cannot pass by skipping the tests it is there to run."""
    import os

    from clientela.testing import engines

    required = os.environ.get(REQUIRE_POSTGRES) == "1"
    missing = engines.postgres_missing()
    if missing is not None:
        if required:
            pytest.fail(f"{REQUIRE_POSTGRES}=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    try:
        server = engines.start_postgres()
    except Exception as error:
        if required:
            raise
        pytest.skip(f"PostgreSQL did not start here: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def clientela_store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store for this test lives, once per database: a DuckDB file in the test's
    folder (`clientela.duckdb`, the default store a CLI command opens there), then a new
    database on the session's PostgreSQL server (`clientela_postgres`) as a URL. A test
    that takes it runs twice and must expect the same values on both."""
    if request.param == "duckdb":
        return str(tmp_path / "clientela.duckdb")
    server: PostgresServer = request.getfixturevalue("clientela_postgres")
    return f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"


def clientela_store_toml(target: str) -> str:
    """The `[store]` section a workspace's clientela.toml needs to use `target` (empty
    for the default DuckDB file)."""
    return f'\n[store]\nurl = "{target}"\n' if target.startswith("postgresql://") else ""
