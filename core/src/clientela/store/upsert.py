"""Upserting a batch of records by (source, natural key), whole or not at all.

The batch arrives as Arrow, is deduplicated (the last version of a key in the
batch wins), hashed, counted against what the store holds, and merged with
one INSERT ... ON CONFLICT (a plain INSERT when the count found every key
new, as in a first sync). An incoming version older than the stored one
(by the entity's version field) is ignored, so late webhooks and re-reads
of a lookback window never roll a record back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from clientela.model.base import Record
from clientela.store.columns import HASH_COLUMN, LOADED_AT_COLUMN, arrow_schema, model_columns
from clientela.store.dialect import DUCKDB, Dialect, dialect_of, quote
from clientela.store.touched import record_insert, record_upsert

ORDER_COLUMN = "_ord"


@dataclass
class UpsertCounts:
    """What a batch did. `stale` are versions older than the stored one, left alone;
    `duplicates` are earlier versions of a key the same batch repeats (the last one wins),
    so rows in = inserted + updated + unchanged + stale + duplicates."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    duplicates: int = 0

    @property
    def loaded(self) -> int:
        """Distinct keys written or compared (duplicates not included)."""
        return self.inserted + self.updated + self.unchanged + self.stale

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.duplicates += other.duplicates


_quote = quote


def records_to_arrow(model: type[Record], records: Sequence[Record]) -> pa.Table:
    """Canonical records to an Arrow table of the entity's store schema, column by column
    (this is the hot path of every sync: no per-row dict, no per-value type dispatch)."""
    schema = arrow_schema(model)
    arrays = []
    fields = [record.__dict__ for record in records]
    for col, field in zip(model_columns(model), schema, strict=True):
        name = col.name
        values = [row[name] for row in fields]
        if col.is_json:
            values = [json.dumps(v, sort_keys=True, default=str) for v in values]
        elif pa.types.is_timestamp(field.type):
            # validated timestamps are aware: Arrow reads them as instants, then drops the zone
            utc = pa.array(values, type=pa.timestamp(field.type.unit, tz="UTC"))
            arrays.append(utc.cast(field.type))
            continue
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def conform(model: type[Record], table: pa.Table) -> pa.Table:
    """Select and cast the entity's columns; a missing nullable column becomes null."""
    schema = arrow_schema(model)
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(
                    pa.timestamp("us")
                )
            arrays.append(column.cast(field.type))
        elif field.nullable:
            arrays.append(pa.nulls(table.num_rows, field.type))
        else:
            raise ValueError(f"{model.entity} batch lacks the required column {field.name!r}")
    return pa.Table.from_arrays(arrays, schema=schema)


def _not_older(version: str | None, *, stored: str, incoming: str) -> str:
    """SQL: the incoming version may replace the stored one (unknown versions may)."""
    if not version:
        return "TRUE"
    new, old = f"{incoming}.{_quote(version)}", f"{stored}.{_quote(version)}"
    return f"({old} IS NULL OR {new} IS NULL OR {new} >= {old})"


def _row_hash(data_cols: Sequence[str], dialect: Dialect = DUCKDB) -> str:
    """SQL: the row hash that tells an unchanged row from a changed one (one definition,
    so rows written by `insert_new_arrow` compare equal to the same rows upserted)."""
    return dialect.row_hash(data_cols)


def insert_new_arrow(
    con: duckdb.DuckDBPyConnection, model: type[Record], table: pa.Table
) -> UpsertCounts:
    """Insert `table`, whose keys the caller knows are all new and unique (a first full
    build of a derived table): one INSERT ... SELECT from the Arrow table, without the
    upsert's deduplication, staging and counting. A key already stored, or twice in the
    batch, violates the primary key and raises (nothing is written). The caller owns the
    transaction."""
    if table.num_rows == 0:
        return UpsertCounts()
    incoming = conform(model, table)
    data_cols = [col.name for col in model_columns(model)]
    column_list = ", ".join(_quote(c) for c in data_cols)
    view = f"_new_{model.table}"
    con.register(view, incoming)
    try:
        record_insert(con, model, view)  # what the KPI cache must recompute
        con.execute(
            f"""INSERT INTO {_quote(model.table)}
                   ({column_list}, {HASH_COLUMN}, {LOADED_AT_COLUMN})
                SELECT {column_list}, {_row_hash(data_cols, dialect_of(con))}, ? FROM {view}""",
            [datetime.now(UTC).replace(tzinfo=None)])
    finally:
        con.unregister(view)
    return UpsertCounts(inserted=table.num_rows)


def upsert_arrow(
    con: duckdb.DuckDBPyConnection, model: type[Record], table: pa.Table
) -> UpsertCounts:
    """Merge `table` into the entity's table. The caller owns the transaction."""
    if table.num_rows == 0:
        return UpsertCounts()
    incoming = conform(model, table).append_column(
        ORDER_COLUMN, pa.array(range(table.num_rows), pa.int64())
    )
    target = _quote(model.table)
    data_cols = [col.name for col in model_columns(model)]
    keys = ["source", *model.key_fields]
    key_list = ", ".join(_quote(k) for k in keys)
    version = model.version_field
    order_by = (f"{_quote(version)} DESC NULLS LAST, " if version else "") + f"{ORDER_COLUMN} DESC"
    view = f"_incoming_{model.table}"
    con.register(view, incoming)
    try:
        con.execute("DROP TABLE IF EXISTS _staged")
        con.execute(
            f"""CREATE TEMP TABLE _staged AS
                SELECT {", ".join(_quote(c) for c in data_cols)},
                       {_row_hash(data_cols, dialect_of(con))} AS {HASH_COLUMN}
                FROM {view}
                QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY {order_by}) = 1"""
        )
    finally:
        con.unregister(view)
    join = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
    newer = _not_older(version, stored="t", incoming="s")
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE t.{HASH_COLUMN} IS NULL),
                   count(*) FILTER (WHERE t.{HASH_COLUMN} <> s.{HASH_COLUMN} AND {newer}),
                   count(*) FILTER (WHERE t.{HASH_COLUMN} = s.{HASH_COLUMN}),
                   count(*) FILTER (WHERE t.{HASH_COLUMN} <> s.{HASH_COLUMN} AND NOT {newer})
            FROM _staged s LEFT JOIN {target} t ON {join}"""
    ).fetchone()
    assert row is not None
    counts = UpsertCounts(*(int(value) for value in row))
    counts.duplicates = table.num_rows - counts.loaded
    if counts.inserted or counts.updated:  # what the KPI cache must recompute
        record_upsert(con, model, "_staged", target, join, HASH_COLUMN)
    now = datetime.now(UTC).replace(tzinfo=None)
    column_list = ", ".join(_quote(c) for c in data_cols)
    insert = f"""INSERT INTO {target} ({column_list}, {HASH_COLUMN}, {LOADED_AT_COLUMN})
                 SELECT {column_list}, {HASH_COLUMN}, ? FROM _staged"""
    if counts.inserted == counts.loaded:
        # every key is new (a first sync): a plain insert, ~40% cheaper than ON CONFLICT
        con.execute(insert, [now])
    elif counts.inserted or counts.updated:
        updates = ", ".join(
            f"{_quote(c)} = EXCLUDED.{_quote(c)}" for c in [*data_cols, HASH_COLUMN, LOADED_AT_COLUMN]
            if c not in keys
        )
        guard = _not_older(version, stored=target, incoming="EXCLUDED")
        con.execute(
            f"""{insert} ON CONFLICT ({key_list}) DO UPDATE SET {updates}
                WHERE {target}.{HASH_COLUMN} <> EXCLUDED.{HASH_COLUMN} AND {guard}""",
            [now],
        )
    con.execute("DROP TABLE IF EXISTS _staged")
    return counts
