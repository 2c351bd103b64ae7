"""The DuckDB settings a store's connection gets from `workspace.memory_limit`.

`memory_limit` is what the whole clientela process may hold, because that is what a person
sizing a machine or a container means by it. DuckDB's own `memory_limit` bounds only its
buffer manager: the process also holds Python and the imported libraries (about 0.3 GB),
the Arrow and NumPy results the engine fetches (a CLV series' purchase days, a segmenter's
scores for every customer), DuckDB's allocations outside the buffer pool and the
allocator's slack. Given DuckDB the whole figure, a process told "2GB" peaked at 2.9 GiB
on the 10M-order catalogue. So the buffer manager gets a share of it (`DUCKDB_SHARE`), and
spills the rest of its work to disk. And DuckDB's allocator hands memory back to the system
as soon as a task is done with it (`ALLOCATOR_SETTINGS`): by default it keeps what a big
hash aggregate freed, which is memory the process still holds while Python then builds its
own arrays.

A read-only connection (the KPI engine, the report, an export) also lets DuckDB return rows
in any order where a query does not ask for one (`preserve_insertion_order = false`): every
answer clientela reads back is aggregated, sorted or keyed, and keeping insertion order
makes DuckDB buffer whole intermediate results to put them back in order.
"""

from __future__ import annotations

import re
from typing import Any

DUCKDB_SHARE = 0.5
"""Of the process's memory_limit, the part DuckDB's buffer manager may hold (the rest is
the headroom measured outside it; see docs/scale.md)."""
ALLOCATOR_SETTINGS = {
    "allocator_flush_threshold": "8MB",
    "allocator_bulk_deallocation_flush_threshold": "32MB",
    "allocator_background_threads": "true",
}
"""Under a memory_limit: flush the allocator's caches after any task that used more than
8 MB (DuckDB's default: 128 MB), and after freeing more than 32 MB at once (default 512 MB),
with background threads returning freed pages. At 1M orders the CLV purchase-day fetch
then peaks 70 MiB lower and leaves the process 125 MiB smaller afterwards."""
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


class MemoryLimitError(ValueError):
    """A memory_limit that is not a size."""


def size_in_bytes(text: str) -> int:
    """"2GB" -> 2_000_000_000, "1.5GiB" -> 1_610_612_736 (DuckDB's units: KB, MB, GB and TB
    are powers of 1000, KiB, MiB, GiB and TiB powers of 1024)."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS or float(found.group(1)) <= 0:
        raise MemoryLimitError(f"memory_limit {text!r}: expected a size such as 2GB")
    return int(float(found.group(1)) * _UNITS[unit])


def duckdb_memory_limit(process_limit: str) -> str:
    """The buffer manager's share of a process limit, as a SET statement's value."""
    return f"{int(size_in_bytes(process_limit) * DUCKDB_SHARE) // 1024**2}MiB"


def apply(con: Any, *, memory_limit: str | None, read_only: bool) -> None:
    """Set what a store connection runs with (see the module docstring)."""
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{duckdb_memory_limit(memory_limit)}'")
        for name, value in ALLOCATOR_SETTINGS.items():
            con.execute(f"SET {name} = '{value}'")
    if read_only:
        con.execute("SET preserve_insertion_order = false")
