"""The store: one DuckDB file by default (nothing to start), or a PostgreSQL database.

`Store` is the only object that writes. Every batch (records, their
rejections and the cursor that covers them) is one transaction, so a crash
at any point leaves the file as it was before the batch or after it, never
in between, and the next run resumes from the last committed cursor. A
batch may span entities (a page's orders and their lines): parents and
children then land together or not at all, for one commit instead of two.

`Store("postgresql://user@host/db")` keeps the same tables in a PostgreSQL
database instead (`clientela.store.postgres`): the same SQL, translated, and
the same guarantees, PostgreSQL's transactions standing in for DuckDB's.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from clientela.model.base import Record
from clientela.model.entities import ENTITIES, Customer
from clientela.model.validation import Rejection
from clientela.store import duckdb_settings
from clientela.store.dialect import Dialect, dialect_of
from clientela.store.forget_requests import ForgetRequests
from clientela.store.forgotten import forgotten_digests, scrub_forgotten, scrub_rejections
from clientela.store.migrations import META_TABLE, RUNS_TABLE, SYNC_STATE_TABLE, migrate
from clientela.store.postgres import is_postgres_url, mask_url
from clientela.store.push_state import PushState
from clientela.store.quarantine import quarantine_rejections, resolve_landed
from clientela.store.upsert import (
    UpsertCounts,
    insert_new_arrow,
    records_to_arrow,
    upsert_arrow,
)

if TYPE_CHECKING:
    import ibis.backends.duckdb

DEFAULT_PATH = Path("clientela.duckdb")
SINGLE_THREADED_ROWS = 100_000
"""Batches below this are written on one DuckDB thread: at a sync's few thousand rows a
batch, parallel operators cost more than they save (about 10% of a sync's CPU)."""


class StoreError(RuntimeError):
    """The store file cannot be used (locked by another process, unreadable, too new)."""


class IncompleteStoreWarning(UserWarning):
    """A store opened for reading holds a load that was interrupted (figures are partial)."""


class StorePathError(StoreError):
    """The store path is not a DuckDB file: a user mistake (exit 2 at the CLI), such as
    `--store customers.csv`, which would otherwise open or clobber the wrong file."""


MIGRATION_LOCK = 0x636C69656E74656C
"""The PostgreSQL advisory lock held while a store's schema is brought up to date."""
STORE_SUFFIXES = (".duckdb", ".ddb", ".db")
DUCKDB_MAGIC = b"DUCK"
"""A DuckDB file carries these bytes at offset 8 of its header."""
NO_DOWNLOADS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False, "autoload_known_extensions": False}
"""The store never fetches DuckDB extensions from the network (opening a SQLite file would
otherwise try to download the sqlite scanner)."""


def check_store_path(path: Path) -> None:
    """Refuse a path that is not a DuckDB store, before DuckDB opens (or creates) it."""
    if path.suffix.lower() not in STORE_SUFFIXES:
        raise StorePathError(
            f"the store {path} must be a DuckDB file ending in .duckdb (or .ddb/.db), not "
            f"{path.suffix or 'a name without extension'}; to import a file use "
            "`clientela import FILE --entity ...`")
    if path.exists():
        if path.is_dir():
            raise StorePathError(f"the store {path} is a folder, not a DuckDB file")
        with path.open("rb") as handle:
            header = handle.read(16)
        if header and header[8:12] != DUCKDB_MAGIC:
            kind = "a SQLite database" if header.startswith(b"SQLite format") else (
                "a Parquet file" if header.startswith(b"PAR1") else "not a DuckDB file")
            raise StorePathError(f"the store {path} exists and is {kind}; point --store "
                                 "(or [workspace] store) at a .duckdb file")


@dataclass
class BatchResult:
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    quarantined: int = 0
    rejected: int = 0
    forgotten: int = 0
    """Rows of people who asked to be forgotten, landed without their personal fields."""


@dataclass(frozen=True)
class BatchPart:
    """One entity's share of a batch: its good records (or an Arrow table) and rejections."""

    model: type[Record]
    data: Sequence[Record] | pa.Table
    rejections: Sequence[Rejection] = ()


StreamState = tuple[str, str, Mapping[str, Any]]
"""(source, stream, state to resume after the batch)."""


LOADING_MARKER = "loading"
"""Meta key set while a multi-batch load (the demo) runs, cleared when it completes."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _record_consent(con: Any, table: pa.Table, *, before: bool) -> None:
    """Customer rows carry consent columns and addresses: the ledger learns from them in the
    same transaction (see clientela.consent.columns): before they land, which addresses they
    replace; after, what consent they state."""
    from clientela.consent import columns
    from clientela.store.upsert import conform

    rows = "_consent_customers"
    con.register(rows, conform(Customer, table))
    try:
        (columns.note_address_changes if before else columns.record_customer_rows)(con, rows)
    finally:
        con.unregister(rows)


class Store:
    """A clientela store file. Use as a context manager, or call `close()`."""

    def __init__(self, path: str | Path = DEFAULT_PATH, *, read_only: bool = False,
                 memory_limit: str | None = None) -> None:
        """`path` is a DuckDB file, or a `postgresql://` URL (see `clientela.store.postgres`).

        `memory_limit` (e.g. "2GB") is what the process working on the store may hold:
        DuckDB's buffer manager gets a share of it and spills the rest of its work to a
        temporary directory, leaving the remainder for Python and the results it reads
        (`clientela.store.duckdb_settings`). Without it DuckDB may keep up to 80% of the
        machine's RAM, which a KPI run over millions of orders does use. PostgreSQL
        ignores it (its server's settings apply)."""
        self.url: str | None = None
        self._ibis: Any = None
        if is_postgres_url(path):
            self._open_postgres(str(path))
            return
        self.path = Path(path)
        try:
            if read_only and not self.path.exists():
                raise StoreError(f"no store at {self.path}: run `clientela demo` or an import first")
            check_store_path(self.path)
            self.con = duckdb.connect(str(self.path), read_only=read_only, config=NO_DOWNLOADS)
        except duckdb.IOException as error:
            raise StoreError(f"cannot open the store {self.path}: {error}") from None
        self.con.execute("SET TimeZone = 'UTC'")
        try:
            duckdb_settings.apply(self.con, memory_limit=memory_limit, read_only=read_only)
        except (duckdb_settings.MemoryLimitError, duckdb.Error) as error:
            self.con.close()
            raise StoreError(str(error) if isinstance(error, ValueError)
                             else f"memory_limit {memory_limit!r}: {error}") from None
        if not read_only:
            migrate(self.con)
        if read_only and (note := self.incomplete_load()):
            warnings.warn(note, IncompleteStoreWarning, stacklevel=2)

    def _open_postgres(self, url: str) -> None:
        """A PostgreSQL store: always migrated (its tables must exist to be read). Its locks
        (a push's, a scheduled run's) are the server's advisory locks, not files, so they
        hold across machines (`clientela.store.postgres.advisory_lock`)."""
        from clientela.store.postgres import PostgresConnection

        self.url = url
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", url.split("@")[-1])
        self.path = Path(f"postgres-{name}")
        try:
            self.con = PostgresConnection(url)  # type: ignore[assignment]
        except Exception as error:
            raise StoreError(f"cannot open the PostgreSQL store {mask_url(url)}: "
                             f"{mask_url(str(error))}") from None
        self.con.execute("SET TimeZone = 'UTC'")
        # two processes opening a new database at once must not both create its tables
        self.con.execute("SELECT pg_advisory_lock(?)", [MIGRATION_LOCK])
        try:
            migrate(self.con)
        finally:
            self.con.execute("SELECT pg_advisory_unlock(?)", [MIGRATION_LOCK])

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of this store's database (`clientela.store.dialect`)."""
        return dialect_of(self.con)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.url is not None and self._ibis is not None:
            self._ibis.disconnect()
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.begin()
        try:
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    @contextmanager
    def rolled_back(self) -> Iterator[Any]:
        """A transaction that is always rolled back: what a dry run reads after writing
        (e.g. consent learned from a destination), leaving the store as it was."""
        self.con.begin()
        try:
            yield self.con
        finally:
            self.con.rollback()

    # -- repositories: the store's other tables, written only through these -------------

    @property
    def push_state(self) -> PushState:
        """The push engine's tables (what each destination holds, the push log)."""
        return PushState(self.con)

    @property
    def forget_requests(self) -> ForgetRequests:
        """Erasure requests and what they erase in the store."""
        return ForgetRequests(self.con)

    @contextmanager
    def _single_threaded(self, wanted: bool) -> Iterator[None]:
        if not wanted or self.url is not None:
            yield
            return
        row = self.con.execute("SELECT current_setting('threads')").fetchone()
        threads = int(row[0]) if row else 1
        if threads == 1:
            yield
            return
        self.con.execute("SET threads = 1")
        try:
            yield
        finally:
            self.con.execute(f"SET threads = {threads}")

    # -- writing -----------------------------------------------------------------

    def write_batch(
        self,
        model: type[Record],
        data: Sequence[Record] | pa.Table,
        *,
        rejections: Sequence[Rejection] = (),
        source: str | None = None,
        state: StreamState | None = None,
        run_id: str | None = None,
    ) -> BatchResult:
        """Land good records, quarantine bad ones and move a cursor, all in one transaction.

        `state` is (source, stream, new state): it is committed with the batch it
        covers and never before, which is what makes a sync resumable.
        """
        part = BatchPart(model, data, rejections)
        states = [state] if state is not None else []
        return self.write_parts([part], source=source, states=states, run_id=run_id)[0]

    def write_parts(
        self,
        parts: Sequence[BatchPart],
        *,
        source: str | None = None,
        states: Sequence[StreamState] = (),
        run_id: str | None = None,
    ) -> list[BatchResult]:
        """`write_batch` for several entities at once: one transaction,
        every part and every state in it, or none of them."""
        tables = [part.data if isinstance(part.data, pa.Table)
                  else records_to_arrow(part.model, part.data) for part in parts]
        results: list[BatchResult] = []
        small = sum(table.num_rows for table in tables) < SINGLE_THREADED_ROWS
        with self._single_threaded(small), self.transaction() as con:
            digests = forgotten_digests(con)
            for part, table in zip(parts, tables, strict=True):
                results.append(self._write_part(con, part.model, table, part.rejections,
                                                digests, source, run_id))
            for state in states:
                self._put_state(con, *state)
        return results

    @staticmethod
    def _write_part(
        con: duckdb.DuckDBPyConnection,
        model: type[Record],
        table: pa.Table,
        rejections: Sequence[Rejection],
        digests: frozenset[str],
        source: str | None,
        run_id: str | None,
    ) -> BatchResult:
        result = BatchResult(rejected=len(rejections))
        if digests:
            rejections = scrub_rejections(rejections, digests)
            if model is Customer:
                table, result.forgotten = scrub_forgotten(table, digests)
        consent = model is Customer and table.num_rows > 0
        if consent:
            _record_consent(con, table, before=True)
        result.counts = upsert_arrow(con, model, table)
        if consent:
            _record_consent(con, table, before=False)
            _link_persons(con, table)  # the persons of these records, in the same transaction
        origin = source or (str(table.column("source")[0]) if table.num_rows else "unknown")
        if table.num_rows:  # before this batch's rejections: a key rejected here stays open
            resolve_landed(con, origin, model, table)
        if rejections:
            result.quarantined = quarantine_rejections(con, origin, rejections, run_id)
        return result

    def insert_new(self, model: type[Record], table: pa.Table, *,
                   state: StreamState | None = None) -> UpsertCounts:
        """Bulk-insert rows whose keys are all new (a derived table's first full build),
        and move a cursor, in one transaction. Cheaper than `write_batch` at millions of
        rows; a key already stored raises and nothing is written. No quarantine and no
        forgotten-customer scrubbing: for rows the caller computed, not a source's."""
        with self.transaction() as con:
            counts = insert_new_arrow(con, model, table)
            if model is Customer and table.num_rows:
                _link_persons(con, table)
            if state is not None:
                self._put_state(con, *state)
        return counts

    def remove_source(self, *sources: str) -> int:
        """Delete every row these sources landed, in every entity table (children first), in
        one transaction; returns how many (e.g. a demo drawn with another seed)."""
        removed = 0
        marks = ", ".join("?" for _ in sources)
        with self.transaction() as con:
            for model in reversed(ENTITIES):
                removed += len(con.execute(
                    f'DELETE FROM "{model.table}" WHERE source IN ({marks}) RETURNING 1',
                    list(sources)).fetchall())
            if removed:
                from clientela.store.touched import record_everything

                record_everything(con)  # every kept KPI answer may have read those rows
        return removed

    def upsert(self, records: Sequence[Record]) -> UpsertCounts:
        """Upsert canonical records of one entity (the simple Python API)."""
        if not records:
            return UpsertCounts()
        model = type(records[0])
        if any(type(record) is not model for record in records):
            raise TypeError("upsert() takes records of one entity at a time")
        return self.write_batch(model, records).counts

    # -- sync state ----------------------------------------------------------------

    @staticmethod
    def _put_state(
        con: duckdb.DuckDBPyConnection, source: str, stream: str, state: Mapping[str, Any]
    ) -> None:
        con.execute(
            f"""INSERT INTO {SYNC_STATE_TABLE} (source, stream, state, updated_at)
                VALUES (?, ?, ?, ?) ON CONFLICT (source, stream)
                DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at""",
            [source, stream, json.dumps(dict(state), sort_keys=True, default=str), _now()],
        )

    def get_state(self, source: str, stream: str) -> dict[str, Any]:
        row = self.con.execute(
            f"SELECT state FROM {SYNC_STATE_TABLE} WHERE source = ? AND stream = ?",
            [source, stream],
        ).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def set_state(self, source: str, stream: str, state: Mapping[str, Any]) -> None:
        with self.transaction() as con:
            self._put_state(con, source, stream, state)

    def reset_state(self, source: str, streams: Sequence[str] | None = None) -> int:
        """Forget a source's cursors (all streams, or these): the next sync reads everything
        again. Returns how many cursors were dropped."""
        query = f"DELETE FROM {SYNC_STATE_TABLE} WHERE source = ?"
        params: list[Any] = [source]
        if streams:
            query += f" AND stream IN ({', '.join('?' for _ in streams)})"
            params.extend(streams)
        row = self.con.execute(query + " RETURNING stream", params).fetchall()
        return len(row)

    # -- markers -------------------------------------------------------------------

    def get_marker(self, key: str) -> str | None:
        """A value kept in the store's meta table (e.g. a demo load still under way)."""
        row = self.con.execute(f"SELECT value FROM {META_TABLE} WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_marker(self, key: str, value: str | None) -> None:
        if value is None:
            self.con.execute(f"DELETE FROM {META_TABLE} WHERE key = ?", [key])
        else:
            self.con.execute(f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?) ON CONFLICT "
                             "(key) DO UPDATE SET value = EXCLUDED.value", [key, value])

    def incomplete_load(self) -> str | None:
        """What a warning should say when a load into this store was interrupted (the demo
        marks its load and clears the mark when done); None when the store is complete."""
        try:
            marker = self.get_marker(LOADING_MARKER)
        except duckdb.Error:
            return None
        if marker is None:
            return None
        return (f"this store is incomplete: {marker} was interrupted; the figures cover only "
                "what was loaded. Run it again to finish.")

    # -- run log -------------------------------------------------------------------

    def start_run(self, kind: str, target: str) -> str:
        run_id = uuid.uuid4().hex
        self.con.execute(
            f"INSERT INTO {RUNS_TABLE} (run_id, kind, target, started_at, finished_at, status, "
            "stats, message) VALUES (?, ?, ?, ?, NULL, 'running', NULL, NULL)",
            [run_id, kind, target, _now()],
        )
        return run_id

    def finish_run(
        self, run_id: str, status: str, stats: Mapping[str, Any], message: str | None = None
    ) -> None:
        self.con.execute(
            f"UPDATE {RUNS_TABLE} SET finished_at = ?, status = ?, stats = ?, message = ? "
            "WHERE run_id = ?",
            [_now(), status, json.dumps(dict(stats), sort_keys=True, default=str), message, run_id],
        )

    def interrupt_runs(self, kind: str | None, message: str, *,
                       target_prefix: str | None = None,
                       started_since: datetime | None = None) -> int:
        """Mark runs of `kind` (any kind if None; whose target starts with `target_prefix`,
        and started at or after `started_since`, if given) still 'running' as 'interrupted':
        call it only while holding the lock that guards those runs, when none of them can
        really be running. Returns how many."""
        where: list[str] = ["status = 'running'"]
        params: list[str | datetime] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if target_prefix is not None:
            where.append("starts_with(target, ?)")
            params.append(target_prefix)
        if started_since is not None:
            where.append("started_at >= ?")
            params.append(started_since)
        with self.transaction() as con:
            rows = con.execute(f"UPDATE {RUNS_TABLE} SET finished_at = ?, status = 'interrupted', "
                               f"message = ? WHERE {' AND '.join(where)} RETURNING 1",
                               [_now(), message, *params]).fetchall()
        return len(rows)

    def last_run_status(self, kind: str, target: str) -> str | None:
        """The status of the latest run of `kind` on `target` (None: never run)."""
        row = self.con.execute(f"SELECT status FROM {RUNS_TABLE} WHERE kind = ? AND target = ? "
                               "ORDER BY started_at DESC LIMIT 1", [kind, target]).fetchone()
        return None if row is None else str(row[0])

    def run_log(self, kind: str | None = None, target: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
        """The run log, newest first (started_at and finished_at are naive UTC)."""
        where, params = [], []
        for column, value in (("kind", kind), ("target", target)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (f"SELECT run_id, kind, target, started_at, finished_at, status, stats, message "
               f"FROM {RUNS_TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY started_at DESC, finished_at DESC NULLS FIRST LIMIT ?")
        rows = self.con.execute(sql, [*params, limit]).fetchall()
        columns = ("run_id", "kind", "target", "started_at", "finished_at", "status", "stats",
                   "message")
        runs = [dict(zip(columns, row, strict=True)) for row in rows]
        for run in runs:
            run["stats"] = json.loads(run["stats"]) if run["stats"] else {}
        return runs

    # -- reading -------------------------------------------------------------------

    def count(self, table: str) -> int:
        row = self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def counts(self) -> dict[str, int]:
        return {model.table: self.count(model.table) for model in ENTITIES}

    def ibis(self) -> ibis.backends.duckdb.Backend:
        """An Ibis backend on this very connection, for the KPI engine (on PostgreSQL, a
        connection of its own to the same database)."""
        if self._ibis is None:
            import ibis

            self._ibis = (ibis.duckdb.from_connection(self.con) if self.url is None
                          else ibis.connect(self.url))
        return self._ibis


def _link_persons(con: Any, table: pa.Table) -> None:
    """Resolve the landed customer records into persons (`clientela.identity`), on either
    database (the graph's SQL is translated for PostgreSQL like the rest of the store's)."""
    from clientela.identity.resolve import link_batch

    link_batch(con, table)
