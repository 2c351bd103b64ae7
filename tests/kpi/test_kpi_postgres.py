"""The whole built-in catalogue on the golden store, DuckDB vs PostgreSQL: identical tables.

A real server, not a compilation (tests/kpi/test_kpi_postgres_sql.py only compiles): the
`postgres_server` fixture (tests/kpi/conftest.py) runs a throwaway PostgreSQL, and the
golden store's tables are copied into a fresh database of it with their exact types
(clientela.testing.engines.postgres_backend). Marked `postgres`: skipped without
PostgreSQL's binaries or psycopg, unless CLIENTELA_REQUIRE_POSTGRES=1 (as in CI).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from clientela.metrics.catalog import builtin_metrics
from clientela.store import Store
from clientela.testing.conformance import (
    check_catalogue,
)
from clientela.testing.engines import (
    PostgresServer,
    duckdb_backend,
    postgres_backend,
    store_tables,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CATALOGUE = {m.name: m for m in builtin_metrics()}
@pytest.fixture(scope="module")
def backends(clientela_golden_store: Store, postgres_server: PostgresServer
             ) -> list[tuple[str, Any]]:
    tables = store_tables(clientela_golden_store)
    return [("duckdb", duckdb_backend(tables)),
            ("postgres", postgres_backend(tables, postgres_server))]


def test_the_loader_keeps_every_column_type(backends: list[tuple[str, Any]]) -> None:
    """DECIMAL stays DECIMAL with its scale, timestamps stay naive, lists stay arrays: the
    same Ibis schema on both engines, so a difference in answers is never the loader's."""
    (_, duck), (_, pg) = backends
    for name in duck.list_tables():
        found, expected = pg.table(name).schema(), duck.table(name).schema()
        assert list(found.names) == list(expected.names), name
        for column in expected.names:
            a, b = expected[column], found[column]
            assert type(a) is type(b), (name, column, a, b)
            if a.is_decimal():
                assert (a.precision, a.scale) == (b.precision, b.scale), (name, column)
            if a.is_timestamp():
                assert a.timezone is None and b.timezone is None, (name, column)
        assert pg.table(name).count().execute() == duck.table(name).count().execute()
    total = pg.table("orders").total.sum().execute()  # money sums exactly, to the cent
    assert isinstance(total, Decimal)
    assert total == duck.table("orders").total.sum().execute()


def test_catalogue_identical_on_duckdb_and_postgres(backends: list[tuple[str, Any]]) -> None:
    series = check_catalogue(backends, CATALOGUE)
    assert {r["metric"] for r in series["postgres"].rows()} == set(CATALOGUE)
