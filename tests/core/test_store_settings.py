"""What a DuckDB store's connection runs with: DuckDB's buffer manager gets half of the
process's memory_limit and its allocator gives memory back early, and a read-only
connection does not keep insertion order."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientela.store import Store, StoreError
from clientela.store.duckdb_settings import (
    MemoryLimitError,
    duckdb_memory_limit,
    size_in_bytes,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("2GB", 2_000_000_000),
    ("1.5GiB", 1_610_612_736),
    ("512 MB", 512_000_000),
    ("64mib", 67_108_864),
])
def test_sizes_read_in_duckdbs_units(text: str, expected: int) -> None:
    assert size_in_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "2 parsecs", "0GB", "", "1GB'; DROP TABLE orders; --"])
def test_a_size_that_is_not_one_is_named(text: str) -> None:
    with pytest.raises(MemoryLimitError, match=f"memory_limit {text!r}: expected a size"):
        size_in_bytes(text)


def test_duckdb_gets_half_the_process_limit_in_whole_mib() -> None:
    # 1e9 bytes = 953.67 MiB; 1.5 GiB / 2 = 768 MiB
    assert duckdb_memory_limit("2GB") == "953MiB"
    assert duckdb_memory_limit("1.5GiB") == "768MiB"


def _setting(store: Store, name: str) -> object:
    row = store.con.execute(f"SELECT current_setting('{name}')").fetchone()
    assert row is not None
    return row[0]


def test_a_read_only_store_gets_the_share_and_free_row_order(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path, memory_limit="2GB") as store:
        assert _setting(store, "memory_limit") == "953.0 MiB"
        assert _setting(store, "preserve_insertion_order") is True
        # under a limit the allocator hands freed memory back early
        assert _setting(store, "allocator_flush_threshold") == "7.6 MiB"  # 8 MB
        assert _setting(store, "allocator_bulk_deallocation_flush_threshold") == "30.5 MiB"
        assert _setting(store, "allocator_background_threads") is True
    with Store(path, read_only=True, memory_limit="200MiB") as store:
        assert _setting(store, "memory_limit") == "100.0 MiB"
        assert _setting(store, "preserve_insertion_order") is False
        # the Ibis backend the KPI engine reads through is this very connection
        backend = store.ibis()
        assert backend.raw_sql(
            "SELECT current_setting('preserve_insertion_order')").fetchone() == (False,)


def test_a_bad_limit_is_a_store_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"memory_limit '2 parsecs': expected a size such as 2GB"):
        Store(tmp_path / "s.duckdb", memory_limit="2 parsecs")


def test_without_a_limit_duckdbs_defaults_stay(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        assert _setting(store, "allocator_flush_threshold") == "128.0 MiB"
        assert _setting(store, "allocator_background_threads") is False
