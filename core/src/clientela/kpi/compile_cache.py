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

A fresh process (a nightly `clientela kpi`) would compile every query again: given the
backend's identity, an expression missing here is looked up in the keep across processes
(`kpi/sql_keep.py`) before it is compiled, and what is compiled is kept there.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis.expr.operations as ops

from clientela.kpi import sql_keep

SIZE = 256
"""Queries kept per backend: a 46-metric catalogue over 36 months compiles about a hundred."""

_MARK = "_clientela_compile_cache"


class CompiledSql:
    """The SQL each expression compiled to on one backend, least recently used dropped."""

    def __init__(self, compile_: Callable[..., str], size: int = SIZE,
                 identity: str | None = None) -> None:
        self._compile = compile_
        self._size = size
        self._identity = identity
        """The backend's identity in the keep across processes; None: not kept there."""
        self._sql: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self.hits = 0
        self.misses = 0
        """Not found in this process: `kept` of them found in the keep, the rest compiled."""
        self.kept = 0
        self.compile_seconds = 0.0
        self.keep_seconds = 0.0
        """Thread CPU seconds spent compiling, and spelling keys, reading and writing the keep."""

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
        if key[0].find(ops.InMemoryTable):  # its data would stay alive with the entry; and
            return self._compiled(expr, limit, pretty)  # no other call has it
        keep, kept_key = self._keep_and_key(key[0], limit, pretty)
        started = time.thread_time()
        sql = keep.get(kept_key) if keep is not None and kept_key is not None else None
        self.keep_seconds += time.thread_time() - started
        if sql is not None:
            self.kept += 1
        else:
            sql = self._compiled(expr, limit, pretty)
            if keep is not None and kept_key is not None:
                started = time.thread_time()
                keep.put(kept_key, sql)
                self.keep_seconds += time.thread_time() - started
        self._sql[key] = sql
        if len(self._sql) > self._size:
            self._sql.popitem(last=False)
        return sql

    def _compiled(self, expr: Any, limit: Any, pretty: bool) -> str:
        started = time.thread_time()
        try:
            return self._compile(expr, limit=limit, pretty=pretty)
        finally:
            self.compile_seconds += time.thread_time() - started

    def _keep_and_key(self, op: ops.Node, limit: Any, pretty: bool
                      ) -> tuple[sql_keep.SqlKeep | None, sql_keep.Key | None]:
        if self._identity is None:
            return None, None
        where = sql_keep.folder()
        if where is None:
            return None, None
        started = time.thread_time()
        kept_key = sql_keep.key_of(op, self._identity, limit, pretty)
        self.keep_seconds += time.thread_time() - started
        return _keep_in(where), kept_key


_KEEPS: dict[Path, sql_keep.SqlKeep] = {}


def _keep_in(where: Path) -> sql_keep.SqlKeep:
    found = _KEEPS.get(where)
    if found is None:
        found = _KEEPS[where] = sql_keep.SqlKeep(where)
    return found


def remember_compiled(backend: Any) -> CompiledSql | None:
    """Make `backend` compile each distinct expression once (idempotent); the cache, or None
    for a backend without a `compile` method (nothing to remember)."""
    found: CompiledSql | None = backend.__dict__.get(_MARK)
    if found is not None:
        return found
    original = getattr(backend, "compile", None)
    if not callable(original):
        return None
    cache = CompiledSql(original, identity=sql_keep.backend_identity(backend))
    backend.__dict__[_MARK] = cache
    backend.compile = cache  # an instance attribute: shadows the method for this backend only
    return cache
