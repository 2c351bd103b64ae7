"""Rejected records, kept with their reason so nothing a source sent is lost.

Rows are keyed by a hash of the payload: re-importing the same bad file
updates `last_seen_at` instead of piling up copies, so a re-run leaves the
quarantine as one clean run would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from clientela.model.validation import Rejection
from clientela.store.migrations import QUARANTINE_TABLE


def payload_json(raw: object) -> str:
    return json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)


def quarantine_rejections(
    con: duckdb.DuckDBPyConnection,
    source: str,
    rejections: Sequence[Rejection],
    run_id: str | None,
) -> int:
    """Write rejections; the caller owns the transaction. Returns how many were new."""
    if not rejections:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    payloads = [payload_json(dict(r.raw)) for r in rejections]
    table = pa.table(
        {
            "source": [source] * len(rejections),
            "entity": [r.entity for r in rejections],
            "record_key": [r.key for r in rejections],
            "reason": [r.reason for r in rejections],
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
                SELECT DISTINCT ON (source, entity, payload_hash)
                       source, entity, record_key, reason, payload, payload_hash, run_id, ?, ?
                FROM _rejected
                ON CONFLICT (source, entity, payload_hash)
                DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, reason = EXCLUDED.reason,
                              run_id = EXCLUDED.run_id""",
            [now, now],
        )
        return _count(con) - before
    finally:
        con.unregister("_rejected")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT count(*) FROM {QUARANTINE_TABLE}").fetchone()
    return int(row[0]) if row else 0
