"""A throwaway PostgreSQL server for the engine tests, started only when one asks for it."""

from __future__ import annotations

import pytest

from clientela.testing.engines import PostgresServer


@pytest.fixture(scope="module")
def agency_postgres(clientela_postgres: PostgresServer) -> PostgresServer:
    """The session's throwaway PostgreSQL server (`clientela_postgres`, clientela's pytest
    plugin): skipped without PostgreSQL, failed instead with CLIENTELA_REQUIRE_POSTGRES=1."""
    return clientela_postgres