"""One push per destination at a time on one store.

Two pushes to the same destination at once would both trust the same push
state and could undo each other's tags. On a DuckDB store the lock is an
advisory `flock` on `<store>.push-<destination>.lock`: the kernel drops it when
its process ends, even on SIGKILL, so a killed push never blocks the next one;
the file holds the owner's pid and start time, for the message the loser sees.

A PostgreSQL store may be pushed from several machines, which a local file
cannot see: there the lock is PostgreSQL's advisory lock `push:<destination>`
on the store's database (`clientela.store.postgres.advisory_lock`), released by
the server when the holding connection ends, a killed process's included.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class PushLocked(RuntimeError):
    """Another push to this destination is running on this store."""


def lock_path(store_path: Path, destination: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", destination)
    return store_path.with_name(f"{store_path.name}.push-{safe}.lock")


def _busy(destination: str, owner: str) -> PushLocked:
    return PushLocked(f"another push to {destination} is running on this store ({owner}); "
                      "wait for it to finish, then push again")


@contextmanager
def push_lock(store: Any, destination: str) -> Iterator[None]:
    """Hold the push lock of `destination` on `store` (a Store, or a DuckDB store's path)."""
    url = getattr(store, "url", None)
    if url is not None:
        from clientela.store.postgres import AdvisoryLockBusy, advisory_lock

        try:
            with advisory_lock(url, f"push:{destination}"):
                yield
        except AdvisoryLockBusy as busy:
            raise _busy(destination, busy.holder) from None
        return
    path = lock_path(Path(getattr(store, "path", store)), destination)
    handle = open(path, "a+")  # noqa: SIM115 (held for the whole push)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise _busy(destination, handle.read().strip() or "unknown") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"pid {os.getpid()}, started {started}")
        handle.flush()
        yield
    finally:
        handle.close()
