"""What planning needs to know about the people it may contact, loaded in bulk.

One query per kind of fact for just the candidates (addresses, names, time
zone and language, consent per medium, WhatsApp conversations, recent
marketing, erasures), so planning a month of journeys on a million
customers is a handful of joins, not a query per person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import duckdb
import pyarrow as pa

from clientela.journeys.consent import consent_table
from clientela.journeys.ledger import naive
from clientela.privacy import FORGET_REQUESTS_TABLE, email_digest
from clientela.store import Store
from clientela.store.migrations import (
    CHANNEL_INBOUND_TABLE,
    MESSAGE_FORGOTTEN_TABLE,
    MESSAGES_TABLE,
)


@dataclass(frozen=True)
class Person:
    customer_id: str
    email: str | None
    phone: str | None
    first_name: str | None
    timezone: str | None
    language: str | None

    def address(self, medium: str) -> str | None:
        if medium == "email":
            return self.email or None
        return self.e164_phone

    @cached_property
    def e164_phone(self) -> str | None:
        return e164(self.phone)


def e164(phone: str | None, default_country_code: str = "55") -> str | None:
    """'+55 (11) 98765-4321' -> '+5511987654321'; a national number of 10 or 11 digits gets
    the default country code (Brazil's); anything else is no usable address."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if phone.strip().startswith("+") and 8 <= len(digits) <= 15:
        return "+" + digits
    if len(digits) in (10, 11):
        return f"+{default_country_code}{digits}"
    if len(digits) in (12, 13) and digits.startswith(default_country_code):
        return "+" + digits
    return None


def _ids(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> None:
    con.register("_journeys_ids", pa.table({"customer_id": pa.array(list(ids), pa.string())}))


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                      [table]).fetchone()
    return bool(row and row[0])


@dataclass
class Contacts:
    people: dict[str, Person]
    consent: dict[tuple[str, str], dict[str, str]]
    """(medium, purpose) -> customer_id -> status."""
    forgotten: set[str]
    last_inbound: dict[tuple[str, str], datetime]
    """(customer_id, medium) -> the person's last message to us (naive UTC)."""
    last_marketing: dict[tuple[str, str], datetime]
    """(customer_id, medium) -> the last marketing message sent (naive UTC)."""


def load_contacts(store: Store, ids: Sequence[str], media: Sequence[str],
                  purposes: Sequence[str]) -> Contacts:
    con = store.con
    ids = sorted(set(ids))
    _ids(con, ids)
    try:
        rows = con.execute("""
            SELECT c.customer_id, c.email, c.phone, c.first_name,
                   json_extract_string(CAST(c.attributes AS JSON), '$.timezone'),
                   json_extract_string(CAST(c.attributes AS JSON), '$.language')
            FROM customers c JOIN _journeys_ids i USING (customer_id)""").fetchall()
        people = {str(r[0]): Person(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows}
        forgotten = {str(r[0]) for r in con.execute(
            f"SELECT customer_id FROM {MESSAGE_FORGOTTEN_TABLE} JOIN _journeys_ids "
            "USING (customer_id)").fetchall()}
        if _has(con, FORGET_REQUESTS_TABLE):
            digests = {str(r[0]) for r in con.execute(
                f"SELECT email_digest FROM {FORGET_REQUESTS_TABLE}").fetchall()}
            forgotten |= {p.customer_id for p in people.values()
                          if p.email and email_digest(p.email) in digests}
        inbound = {(str(r[0]), str(r[1])): r[2] for r in con.execute(
            f"SELECT customer_id, medium, max(received_at) FROM {CHANNEL_INBOUND_TABLE} "
            "JOIN _journeys_ids USING (customer_id) GROUP BY ALL").fetchall()}
        marketing = {(str(r[0]), str(r[1])): r[2] for r in con.execute(
            f"SELECT customer_id, medium, max(sent_at) FROM {MESSAGES_TABLE} "
            "JOIN _journeys_ids USING (customer_id) WHERE purpose = 'marketing' "
            "AND status IN ('calling', 'sent', 'delivered', 'read') AND sent_at IS NOT NULL "
            "GROUP BY ALL").fetchall()}
    finally:
        con.unregister("_journeys_ids")
    consent = consent_table(store, media, purposes, ids)
    return Contacts(people, consent, forgotten, inbound, marketing)


def since(moment: datetime | None, now: datetime) -> float | None:
    """Hours from `moment` (naive UTC) to `now`, or None."""
    if moment is None:
        return None
    return (naive(now) - moment).total_seconds() / 3600.0
