"""One push per destination at a time on one store, and no read of its opt-outs during it.

Two pushes to the same destination at once would both trust the same push
state and could undo each other's tags; a read of a destination's opt-outs
(`read_first`, made before any push or message) is left to that destination's
own push when one is running, since the push reads it itself. Two locks per
destination say all of this:

* the *push* lock, held by a push only: a second push finds it taken and stops
  at once ("another push to B is running");
* the *read* lock, held by a read of the destination's opt-outs and by a push
  (taken after its push lock): a read finds it taken and leaves the destination
  to whoever holds it (`busy`); a push finds it taken only by a read, which
  lasts seconds, and waits for it, up to `READ_WAIT`, before giving up. So a
  push started on one machine while another machine reads the same destination
  runs once that read is done.

On a DuckDB store each lock is an advisory `flock` on a file next to the store
(`<store>.push-<destination>.lock`, `<store>.read-<destination>.lock`): the
kernel drops it when its process ends, even on SIGKILL, so a killed push never
blocks the next one; the file holds the owner's pid and start time, for the
message the loser sees. A PostgreSQL store may be pushed from several machines,
which a local file cannot see: there the locks are PostgreSQL's advisory locks
`push:<destination>` and `read:<destination>` on the store's database
(`clientela.store.postgres.advisory_lock`), released by the server when the
holding connection ends, a killed process's included.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

READ_WAIT = 30.0
"""Seconds a push waits for a read of its destination's opt-outs to finish (a read takes
seconds; one still running after this is stuck on a slow platform: the push gives up
rather than hang, and says so)."""
POLL = 0.2
"""Seconds between two tries of a lock being waited for."""

PUSH = "push"
READ = "read"


class PushLocked(RuntimeError):
    """The destination is being pushed (or, for a read, pushed or read) on this store."""


def lock_path(store_path: Path, destination: str, kind: str = PUSH) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", destination)
    return store_path.with_name(f"{store_path.name}.{kind}-{safe}.lock")


def _pushing(destination: str, owner: str) -> PushLocked:
    return PushLocked(f"another push to {destination} is running on this store ({owner}); "
                      "wait for it to finish, then push again")


def _reading(destination: str, owner: str) -> PushLocked:
    return PushLocked(f"{destination} is being pushed or its opt-outs read on this store "
                      f"({owner}); left to it")


def _slow_read(wait: float) -> Callable[[str, str], PushLocked]:
    def busy(destination: str, owner: str) -> PushLocked:
        return PushLocked(f"the opt-outs of {destination} have been read on this store for "
                          f"more than {wait:g} s ({owner}); push again once that read is done")
    return busy


@contextmanager
def push_lock(store: Any, destination: str, *, read_wait: float = READ_WAIT
              ) -> Iterator[None]:
    """Hold both locks of `destination` on `store` (a Store, or a DuckDB store's path) for a
    push: refused at once when another push holds them, after `read_wait` seconds when a
    read still does."""
    with _held(store, destination, PUSH, 0.0, _pushing), \
            _held(store, destination, READ, read_wait, _slow_read(read_wait)):
        yield


@contextmanager
def read_lock(store: Any, destination: str) -> Iterator[None]:
    """Hold the read lock of `destination` for a read of its opt-outs; refused at once when a
    push or another read holds it."""
    with _held(store, destination, READ, 0.0, _reading):
        yield


@contextmanager
def _held(store: Any, destination: str, kind: str, wait: float,
          busy: Callable[[str, str], PushLocked]) -> Iterator[None]:
    url = getattr(store, "url", None)
    if url is not None:
        from clientela.store.postgres import AdvisoryLockBusy, advisory_lock

        try:
            with advisory_lock(url, f"{kind}:{destination}", wait=wait, poll=POLL):
                yield
        except AdvisoryLockBusy as taken:
            raise busy(destination, taken.holder) from None
        return
    path = lock_path(Path(getattr(store, "path", store)), destination, kind)
    handle = open(path, "a+")  # noqa: SIM115 (held for the whole push or read)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    handle.seek(0)
                    raise busy(destination, handle.read().strip() or "unknown") from None
                time.sleep(min(POLL, left))
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"pid {os.getpid()}, started {started}")
        handle.flush()
        yield
    finally:
        handle.close()
