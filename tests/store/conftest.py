"""The store's own suite runs on both of its databases: DuckDB (a file) and PostgreSQL.

PostgreSQL is a throwaway server for the session (as the KPI tests start it), one new
database per test. Where PostgreSQL is missing the PostgreSQL cases are skipped, unless
CLIENTELA_REQUIRE_POSTGRES=1 (CI), which makes that a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clientela.store import Store
from clientela.testing.engines import PostgresServer


@pytest.fixture(scope="session")
def store_postgres_server(clientela_postgres: PostgresServer) -> PostgresServer:
    """The session's throwaway PostgreSQL server (`clientela_postgres`, clientela's pytest
    plugin): skipped without PostgreSQL, failed instead with CLIENTELA_REQUIRE_POSTGRES=1."""
    return clientela_postgres


@pytest.fixture
def store_target(clientela_store_target: str) -> str:
    """Where a store for this test lives: a DuckDB file, then a new PostgreSQL database's URL
    (`clientela_store_target`, clientela's pytest plugin)."""
    return clientela_store_target


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    with Store(store_target) as opened:
        yield opened
