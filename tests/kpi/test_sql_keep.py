"""Compiled SQL kept across processes (clientela.kpi.sql_keep): a fresh backend reading the
same keep gets each query's SQL without compiling it and answers as a compile does; the key
tells apart expressions differing in one literal, column or table schema; the tables a call
writes (random names) are put back in the kept SQL exactly; an entry that does not check
out is compiled again. On DuckDB and PostgreSQL (a fresh backend stands for a fresh
process: the per-process cache is per backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from _kpi_fixtures import basic_records, build_store

from clientela.kpi import compute, sql_keep
from clientela.kpi.compile_cache import CompiledSql, remember_compiled
from clientela.store import Store
from clientela.testing.engines import PostgresServer, duckdb_backend, postgres_backend, store_tables

METRICS = ["revenue", "orders", "aov", "active_customers", "new_customers",
           "repeat_rate", "retention_rate", "rfm_segments"]
"""Several metrics, so the engine writes shared tables (Ibis `cache()`, random names)."""
SPAN: dict[str, Any] = dict(start="2025-01", end="2025-04", grain="month")
ROWS = {"x": pa.array([1, 2, 3, 4], pa.int64()), "y": pa.array(["a", "b", "a", "c"])}


@pytest.fixture
def keep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "sql-keep"
    monkeypatch.setenv(sql_keep.ENV, str(folder))
    return folder


@pytest.fixture(params=["duckdb", "postgres"])
def fresh_backend(request: pytest.FixtureRequest, basic_store: Store
                  ) -> Callable[[], Any]:
    """Makes a new backend holding the basic store's tables (a new database on PostgreSQL)."""
    tables = store_tables(basic_store)
    if request.param == "duckdb":
        return lambda: duckdb_backend(tables)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return lambda: postgres_backend(tables, server)


def _cache(backend: Any) -> CompiledSql:
    cache = remember_compiled(backend)
    assert cache is not None
    return cache


def test_a_fresh_backend_reads_every_query_from_the_keep(
        keep: Path, fresh_backend: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    first = fresh_backend()
    answered = compute(first, METRICS, **SPAN).rows()
    compiled = _cache(first)
    assert compiled.kept == 0 and compiled.misses >= 8
    assert len(list(keep.glob("*.sql"))) == compiled.misses

    second = fresh_backend()  # another process would start here: nothing compiled yet
    again = compute(second, METRICS, **SPAN).rows()
    read = _cache(second)
    assert (read.misses, read.kept, read.compile_seconds) == (compiled.misses, compiled.misses, 0)
    assert again == answered

    monkeypatch.setenv(sql_keep.ENV, "off")  # and both equal what a compile answers
    off = fresh_backend()
    assert compute(off, METRICS, **SPAN).rows() == answered
    assert _cache(off).kept == 0 and _cache(off).misses == compiled.misses


_CHILD = """
import json, sys
from clientela.kpi import compute
from clientela.kpi.compile_cache import remember_compiled
from clientela.store import Store

with Store(sys.argv[1]) as store:
    rows = compute(store, sys.argv[2].split(","), start="2025-01", end="2025-04",
                   grain="month").rows()
    cache = remember_compiled(store.ibis())
    print(json.dumps({"compiled": cache.misses - cache.kept, "kept": cache.kept,
                      "rows": repr(rows)}))
"""


def test_another_process_compiles_nothing_whatever_its_hash_seed(
        keep: Path, tmp_path: Path) -> None:
    """Two real processes, whose string hashing differs (a set of strings iterates in
    another order in each: PYTHONHASHSEED 0 and 1 order the invalid order statuses
    apart), build the same queries: the second finds every one in the keep."""
    path = tmp_path / "store.duckdb"
    build_store(path, *basic_records()).close()

    def run(seed: str) -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path), ",".join(METRICS)],
                             capture_output=True, text=True, check=True,
                             env=dict(os.environ, PYTHONHASHSEED=seed))
        found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return found

    first, second = run("0"), run("1")
    assert first["kept"] == 0 and first["compiled"] >= 8
    assert (second["compiled"], second["kept"]) == (0, first["compiled"])
    assert second["rows"] == first["rows"]


def _key(expr: ibis.Expr, backend: Any) -> str:
    found = sql_keep.key_of(expr.op(), sql_keep.backend_identity(backend), None, False)
    assert found is not None
    return found.digest


def test_one_literal_column_or_schema_apart_is_another_key() -> None:
    duck = ibis.duckdb.connect()
    duck.create_table("t", ibis.memtable(ROWS))
    duck.create_table("u", schema=ibis.schema({"x": "int32", "y": "string"}))
    t, u = duck.table("t"), duck.table("u")

    def query(table: ibis.Table, above: Any = 1, column: str = "x") -> ibis.Table:
        kept = table.filter(table[column] > above)
        return kept.aggregate(n=kept.count())

    base = _key(query(t), duck)
    assert _key(query(duck.table("t")), duck) == base  # built again: the same key
    assert _key(query(t, 2), duck) != base  # one literal
    assert _key(query(t, ibis.literal(1, "int64")), duck) != base  # its type (1 is int8)
    assert _key(query(t, 1.0), duck) != base
    assert _key(query(t, "1", "y"), duck) != _key(query(t, "2", "y"), duck)
    assert _key(query(t, "1", "y"), duck) != base  # one column
    assert _key(query(u), duck) != base  # a table of the same columns, another schema
    same_schema = ibis.table(t.schema(), name="t")  # the same name and schema, unbound
    assert _key(query(same_schema), duck) != base
    other = ibis.duckdb.connect()
    other.create_table("t", ibis.memtable(ROWS))
    assert _key(query(other.table("t")), other) == base  # another store, the same columns
    assert sql_keep.key_of(query(t).op(), "another dialect", None, False).digest != base
    with_limit = sql_keep.key_of(query(t).op(), sql_keep.backend_identity(duck), 10, False)
    assert with_limit is not None and with_limit.digest != base
    fused = ibis.options.sql.fuse_selects
    try:
        ibis.options.sql.fuse_selects = not fused
        assert _key(query(t), duck) != base  # an option the compiler reads
    finally:
        ibis.options.sql.fuse_selects = fused


def test_rows_in_memory_are_not_keyed() -> None:
    rows = ibis.memtable(ROWS)
    assert sql_keep.key_of(rows.count().op(), "duckdb", None, False) is None


def _two_written(backend: Any) -> tuple[ibis.Table, ibis.Table]:
    t = backend.table("t")
    return t.filter(t.x > 1).cache(), t.filter(t.x > 2).cache()


def _joined(a: ibis.Table, b: ibis.Table) -> ibis.Table:
    """The rows of `a` not in `b`: which table is which changes the answer."""
    left = a.anti_join(b, "x")
    return left.aggregate(n=left.count(), top=left.x.max())


def test_written_tables_are_put_back_by_name(keep: Path) -> None:
    """Two calls (backends) whose `cache()` tables have other random names: the second gets
    SQL naming its own tables, in the right places, and the right answers."""
    seen: list[tuple[str, str]] = []
    for call in range(2):
        duck = ibis.duckdb.connect()
        duck.create_table("t", ibis.memtable(ROWS))
        cache = _cache(duck)
        wider, narrower = _two_written(duck)  # x > 1 (3 rows), x > 2 (2 rows)
        seen.append((wider.op().name, narrower.op().name))
        # either order, and one table twice: a placeholder stands for a position, not a name
        for left, right, expected in ((wider, narrower, {"n": [1], "top": [2]}),
                                      (narrower, wider, {"n": [0], "top": [None]}),
                                      (wider, wider, {"n": [0], "top": [None]}),
                                      (wider, duck.table("t"), {"n": [0], "top": [None]})):
            sql = cache(_joined(left, right))
            assert left.op().name in sql and right.op().name in sql
            assert call == 0 or not any(name in sql for name in seen[0])  # not the first's
            assert "__clientela_kept_table_" not in sql
            assert duck.to_pyarrow(_joined(left, right)).to_pydict() == expected
        # the second query is the first with the two tables' places swapped: the same SQL
        # with the names put back the other way round, kept from the first even in call 0
        assert (cache.misses, cache.kept) == (4, 1 if call == 0 else 4)
    assert len({*seen[0], *seen[1]}) == 4


def test_the_swap_is_checked_both_ways() -> None:
    name = "ibis_cached_" + "a" * 26
    assert sql_keep.to_placeholders(f'SELECT * FROM "{name}"', [name]) == \
        'SELECT * FROM "__clientela_kept_table_0__"'
    assert sql_keep.to_placeholders('SELECT "__clientela_kept_table_0__"', [name]) is None
    assert sql_keep.from_placeholders('SELECT * FROM "__clientela_kept_table_1__"', [name]) \
        is None  # a placeholder the call has no table for


@pytest.mark.parametrize("spoil", [
    lambda text: text[: len(text) // 2],  # cut short (a crash while writing elsewhere)
    lambda text: text.replace("SELECT", "DELETE"),  # edited
    lambda text: "\x00\xff garbage",
    lambda text: text.replace("clientela-sql-keep 1", "clientela-sql-keep 0"),
])
def test_an_entry_that_does_not_check_out_is_compiled_again(
        keep: Path, spoil: Callable[[str], str]) -> None:
    def fresh() -> tuple[Any, CompiledSql, ibis.Table]:
        duck = ibis.duckdb.connect()
        duck.create_table("t", ibis.memtable(ROWS))
        t = duck.table("t")
        return duck, _cache(duck), t.filter(t.x > 1).aggregate(n=lambda s: s.count())

    duck, cache, expr = fresh()
    expected = cache(expr)
    (entry,) = keep.glob("*.sql")
    entry.write_text(spoil(entry.read_text()), encoding="utf-8", errors="surrogateescape")
    duck, cache, expr = fresh()
    assert cache(expr) == expected
    assert (cache.misses, cache.kept) == (1, 0)
    assert duck.to_pyarrow(expr).to_pydict() == {"n": [3]}
    duck, cache, expr = fresh()  # compiled again, it was kept again, whole
    assert cache(expr) == expected and cache.kept == 1


def test_an_unwritable_or_missing_keep_only_compiles(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(sql_keep.ENV, str(blocked / "keep"))
    duck = ibis.duckdb.connect()
    duck.create_table("t", ibis.memtable(ROWS))
    _cache(duck)
    assert duck.to_pyarrow(duck.table("t").count().as_table()).num_rows == 1
    assert (_cache(duck).misses, _cache(duck).kept) == (1, 0)


def test_the_least_recently_used_entries_go_past_the_size(tmp_path: Path) -> None:
    keep = sql_keep.SqlKeep(tmp_path, size=2)
    keys = [sql_keep.Key(f"{n:040x}", []) for n in range(3)]
    for n, key in enumerate(keys):
        keep.put(key, f"SELECT {n}")
        os.utime(tmp_path / f"{key.digest}.sql", (1_000_000 + n, 1_000_000 + n))
    assert keep.get(keys[0]) == "SELECT 0"  # used now: the most recent
    keep.prune()
    assert sorted(p.name for p in tmp_path.glob("*.sql")) == \
        [f"{keys[0].digest}.sql", f"{keys[2].digest}.sql"]
    assert keep.get(keys[1]) is None and keep.get(keys[2]) == "SELECT 2"
