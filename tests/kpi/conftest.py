from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _kpi_fixtures import basic_records, build_store, catalog

from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing import engines
from clientela.testing.engines import PostgresServer

REQUIRE_POSTGRES = "CLIENTELA_REQUIRE_POSTGRES"
"""Set to 1 (CI does) to make a missing or broken PostgreSQL a failure instead of a skip."""


@pytest.fixture
def metrics() -> dict[str, Metric]:
    return catalog()


@pytest.fixture
def basic_store(tmp_path: Path) -> Store:
    customers, orders = basic_records()
    store = build_store(tmp_path / "basic.duckdb", customers, orders)
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole session (initdb into a temporary
    directory, pg_ctl on a free 127.0.0.1 port), stopped and deleted at the end.

    Skipped where PostgreSQL's binaries or the psycopg driver are missing, or the server
    will not start; with CLIENTELA_REQUIRE_POSTGRES=1 each of those fails instead, so CI
    cannot pass by skipping the tests it is there to run."""
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
