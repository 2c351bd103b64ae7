"""PostgreSQL as the store: a connection that speaks to the store as DuckDB's does.

The store (`Store`) and its repositories talk to a connection with `execute`
(`?` parameters), `begin`/`commit`/`rollback`, and `register`/`unregister` of
an Arrow table as a named relation. `PostgresConnection` gives psycopg that
shape: each statement goes through the PostgreSQL dialect
(`clientela.store.dialect`), a registered Arrow table is copied (COPY) into a
temporary table of that name, and transactions are explicit, as in DuckDB
(outside `begin`, each statement commits on its own). The transactional
guarantees are PostgreSQL's own: a batch, its quarantine and its cursor
commit together or not at all.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from clientela.store.dialect import POSTGRES, quote

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEMES)


def mask_url(text: str) -> str:
    """`text` with the password of any URL in it hidden (it may name the store's DSN)."""
    return re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)


def _pg_type(kind: pa.DataType) -> str:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return "TEXT"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(kind):
        return f"NUMERIC({kind.precision},{kind.scale})"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP" if kind.tz is None else "TIMESTAMPTZ"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return f"{_pg_type(kind.value_type)}[]"
    raise TypeError(f"no PostgreSQL type for Arrow type {kind}")


_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(), 21: pa.int16(), 23: pa.int32(), 20: pa.int64(), 700: pa.float32(),
    701: pa.float64(), 25: pa.string(), 1043: pa.string(), 1042: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
    1009: pa.list_(pa.string()), 1015: pa.list_(pa.string()),
}
"""PostgreSQL type OIDs (`pg_type`) and the Arrow types DuckDB gives the same columns."""


def _arrow_type(column: Any, *, empty: bool) -> pa.DataType | None:
    """The Arrow type of a result column (None: inferred from its values)."""
    if column.type_code == 1700:  # NUMERIC: typed when declared, else as its values say
        if column.precision is not None and column.scale is not None:
            return pa.decimal128(column.precision, column.scale)
        return pa.decimal128(38, 9) if empty else None
    return _ARROW_TYPES.get(column.type_code)


class Result:
    """What `execute` returns: the rows of the statement just run."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cursor.description is None:
            return None
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:
            return []
        return [tuple(row) for row in self._cursor.fetchall()]

    def to_arrow_table(self) -> pa.Table:
        """The rows as Arrow, each column typed by PostgreSQL's own column type (so an empty
        result or an all-NULL column keeps its type, as DuckDB's Arrow does)."""
        columns = list(self._cursor.description or [])
        rows = self.fetchall()
        return pa.table({column.name: pa.array([row[i] for row in rows],
                                               _arrow_type(column, empty=not rows))
                         for i, column in enumerate(columns)})

    fetch_arrow_table = to_arrow_table


class PostgresConnection:
    """psycopg, shaped as the store's DuckDB connection (see the module docstring)."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self._pg = psycopg.connect(url, autocommit=True)
        self._registered: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
                ) -> Result:
        """Run `sql` with `?` parameters (a sequence) or DuckDB's `$name` ones (a mapping)."""
        has_params = params is not None and len(params) > 0
        text = self.dialect.sql(sql, params=has_params)
        cursor = self._pg.cursor()
        values: Any = None
        if has_params and params is not None:
            values = dict(params) if isinstance(params, Mapping) else list(params)
        cursor.execute(text, values)
        return Result(cursor)

    def begin(self) -> None:
        self._pg.execute("BEGIN")

    def commit(self) -> None:
        self._pg.execute("COMMIT")

    def rollback(self) -> None:
        self._pg.execute("ROLLBACK")

    def register(self, name: str, table: pa.Table) -> None:
        """`table` as a temporary table `name` of this session (copied in, not viewed)."""
        self.unregister(name)
        columns = ", ".join(f"{quote(field.name)} {_pg_type(field.type)}"
                            for field in table.schema)
        self._pg.execute(f"CREATE TEMP TABLE {quote(name)} ({columns})")
        self._registered.add(name)
        names = ", ".join(quote(field.name) for field in table.schema)
        with self._pg.cursor() as cursor, cursor.copy(
                f"COPY {quote(name)} ({names}) FROM STDIN") as copy:
            for batch in table.to_batches():
                for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                    copy.write_row(row)

    def unregister(self, name: str) -> None:
        from psycopg.pq import TransactionStatus

        if self._pg.info.transaction_status == TransactionStatus.INERROR:
            return  # the rollback to come drops it (or it was never made)
        self._pg.execute(f"DROP TABLE IF EXISTS pg_temp.{quote(name)}")
        self._registered.discard(name)

    def close(self) -> None:
        self._pg.close()


class AdvisoryLockBusy(RuntimeError):
    """Another session holds the advisory lock; `holder` says who, as far as the server
    shows it (the holder's `application_name`, set by `advisory_lock`)."""

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"{name} is held by {holder}")
        self.holder = holder


def lock_key(name: str) -> int:
    """PostgreSQL's 64-bit advisory-lock key for a lock name (a signed bigint)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


def lock_holder(pg: Any, key: int) -> str:
    """Who holds the advisory lock `key` on this database: its application name, host and
    start, or 'unknown' when the server does not show them to us."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    row = pg.execute(
        "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1",
        [unsigned >> 32, unsigned & 0xFFFFFFFF]).fetchone()
    if row is None or not row[0]:
        return "unknown"
    started = f", since {row[2]:%Y-%m-%d %H:%M:%S %Z}" if row[2] is not None else ""
    return f"{row[0]}{started}"


@contextmanager
def advisory_lock(url: str, name: str, *, wait: float = 0.0, poll: float = 0.2
                  ) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock `name` on the database at `url` for the
    block: what serialises work on one PostgreSQL store across processes *and* machines,
    where a lock file serialises one machine only. It lives on a connection of its own,
    so the server drops it when that connection ends, even when the process is killed
    (its socket closes). Tries for `wait` seconds, then raises `AdvisoryLockBusy` naming the
    holder (each holder labels its connection with its pid, host and lock name)."""
    import psycopg

    label = f"clientela pid {os.getpid()} on {socket.gethostname()}: {name}"[:63]
    key = lock_key(name)
    try:
        pg = psycopg.connect(url, autocommit=True, application_name=label)
    except psycopg.Error as error:
        from clientela.store.store import StoreError

        raise StoreError(f"cannot open the PostgreSQL store {mask_url(url)}: "
                         f"{mask_url(str(error))}") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            row = pg.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
            if row is not None and row[0]:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise AdvisoryLockBusy(name, lock_holder(pg, key))
            time.sleep(min(poll, left))
        yield
    finally:
        pg.close()  # ending the session releases the lock
