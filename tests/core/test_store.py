"""DuckDB-only behaviour of the store (a file's schema version, DuckDB's memory limit); the
write path itself is tested on both databases in tests/store."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clientela.store import Store, StoreError
from clientela.store.migrations import SchemaTooNewError


def test_a_store_from_a_newer_clientela_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE _clientela_meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(SchemaTooNewError, match="schema version 999"):
        Store(path)


def test_memory_limit_is_applied_and_a_bad_one_is_named(tmp_path: Path) -> None:
    with Store(tmp_path / "m.duckdb", memory_limit="256MB") as store:
        limit = store.con.execute("SELECT current_setting('memory_limit')").fetchone()
        # the process's 256 MB, of which DuckDB's buffer manager gets half:
        # 128e6 bytes = 122.07 MiB, rounded down to whole MiB
        assert limit == ("122.0 MiB",)
    with pytest.raises(StoreError, match="memory_limit 'lots'"):
        Store(tmp_path / "m.duckdb", memory_limit="lots")
    with pytest.raises(StoreError, match="memory_limit"):
        Store(tmp_path / "m.duckdb", memory_limit="1GB'; DROP TABLE orders; --")
