"""The consent ledger's Python API on both of the store's databases: a DuckDB file, and a
new database of the session's throwaway PostgreSQL server (skipped where PostgreSQL is
missing, failed instead with CLIENTELA_REQUIRE_POSTGRES=1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clientela.store import Store


@pytest.fixture
def store(clientela_store_target: str) -> Iterator[Store]:
    """A store on each database in turn (`clientela_store_target`, clientela's pytest plugin)."""
    with Store(clientela_store_target) as opened:
        yield opened
