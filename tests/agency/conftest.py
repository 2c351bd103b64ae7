"""A throwaway PostgreSQL server for the engine tests, started only when one asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from clientela.testing import engines
from clientela.testing.engines import PostgresServer

REQUIRE_POSTGRES = "CLIENTELA_REQUIRE_POSTGRES"


@pytest.fixture(scope="module")
def agency_postgres() -> Iterator[PostgresServer]:
    """Skipped without PostgreSQL's binaries or psycopg, failed instead when
    CLIENTELA_REQUIRE_POSTGRES=1 (as in CI), like the KPI engine tests."""
    missing = engines.postgres_missing()
    if missing is not None:
        if os.environ.get(REQUIRE_POSTGRES) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES}=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    server = engines.start_postgres()
    try:
        yield server
    finally:
        server.stop()
