"""The consent ledger's Python API on both of the store's databases: a DuckDB file, and a
new database of the session's throwaway PostgreSQL server (skipped where PostgreSQL is
missing, failed instead with CLIENTELA_REQUIRE_POSTGRES=1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clientela.store import Store
from clientela.testing.engines import PostgresServer


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "duckdb":
        target = str(tmp_path / "store.duckdb")
    else:
        server: PostgresServer = request.getfixturevalue("clientela_postgres")
        target = (f"postgresql://{server.user}@{server.host}:{server.port}/"
                  f"{server.new_database()}")
    with Store(target) as opened:
        yield opened
