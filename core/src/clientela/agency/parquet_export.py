"""Write the store's canonical tables as Parquet a cluster can read, month by month.

Layout (Hive style, which Spark, DuckDB, Trino and pyarrow all read):

    DIR/orders/month=2025-01/data_0.parquet
    DIR/orders/month=2025-02/data_0.parquet
    DIR/customers/data_0.parquet            (tables without an event time: one file)
    DIR/_clientela_export.json              (what each partition held when it was written)

A table with an event time (orders by placed_at, touches by occurred_at, ...) is cut by
its UTC month. Beside the canonical tables go `identity_links` (which customer records are
one person, so an engine reading the export counts persons as the store does) and, when
`clientela clv` has written it, `clv_scores` (which the clusters segmenter reads): one file
each, rewritten only when their fingerprint changes.

Incremental: each partition's fingerprint (row count and an XOR of row hashes) is kept in
the manifest, and the next export rewrites only the partitions whose fingerprint changed,
removes those that no longer exist, and leaves the rest alone. Tables are fingerprinted and
written two at a time, each by one query (one COPY with PARTITION_BY). The manifest is
written last, so an export that was killed is simply finished by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clientela.identity import IDENTITY_LINKS_TABLE
from clientela.model.entities import ENTITIES
from clientela.store import Store
from clientela.store.derived import CLV_SCORES

T = TypeVar("T")
MANIFEST = "_clientela_export.json"
WHOLE = "*"
"""The manifest's key for a table written as one file."""
PARTITION_COLUMNS = {
    "orders": "placed_at",
    "campaigns": "started_at",
    "touches": "occurred_at",
    "loyalty_events": "occurred_at",
    "opportunities": "opened_at",
    "nps_responses": "responded_at",
    "marketing_spend": "day",
    "traffic": "day",
}
"""The column each table is cut by; a table not listed is one file."""
ALONGSIDE = (IDENTITY_LINKS_TABLE, CLV_SCORES.name)
"""Tables exported beside the canonical ones, each as one file, when the store has them:
the person of each customer record, and the predicted CLV a segmenter may use."""


def exported_tables(store: Store) -> list[str]:
    """The canonical tables, then those of ALONGSIDE the store holds."""
    present = {str(row[0]) for row in store.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    return [*(model.table for model in ENTITIES), *(t for t in ALONGSIDE if t in present)]


@dataclass
class ExportReport:
    written: dict[str, list[str]] = field(default_factory=dict)
    """Partitions (months, or "*") written per table."""
    removed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def files_written(self) -> int:
        return sum(len(v) for v in self.written.values())


def _fingerprints(con: Any, table: str) -> dict[str, list[int]]:
    """Per partition: the row count and an XOR of row hashes, in one pass over the table."""
    column = PARTITION_COLUMNS.get(table)
    month = f"coalesce(strftime(t.\"{column}\", '%Y-%m'), 'none')" if column else f"'{WHOLE}'"
    rows = con.execute(
        f'SELECT {month} AS month, count(*), bit_xor(hash(t)) FROM "{table}" t GROUP BY 1'
    ).fetchall()
    found = {str(month): [int(count), int(digest)] for month, count, digest in rows}
    # an empty table is one empty file, so that its schema can still be read
    return found or {WHOLE: [0, 0]}


def _write(con: Any, table: str, target: Path, months: list[str], *, every: bool) -> None:
    """Write `months` of `table` under `target`; `every`: they are all the table has, so the
    one COPY reads the table without a filter."""
    column = PARTITION_COLUMNS.get(table)
    if column is None or months == [WHOLE]:
        target.mkdir(parents=True, exist_ok=True)
        part = target / "data_0.parquet"
        temp = target / ".data_0.parquet.tmp"
        con.execute(f'COPY (SELECT * FROM "{table}") TO \'{temp}\' (FORMAT parquet)')
        os.replace(temp, part)
        return
    month = f"coalesce(strftime(\"{column}\", '%Y-%m'), 'none')"
    listed = ", ".join(f"'{m}'" for m in months)
    where = "" if every else f" WHERE {month} IN ({listed})"
    con.execute(
        f"COPY (SELECT *, {month} AS month FROM \"{table}\"{where}) "
        f"TO '{target}' (FORMAT parquet, PARTITION_BY (month), OVERWRITE_OR_IGNORE, "
        "FILENAME_PATTERN 'data_{i}')")


def _in_parallel(store: Store, work: Callable[[Any, str], T], tables: list[str],
                 workers: int) -> dict[str, T]:
    """`work(connection, table)` for every table, `workers` at a time, each on a cursor of
    its own (DuckDB runs queries of different cursors at once; one query alone leaves cores
    idle while it writes a file or finishes a small table)."""
    def one(table: str) -> T:
        con = store.con.cursor()
        try:
            return work(con, table)
        finally:
            con.close()

    if workers <= 1 or len(tables) <= 1:
        return {table: one(table) for table in tables}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(tables, pool.map(one, tables), strict=True))


def export_parquet(store: Store, folder: Path, *, full: bool = False,
                   workers: int = 2) -> ExportReport:
    """Bring `folder` up to date with the store; `full` rewrites everything. `workers`
    tables are fingerprinted and written at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    before: dict[str, dict[str, list[int]]] = {}
    if manifest_path.exists() and not full:
        before = json.loads(manifest_path.read_text(encoding="utf-8"))
    report = ExportReport()
    tables = exported_tables(store)
    after = _in_parallel(store, _fingerprints, tables, workers)
    pending: dict[str, list[str]] = {}
    for table in tables:
        target = folder / table
        now, old = after[table], before.get(table, {})
        if full and target.exists():
            shutil.rmtree(target)
        changed = sorted(m for m, print_ in now.items() if old.get(m) != print_)
        gone = sorted(m for m in old if m not in now)
        for month in [*changed, *gone]:
            stale = target / f"month={month}" if month != WHOLE else target / "data_0.parquet"
            if stale.is_dir():
                shutil.rmtree(stale)
            elif stale.exists():
                stale.unlink()
        if changed:
            pending[table] = changed
            report.written[table] = changed
        if gone:
            report.removed[table] = gone
        report.unchanged += len(now) - len(changed)

    def write(con: Any, table: str) -> None:
        _write(con, table, folder / table, pending[table],
               every=len(pending[table]) == len(after[table]))

    # the largest first, so that the last table to finish is a small one
    order = sorted(pending, key=lambda t: -sum(count for count, _ in after[t].values()))
    _in_parallel(store, write, order, workers)
    for table in sorted(set(before) - set(after)):  # a table the store no longer has
        shutil.rmtree(folder / table, ignore_errors=True)
        report.removed[table] = sorted(before[table])
    temp = folder / (MANIFEST + ".tmp")
    temp.write_text(json.dumps(after, sort_keys=True, indent=1), encoding="utf-8")
    os.replace(temp, manifest_path)
    return report
