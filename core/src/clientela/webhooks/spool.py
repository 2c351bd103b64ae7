"""The durable spool: every accepted delivery is on disk before its 200 goes out.

A separate SQLite file, not a table in the DuckDB store, because:
- the store takes one writer process at a time; with the spool apart, a
  `clientela sync` or `kpi` holding the store never makes the receiver
  refuse (and the platform retry, or disable, the webhook): deliveries keep
  landing in the spool and the applier catches up when the store is free;
- SQLite in WAL mode with `synchronous=FULL` makes a small append durable
  (the WAL is fsynced at commit) at a cost of one fsync per commit.

Commits are grouped: one writer thread takes every delivery waiting in its
queue, inserts them in one transaction and only then resolves each
request's future, so a flood costs one fsync per group, not per delivery.

`UNIQUE(platform, delivery_id)` is the deduplication: a replayed delivery
is ignored by the insert itself, so two copies racing each other are still
spooled once. SQLite's `UNIQUE` lets NULLs repeat: platforms without a
delivery id are never deduplicated. Sequence numbers come from a single
writer, so they are committed in order and a high-water mark is a safe
cursor for the applier.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    delivery_id TEXT,
    topic TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (platform, delivery_id)
);
CREATE INDEX IF NOT EXISTS events_by_platform ON events (platform, seq);
"""


@dataclass(frozen=True)
class SpooledEvent:
    seq: int
    platform: str
    delivery_id: str | None
    topic: str
    received_at: str
    body: bytes = field(repr=False)

    def payload(self) -> Any:
        """The JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body)


@dataclass
class _Pending:
    platform: str
    delivery_id: str | None
    topic: str
    body: bytes
    future: Future[bool]


_STOP = object()


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.executescript(SCHEMA)
    return con


class Spool:
    """Open with `Spool(path).start()`; `submit()` from any thread, `close()` to flush and stop."""

    def __init__(self, path: str | Path, *, max_group: int = 512, max_waiting: int = 8_192,
                 on_commit: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self.max_group = max_group
        self.max_waiting = max_waiting
        self.on_commit = on_commit
        self._queue: queue.Queue[_Pending | object] = queue.Queue(maxsize=max_waiting)
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self.commits = 0
        """Transactions committed by the writer, for tests of grouping."""

    # -- writing --------------------------------------------------------------------

    def start(self) -> Spool:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_loop, name="webhook-spool",
                                            daemon=True)
            self._thread.start()
        return self

    def submit(self, platform: str, delivery_id: str | None, topic: str,
               body: bytes) -> Future[bool]:
        """Resolves to True once spooled, False for a delivery already spooled; raises on a
        disk failure. Blocks only when `max_waiting` deliveries are queued."""
        future: Future[bool] = Future()
        self._queue.put(_Pending(platform, delivery_id, topic, body, future))
        return future

    def append(self, platform: str, delivery_id: str | None, topic: str, body: bytes) -> bool:
        return self.start().submit(platform, delivery_id, topic, body).result()

    def _write_loop(self) -> None:
        con = connect(self.path)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group: list[_Pending] = [first]  # type: ignore[list-item]
                stop = False
                while len(group) < self.max_group:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    group.append(item)  # type: ignore[arg-type]
                self._commit(con, group)
                if stop:
                    return
        finally:
            con.close()

    def _commit(self, con: sqlite3.Connection, group: list[_Pending]) -> None:
        now = datetime.now(UTC).isoformat()
        try:
            con.execute("BEGIN IMMEDIATE")
            added = [con.execute(
                "INSERT OR IGNORE INTO events (platform, delivery_id, topic, received_at, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (p.platform, p.delivery_id, p.topic, now, p.body)).rowcount == 1 for p in group]
            con.execute("COMMIT")
        except sqlite3.Error as error:
            if con.in_transaction:
                con.execute("ROLLBACK")
            for pending in group:
                pending.future.set_exception(error)
            return
        self.commits += 1
        for pending, new in zip(group, added, strict=True):
            pending.future.set_result(new)
        if self.on_commit is not None:
            self.on_commit()

    def stop_writer(self) -> None:
        """Commit what is queued and stop the writer; reading still works."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop_writer()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _con(self) -> sqlite3.Connection:
        """The reading connection, opened on first use (and again after `close()`)."""
        if self._reader is None:
            self._reader = connect(self.path)
        return self._reader

    # -- reading --------------------------------------------------------------------

    def pending(self, platform: str, after: int, limit: int) -> list[SpooledEvent]:
        with self._read_lock:
            rows = self._con().execute(
                "SELECT seq, platform, delivery_id, topic, received_at, body FROM events "
                "WHERE platform = ? AND seq > ? ORDER BY seq LIMIT ?",
                (platform, after, limit)).fetchall()
        return [SpooledEvent(*row) for row in rows]

    def count(self, platform: str | None = None) -> int:
        with self._read_lock:
            if platform is None:
                row = self._con().execute("SELECT count(*) FROM events").fetchone()
            else:
                row = self._con().execute("SELECT count(*) FROM events WHERE platform = ?",
                                           (platform,)).fetchone()
        return int(row[0])

    def last_seq(self, platform: str) -> int:
        with self._read_lock:
            row = self._con().execute("SELECT max(seq) FROM events WHERE platform = ?",
                                       (platform,)).fetchone()
        return int(row[0] or 0)

    def prune(self, platform: str, through: int, keep_days: float = 7.0) -> int:
        """Forget applied events older than `keep_days`; younger ones stay for deduplication
        (platforms retry a delivery for up to two days)."""
        cutoff = datetime.fromtimestamp(datetime.now(UTC).timestamp() - keep_days * 86_400, UTC)
        with self._read_lock:
            cursor = self._con().execute(
                "DELETE FROM events WHERE platform = ? AND seq <= ? AND received_at < ?",
                (platform, through, cutoff.isoformat()))
        return int(cursor.rowcount)
