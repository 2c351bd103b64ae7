"""Each distinct expression is compiled to SQL once per backend; equal expressions built
again (the same call repeated) reuse that SQL, and the answer is the same."""

from __future__ import annotations

import ibis

from clientela.kpi.compile_cache import CompiledSql, remember_compiled


def _count(backend: ibis.BaseBackend, above: int) -> ibis.Table:
    table = backend.table("t")
    kept = table.filter(table.x > above)
    return kept.aggregate(n=kept.count())


def test_an_equal_expression_is_compiled_once() -> None:
    backend = ibis.duckdb.connect()
    backend.create_table("t", ibis.memtable({"x": [1, 2, 3, 4]}))
    cache = remember_compiled(backend)
    assert isinstance(cache, CompiledSql)
    assert remember_compiled(backend) is cache  # idempotent: wrapped once
    first = _count(backend, 1).to_pyarrow().to_pydict()
    again = _count(backend, 1).to_pyarrow().to_pydict()  # built anew, structurally equal
    other = _count(backend, 2).to_pyarrow().to_pydict()  # another literal: another query
    assert (first, again, other) == ({"n": [3]}, {"n": [3]}, {"n": [2]})
    assert (cache.misses, cache.hits) == (2, 1)


def test_bound_parameters_are_never_cached() -> None:
    backend = ibis.duckdb.connect()
    backend.create_table("t", ibis.memtable({"x": [1, 2, 3, 4]}))
    cache = remember_compiled(backend)
    assert cache is not None
    above = ibis.param("int64")
    table = backend.table("t")
    kept = table.filter(table.x > above)
    expr = kept.aggregate(n=kept.count())
    assert expr.execute(params={above: 1})["n"][0] == 3
    assert expr.execute(params={above: 3})["n"][0] == 1
    assert (cache.misses, cache.hits) == (0, 0)


def test_the_oldest_query_is_dropped_past_the_size() -> None:
    compiled: list[str] = []

    def compile_(expr: ibis.Expr, **_: object) -> str:
        compiled.append(str(expr.op().name))
        return str(len(compiled))

    cache = CompiledSql(compile_, size=2)
    a, b, c = (ibis.table({"x": "int64"}, name=n) for n in "abc")
    assert [cache(a), cache(b), cache(a), cache(c), cache(b)] == ["1", "2", "1", "3", "4"]
    assert compiled == ["a", "b", "c", "b"]  # b was the least recently used when c came


def test_an_expression_holding_data_in_memory_is_not_kept() -> None:
    """A memtable's rows would stay alive as long as the entry (and no other call has it)."""
    backend = ibis.duckdb.connect()
    cache = remember_compiled(backend)
    assert cache is not None
    rows = ibis.memtable({"x": [1, 2, 3]})
    assert backend.execute(rows.aggregate(n=rows.count()))["n"][0] == 3
    assert backend.execute(rows.aggregate(n=rows.count()))["n"][0] == 3
    assert (cache.misses, cache.hits) == (2, 0)
