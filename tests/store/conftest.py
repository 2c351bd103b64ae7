"""The store's own suite runs on both of its databases: DuckDB (a file) and PostgreSQL.

PostgreSQL is a throwaway server for the session (as the KPI tests start it), one new
database per test. Where PostgreSQL is missing the PostgreSQL cases are skipped, unless
CLIENTELA_REQUIRE_POSTGRES=1 (CI), which makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.store import Store
from clientela.testing.engines import PostgresServer


@pytest.fixture(scope="session")
def store_postgres_server(clientela_postgres: PostgresServer) -> PostgresServer:
    """The session's throwaway PostgreSQL server (`clientela_postgres`, clientela's pytest
    plugin): skipped without PostgreSQL, failed instead with CLIENTELA_REQUIRE_POSTGRES=1."""
    return clientela_postgres


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store for this test lives: a DuckDB file, or a new PostgreSQL database's URL."""
    if request.param == "duckdb":
        return str(tmp_path / "store.duckdb")
    server: PostgresServer = request.getfixturevalue("store_postgres_server")
    return f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    with Store(store_target) as opened:
        yield opened
