"""Erasing people from the message ledger's tables, inside a transaction the caller holds.

It lives with the store, which owns the ledger's tables, so that both `clientela forget`
(`clientela.destinations.forget`, which erases the store, the consent and the ledger
together) and the journeys (`clientela.journeys.forget`) can call it without one of those
packages importing the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb

from clientela.store.migrations import (
    CHANNEL_INBOUND_TABLE,
    MESSAGE_FORGOTTEN_TABLE,
    MESSAGES_TABLE,
)


def erase_in(con: duckdb.DuckDBPyConnection, customer_ids: Iterable[str],
             now: datetime | None = None) -> int:
    """`forget_messages` inside a transaction the caller holds (`clientela forget` erases
    the store, the consent and the ledger together)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    moment = now or datetime.now(UTC)
    stamp = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    row = con.execute(f"SELECT count(*) FROM {MESSAGES_TABLE} WHERE customer_id IN "
                      "(SELECT unnest(?))", [ids]).fetchone()
    con.execute(f"""UPDATE {MESSAGES_TABLE} SET address = NULL, subject = NULL, body = NULL,
                    variables = NULL, updated_at = ?,
                    status = CASE WHEN status = 'planned' THEN 'suppressed' ELSE status END,
                    reason = CASE WHEN status = 'planned' THEN 'forgotten' ELSE reason END
                    WHERE customer_id IN (SELECT unnest(?))""", [stamp, ids])
    con.execute(f"UPDATE {CHANNEL_INBOUND_TABLE} SET customer_id = NULL, address_digest = '' "
                "WHERE customer_id IN (SELECT unnest(?))", [ids])
    con.execute(f"INSERT OR IGNORE INTO {MESSAGE_FORGOTTEN_TABLE} SELECT unnest(?), ?",
                [ids, stamp])
    return int(row[0]) if row else 0
