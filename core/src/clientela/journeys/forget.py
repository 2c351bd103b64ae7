"""Erasing a person from the message ledger.

The ledger keeps who was contacted, when, through which channel and why a
message was suppressed (which an auditor may ask for), but after `forget`
no longer holds how to reach them or what they were told: the address, the
subject, the body and the template variables are blanked, inbound replies
lose their link to the customer, and the customer is marked forgotten so
that no journey or campaign plans anything for them again (reason
`forgotten`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb

from clientela.journeys.ledger import naive
from clientela.store import Store
from clientela.store.migrations import (
    CHANNEL_INBOUND_TABLE,
    MESSAGE_FORGOTTEN_TABLE,
    MESSAGES_TABLE,
)


def forget_messages(store: Store, customer_ids: Iterable[str],
                    now: datetime | None = None) -> int:
    """Blank the personal columns of these customers' messages, in one transaction; returns
    messages touched. Pending messages are suppressed with reason `forgotten`."""
    with store.transaction() as con:
        return erase_in(con, customer_ids, now)


def erase_in(con: duckdb.DuckDBPyConnection, customer_ids: Iterable[str],
             now: datetime | None = None) -> int:
    """`forget_messages` inside a transaction the caller holds (`clientela forget` erases
    the store, the consent and the ledger together)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    stamp = naive(now or datetime.now(UTC))
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
