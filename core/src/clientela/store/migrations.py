"""The store's schema, versioned so an older file is brought up to date on open.

A migration is a list of statements run in one transaction with the version
bump, so a crash mid-migration leaves the file at the old version, intact.
Append new versions; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from clientela.model.entities import ENTITIES
from clientela.store.columns import create_table_sql

META_TABLE = "_clientela_meta"
QUARANTINE_TABLE = "quarantine"
SYNC_STATE_TABLE = "sync_state"
RUNS_TABLE = "runs"


def _v1() -> list[str]:
    return [
        *(create_table_sql(model) for model in ENTITIES),
        f"""CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
            source VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            record_key VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            payload VARCHAR NOT NULL,
            payload_hash VARCHAR NOT NULL,
            run_id VARCHAR,
            first_seen_at TIMESTAMP NOT NULL,
            last_seen_at TIMESTAMP NOT NULL,
            PRIMARY KEY (source, entity, payload_hash))""",
        f"""CREATE TABLE IF NOT EXISTS {SYNC_STATE_TABLE} (
            source VARCHAR NOT NULL,
            stream VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (source, stream))""",
        f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,
            stats VARCHAR,
            message VARCHAR)""",
    ]


def _import_quarantine_lifecycle() -> list[str]:
    """A quarantined record is resolved when the same source later lands its key."""
    return [f"ALTER TABLE {QUARANTINE_TABLE} ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMP"]


MIGRATIONS: list[Callable[[], list[str]]] = [_v1, _import_quarantine_lifecycle]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer clientela; opening it could corrupt it."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)")
    row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the file to SCHEMA_VERSION; returns the version it was at."""
    found = current_version(con)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"this store has schema version {found}, newer than this clientela "
            f"understands ({SCHEMA_VERSION}); upgrade clientela"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        con.begin()
        try:
            for statement in MIGRATIONS[version - 1]():
                con.execute(statement)
            con.execute(
                f"INSERT OR REPLACE INTO {META_TABLE} VALUES ('schema_version', ?)", [str(version)]
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return found
