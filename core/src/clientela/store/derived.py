"""Derived tables: what a command computes from the store and keeps in it for others.

The entity tables (customers, orders, ...) are defined in `migrations.py` and
written by sync. A derived table is different: it is computed from them by a
library function, replaced whole each time, and read by the push, the report,
other segmenters and scripts. Its columns follow what computed it (a plugin's
segmenter adds its own scores), so it has no migration; what is fixed is
written here, once:

- `clv_scores`: customer_id, clv, p_alive, expected_purchases. Written by
  `clientela clv` (`clientela.clv.engine.run_clv`); read by the push (fields
  `clv` and `p_alive`) and by segmenters that use predicted CLV.
- `<segmenter>_scores` (`rfm_scores`, `clusters_scores`): customer_id,
  segment, as_of and the segmenter's own scores. Written by `clientela
  segments <name>` (`clientela.segments.save_segments`); read by reports and
  scripts.

`replace` is the one way such a table is written: the new rows replace the old
ones in one transaction, so a reader sees the previous version or the new one,
never a mix, and a crash midway leaves the previous version in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from clientela.model.entities import ENTITIES
from clientela.store import migrations

if TYPE_CHECKING:
    from clientela.store.store import Store

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


@dataclass(frozen=True)
class DerivedTable:
    """A table computed from the store: its name and the columns every version has."""

    name: str
    columns: tuple[str, ...]
    description: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"derived table name {self.name!r}: expected lowercase letters, "
                             "digits and underscores, starting with a letter")
        if self.name in _RESERVED:
            raise ValueError(f"derived table name {self.name!r} is a table the store's "
                             "migrations define; a derived table cannot replace it")


_RESERVED = frozenset({*(entity.table for entity in ENTITIES),
                       *(value for key, value in vars(migrations).items()
                         if key.endswith("_TABLE") and isinstance(value, str))})
"""Tables the migrations define (every `*_TABLE` name of `migrations.py`) and the entity
tables: a derived table never takes one of their names."""

CLV_SCORES = DerivedTable(
    "clv_scores", ("customer_id", "clv", "p_alive", "expected_purchases"),
    "Per customer: predicted CLV over the horizon, P(alive) and expected purchases, as of "
    "the end of the history (`clientela clv`).")


def segment_scores(segmenter: str) -> DerivedTable:
    """`<segmenter>_scores` (`rfm_scores`, `clusters_scores`): one row per customer with
    its segment as of a date."""
    return DerivedTable(f"{segmenter}_scores", ("customer_id", "segment", "as_of"),
                        f"Per customer: the {segmenter} segment and scores, as of a date "
                        f"(`clientela segments {segmenter}`).")


def replace(store: Store, table: DerivedTable, rows: pa.Table) -> int:
    """Make `rows` the whole content of `table`, in one transaction; returns the row count.

    `rows` must have the table's columns, so a reader can rely on them.
    """
    missing = [name for name in table.columns if name not in rows.column_names]
    if missing:
        raise ValueError(f"{table.name}: the rows lack the column(s) {', '.join(missing)}; "
                         f"got {', '.join(rows.column_names)}")
    staged = f"_{table.name}_new"
    with store.transaction() as con:
        con.register(staged, rows)
        try:
            # drop and create rather than CREATE OR REPLACE, which PostgreSQL lacks; both
            # databases make DDL transactional, so a reader still sees one version or the other
            con.execute(f'DROP TABLE IF EXISTS "{table.name}"')
            con.execute(f'CREATE TABLE "{table.name}" AS SELECT * FROM "{staged}"')
        finally:
            con.unregister(staged)
    return int(rows.num_rows)


def read(store: Store, table: DerivedTable) -> pa.Table | None:
    """The table's current version, or None when it has never been written."""
    found = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema()", [table.name]).fetchone()
    if not found or not found[0]:
        return None
    result: pa.Table = store.con.execute(f'SELECT * FROM "{table.name}"').to_arrow_table()
    return result
