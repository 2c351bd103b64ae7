"""Erasure requests and what they erase in the store (`Store.forget_requests`).

`clientela forget` (`clientela.destinations.forget`) decides whom to erase and
asks each destination; this repository owns the writes: the request and its
per-destination outcomes (`forget_requests`, `forget_outcomes`), and, in the
caller's transaction, the person's customer rows, consent addresses and
quarantined payloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from clientela.privacy import FORGET_REQUESTS_TABLE, PERSONAL_CUSTOMER_FIELDS, email_digest
from clientela.store.migrations import (
    CONSENT_EVENTS_TABLE,
    FORGET_OUTCOMES_TABLE,
    PUSH_STATE_TABLE,
    QUARANTINE_TABLE,
)

CONSENT_COLUMNS = ("consent_email", "consent_sms", "consent_whatsapp")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ForgetRequests:
    """The erasure tables of one store connection (see the module docstring)."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def open(self, email: str) -> str:
        """The open request for this (normalised) address, or a new one."""
        digest = email_digest(email)
        row = self.con.execute(f"SELECT request_id FROM {FORGET_REQUESTS_TABLE} WHERE "
                               "email_digest = ? AND status = 'open' ORDER BY requested_at "
                               "LIMIT 1", [digest]).fetchone()
        if row:
            return str(row[0])
        request_id = uuid.uuid4().hex
        self.con.execute(
            f"""INSERT INTO {FORGET_REQUESTS_TABLE}
                  (request_id, email_digest, email, requested_at, completed_at, status, customers)
                VALUES (?, ?, ?, ?, NULL, 'open', 0)""", [request_id, digest, email, _now()])
        return request_id

    def add_outcome(self, request_id: str, destination: str, status: str, detail: str) -> None:
        self.con.execute(f"INSERT INTO {FORGET_OUTCOMES_TABLE} (request_id, destination, status, "
                         "detail, recorded_at) VALUES (?, ?, ?, ?, ?)",
                         [request_id, destination, status, detail, _now()])

    def complete(self, request_id: str) -> None:
        """Every destination is done: only the address's digest remains."""
        self.con.execute(f"UPDATE {FORGET_REQUESTS_TABLE} SET status = 'done', email = NULL, "
                         "completed_at = ? WHERE request_id = ?", [_now(), request_id])

    def outcomes(self, request_id: str) -> dict[str, str]:
        """destination -> its latest outcome for this request."""
        rows = self.con.execute(
            f"""SELECT destination, status FROM (
                    SELECT destination, status, row_number() OVER (
                        PARTITION BY destination ORDER BY recorded_at DESC) AS newest
                    FROM {FORGET_OUTCOMES_TABLE} WHERE request_id = ?) AS latest
                WHERE newest = 1""", [request_id]).fetchall()
        return {str(name): str(status) for name, status in rows}

    def customers_of(self, email: str) -> list[str]:
        """Ids of the customers with this address, in the store or in the push state."""
        rows = self.con.execute(
            f"""SELECT DISTINCT customer_id FROM customers WHERE lower(email) = ?
                UNION SELECT DISTINCT customer_id FROM {PUSH_STATE_TABLE} WHERE email = ?
                ORDER BY 1""", [email, email]).fetchall()
        return [str(row[0]) for row in rows]

    def anonymise_customers(self, customer_ids: Sequence[str]) -> None:
        """Blank every personal field and unsubscribe every consent (ids and orders stay,
        so the KPIs still count them); inside the caller's transaction."""
        if not customer_ids:
            return
        blank = ", ".join(f'"{column}" = NULL' for column in PERSONAL_CUSTOMER_FIELDS)
        consents = ", ".join(f"{column} = 'unsubscribed'" for column in CONSENT_COLUMNS)
        self.con.execute(f"UPDATE customers SET {blank}, {consents} WHERE customer_id IN "
                         "(SELECT unnest(?))", [list(customer_ids)])

    def blank_consent_addresses(self, customer_ids: Sequence[str]) -> None:
        """The consent ledger keeps these people's events, without addresses or evidence."""
        if customer_ids:
            self.con.execute(f"UPDATE {CONSENT_EVENTS_TABLE} SET address = NULL, evidence = '' "
                             "WHERE customer_id IN (SELECT unnest(?))", [list(customer_ids)])

    def drop_quarantined(self, email: str) -> int:
        """Quarantined payloads that contain the address go; returns how many."""
        return len(self.con.execute(f"DELETE FROM {QUARANTINE_TABLE} WHERE "
                                    "strpos(lower(payload), ?) > 0 RETURNING 1",
                                    [email]).fetchall())

    def note_customers(self, request_id: str, count: int) -> int:
        """Record how many customers the request anonymised (the most of any run of it);
        returns that figure."""
        self.con.execute(f"UPDATE {FORGET_REQUESTS_TABLE} SET customers = greatest(customers, ?) "
                         "WHERE request_id = ?", [count, request_id])
        row = self.con.execute(f"SELECT customers FROM {FORGET_REQUESTS_TABLE} WHERE "
                               "request_id = ?", [request_id]).fetchone()
        return int(row[0]) if row else count
