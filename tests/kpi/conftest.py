from __future__ import annotations

from pathlib import Path

import pytest
from _kpi_fixtures import RecordingCache, basic_records, build_store, catalog

from clientela.kpi import engine
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.engines import PostgresServer

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


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> list[RecordingCache]:
    """The TableCache of every engine call the test makes, as made (RecordingCache)."""
    RecordingCache.made = []
    monkeypatch.setattr(engine, "TableCache", RecordingCache)
    return RecordingCache.made


@pytest.fixture(scope="session")
def postgres_server(clientela_postgres: PostgresServer) -> PostgresServer:
    """The session's throwaway PostgreSQL server (`clientela_postgres`, clientela's pytest
    plugin): skipped without PostgreSQL, failed instead with CLIENTELA_REQUIRE_POSTGRES=1."""
    return clientela_postgres