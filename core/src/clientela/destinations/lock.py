"""One push per destination at a time: a lock file next to the store.

Two pushes to the same destination at once would both trust the same push
state and could undo each other's tags. The lock is an advisory `flock` on
`<store>.push-<destination>.lock`: the kernel drops it when its process ends,
even on SIGKILL, so a killed push never blocks the next one. The file holds
the owner's pid and start time, for the message the loser sees.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class PushLocked(RuntimeError):
    """Another push to this destination is running on this store."""


def lock_path(store_path: Path, destination: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", destination)
    return store_path.with_name(f"{store_path.name}.push-{safe}.lock")


@contextmanager
def push_lock(store_path: Path, destination: str) -> Iterator[None]:
    path = lock_path(store_path, destination)
    handle = open(path, "a+")  # noqa: SIM115 (held for the whole push)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise PushLocked(f"another push to {destination} is running on this store "
                             f"({owner}); wait for it to finish, then push again") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"pid {os.getpid()}, started {started}")
        handle.flush()
        yield
    finally:
        handle.close()
