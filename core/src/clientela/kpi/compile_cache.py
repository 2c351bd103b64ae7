"""Compile an Ibis expression to SQL once per backend, not once per call.

A dashboard, a report or the benchmark asks the engine the same question again and again:
the same metrics over the same periods build structurally equal Ibis expressions each
time, and turning one into SQL (Ibis's rewrites, then sqlglot) costs 15-50 ms per query,
as much as running that query on a store of a million orders. Ibis expressions compare and
hash by structure, so the SQL written for one is the SQL of every equal one: this keeps it.

`remember_compiled(backend)` wraps the backend's own `compile` (every Ibis SQL backend has
one, and every execution path of the backend goes through it), so DuckDB, PostgreSQL and
PySpark run exactly the SQL they ran before, written once. Nothing else changes: an
expression that reads a table materialised during a call names that table, which no other
call shares, so it never meets a stale entry; one that holds rows in memory (a memtable) is
not kept, so no entry keeps data alive.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import ibis.expr.operations as ops

SIZE = 256
"""Queries kept per backend: a 46-metric catalogue over 36 months compiles about a hundred."""

_MARK = "_clientela_compile_cache"


class CompiledSql:
    """The SQL each expression compiled to on one backend, least recently used dropped."""

    def __init__(self, compile_: Callable[..., str], size: int = SIZE) -> None:
        self._compile = compile_
        self._size = size
        self._sql: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __call__(self, expr: Any, /, *, limit: Any = None, params: Any = None,
                 pretty: bool = False, **kwargs: Any) -> str:
        if params or kwargs:  # bound parameters change the SQL: not a cacheable question
            return self._compile(expr, limit=limit, params=params, pretty=pretty, **kwargs)
        key = (expr.op(), limit, pretty)
        found = self._sql.get(key)
        if found is not None:
            self._sql.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        sql = self._compile(expr, limit=limit, params=params, pretty=pretty)
        if key[0].find(ops.InMemoryTable):
            return sql  # its data would stay alive with the entry; and no other call has it
        self._sql[key] = sql
        if len(self._sql) > self._size:
            self._sql.popitem(last=False)
        return sql


def remember_compiled(backend: Any) -> CompiledSql | None:
    """Make `backend` compile each distinct expression once (idempotent); the cache, or None
    for a backend without a `compile` method (nothing to remember)."""
    found: CompiledSql | None = backend.__dict__.get(_MARK)
    if found is not None:
        return found
    original = getattr(backend, "compile", None)
    if not callable(original):
        return None
    cache = CompiledSql(original)
    backend.__dict__[_MARK] = cache
    backend.compile = cache  # an instance attribute: shadows the method for this backend only
    return cache
