"""Rejected records, kept with their reason so nothing a source sent is lost.

Rows are keyed by a hash of the payload: re-importing the same bad file
updates `last_seen_at` instead of piling up copies, so a re-run leaves the
quarantine as one clean run would. A record is *open* until the same source
lands its key (a corrected file, a fixed mapping, a `quarantine retry`):
then it is *resolved*, kept as history but no longer shown by default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clientela.model.base import Record
from clientela.model.validation import Rejection, safe_payload
from clientela.store.migrations import QUARANTINE_TABLE


def payload_json(raw: object) -> str:
    return json.dumps(safe_payload(raw), sort_keys=True, default=str, ensure_ascii=False)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def quarantine_rejections(
    con: duckdb.DuckDBPyConnection,
    source: str,
    rejections: Sequence[Rejection],
    run_id: str | None,
) -> int:
    """Write rejections; the caller owns the transaction. Returns how many were new.
    A record seen again is open again, even if an earlier version of it had landed."""
    if not rejections:
        return 0
    now = _now()
    payloads = [payload_json(dict(r.raw)) for r in rejections]
    table = pa.table(
        {
            "source": [source] * len(rejections),
            "entity": [r.entity for r in rejections],
            "record_key": [r.key for r in rejections],
            "reason": [safe_payload(r.reason) for r in rejections],
            "payload": payloads,
            "payload_hash": [hashlib.sha256(p.encode()).hexdigest() for p in payloads],
            "run_id": [run_id] * len(rejections),
        }
    )
    con.register("_rejected", table)
    try:
        before = _count(con)
        con.execute(
            f"""INSERT INTO {QUARANTINE_TABLE}
                  (source, entity, record_key, reason, payload, payload_hash, run_id,
                   first_seen_at, last_seen_at, resolved_at)
                SELECT DISTINCT ON (source, entity, payload_hash)
                       source, entity, record_key, reason, payload, payload_hash, run_id, ?, ?,
                       NULL
                FROM _rejected
                ON CONFLICT (source, entity, payload_hash)
                DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, reason = EXCLUDED.reason,
                              run_id = EXCLUDED.run_id, resolved_at = NULL""",
            [now, now],
        )
        return _count(con) - before
    finally:
        con.unregister("_rejected")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT count(*) FROM {QUARANTINE_TABLE}").fetchone()
    return int(row[0]) if row else 0


def _key_strings(model: type[Record], table: pa.Table) -> pa.Array:
    """The landed rows' keys as the quarantine writes them ('A/B' for a two-part key)."""
    parts = [pc.cast(table.column(name), pa.string()) for name in model.key_fields]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "/")


def resolve_landed(
    con: duckdb.DuckDBPyConnection, source: str, model: type[Record], table: pa.Table
) -> int:
    """Mark open quarantine rows of keys that just landed as resolved; the caller owns the
    transaction. Costs one count when nothing of this source and entity is open."""
    row = con.execute(
        f"SELECT count(*) FROM {QUARANTINE_TABLE} WHERE resolved_at IS NULL AND source = ? "
        "AND entity = ?", [source, model.entity]).fetchone()
    if not row or not row[0]:
        return 0
    keys = pa.table({"record_key": _key_strings(model, table)})
    con.register("_landed_keys", keys)
    try:
        done = con.execute(
            f"""UPDATE {QUARANTINE_TABLE} SET resolved_at = ?
                WHERE resolved_at IS NULL AND source = ? AND entity = ?
                  AND record_key IN (SELECT record_key FROM _landed_keys)
                RETURNING 1""", [_now(), source, model.entity]).fetchall()
    finally:
        con.unregister("_landed_keys")
    return len(done)


@dataclass(frozen=True)
class QuarantinedRow:
    source: str
    entity: str
    key: str
    reason: str
    payload: dict[str, Any]
    payload_hash: str
    last_seen_at: datetime
    resolved_at: datetime | None


def _where(source: str | None, entity: str | None, include_resolved: bool,
           resolved_only: bool = False) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if resolved_only:
        clauses.append("resolved_at IS NOT NULL")
    elif not include_resolved:
        clauses.append("resolved_at IS NULL")
    if source:
        clauses.append("source = ?")
        params.append(source)
    if entity:
        clauses.append("entity = ?")
        params.append(entity)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def list_quarantined(
    con: duckdb.DuckDBPyConnection, *, source: str | None = None, entity: str | None = None,
    include_resolved: bool = False, limit: int | None = None,
) -> list[QuarantinedRow]:
    """Quarantined rows, most recent first; open ones only unless `include_resolved`."""
    where, params = _where(source, entity, include_resolved)
    query = (f"SELECT source, entity, record_key, reason, payload, payload_hash, last_seen_at, "
             f"resolved_at FROM {QUARANTINE_TABLE}{where} "
             "ORDER BY last_seen_at DESC, record_key")
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return [QuarantinedRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7])
            for r in con.execute(query, params).fetchall()]


def count_quarantined(con: duckdb.DuckDBPyConnection, *, source: str | None = None,
                      entity: str | None = None, include_resolved: bool = False) -> int:
    where, params = _where(source, entity, include_resolved)
    row = con.execute(f"SELECT count(*) FROM {QUARANTINE_TABLE}{where}", params).fetchone()
    return int(row[0]) if row else 0


def clear_quarantined(con: duckdb.DuckDBPyConnection, *, source: str | None = None,
                      entity: str | None = None, include_resolved: bool = True,
                      resolved_only: bool = False) -> int:
    """Delete quarantined rows (a filter narrows it; `resolved_only` keeps the open ones);
    returns how many went."""
    where, params = _where(source, entity, include_resolved, resolved_only)
    return len(con.execute(f"DELETE FROM {QUARANTINE_TABLE}{where} RETURNING 1",
                           params).fetchall())


def mark_resolved(con: duckdb.DuckDBPyConnection, source: str, entity: str,
                  payload_hashes: Sequence[str]) -> int:
    """Resolve rows by payload (a retried record whose key was missing cannot match by key)."""
    if not payload_hashes:
        return 0
    con.register("_hashes", pa.table({"h": list(payload_hashes)}))
    try:
        return len(con.execute(
            f"""UPDATE {QUARANTINE_TABLE} SET resolved_at = ? WHERE resolved_at IS NULL
                AND source = ? AND entity = ? AND payload_hash IN (SELECT h FROM _hashes)
                RETURNING 1""", [_now(), source, entity]).fetchall())
    finally:
        con.unregister("_hashes")


def note_still_rejected(con: duckdb.DuckDBPyConnection, source: str, entity: str,
                        payload_hash: str, reason: str) -> None:
    """A retried record that is still bad: its new reason, seen now (the caller owns the
    transaction)."""
    con.execute(f"UPDATE {QUARANTINE_TABLE} SET reason = ?, last_seen_at = ? "
                "WHERE source = ? AND entity = ? AND payload_hash = ?",
                [reason, _now(), source, entity, payload_hash])
