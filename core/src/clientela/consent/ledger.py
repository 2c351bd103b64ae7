"""Consent events: append, derive the current state, answer "may we contact them?".

The ledger is one store table, `consent_events`, written only by `record`
(and by the store itself when customer rows carry consent columns, see
`clientela.consent.columns`). Each event has a deterministic key (an md5 of
everything it says), so recording the same event twice adds nothing and a
re-run of any import, sync or push is harmless.

The current state per (customer, channel, purpose) is computed, never
stored: the newest event wins (an opt-out wins a tie), and only events for
the customer's *current* address for that channel count: the e-mail for
`email`, the phone for `sms` and `whatsapp`. A person who changes address
therefore starts without consent on the new one. Opt-outs with no address
(or of a person who no longer has one, e.g. after `forget`) still count.

When the store links customer records to persons (`clientela.identity`), a
record's state is derived from the events of all the records of its person,
so an opt-out at the till protects her online address too; the address rule
for persons is written at `_persons_sql` and in docs/persons.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from clientela.identity import IDENTITY_LINKS_TABLE, person_id_sql
from clientela.identity.analytics import links_in_use, records_of, resolving

EVENTS_TABLE = "consent_events"
CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp")
PURPOSES: tuple[str, ...] = ("marketing", "relationship")
Channel = Literal["email", "sms", "whatsapp"]
Purpose = Literal["marketing", "relationship"]
Status = Literal["opted_in", "opted_out"]

KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
"""How `occurred_at` enters the event key (the SQL side uses the same strftime format)."""
COLUMNS = ("event_key", "customer_id", "channel", "purpose", "status", "address",
           "occurred_at", "source", "evidence", "recorded_at")


def normalise_address(channel: str, address: str | None) -> str | None:
    """E-mail lower-cased and trimmed; a phone reduced to its digits (so '+55 (11) 9...' and
    '5511 9...' are one number). None or empty stays None."""
    if address is None:
        return None
    text = address.strip()
    text = text.lower() if channel == "email" else re.sub(r"\D", "", text)
    return text or None


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class ConsentEvent(BaseModel):
    """One change of consent, as it was stated, by whom, and on what evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    channel: Channel
    purpose: Purpose
    status: Status
    address: str | None
    """The e-mail (for `email`) or phone (for `sms`, `whatsapp`) the consent applies to."""
    occurred_at: datetime
    """When it happened (naive UTC; an aware time is converted)."""
    source: str
    """`import`, a store platform, a destination name, `channel_reply` or `forget`."""
    evidence: str = ""
    """Free text: the form, the checkbox text, the keyword replied, the API status read."""

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _naive_utc(value)

    @field_validator("customer_id", "source")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _normalised(self) -> ConsentEvent:
        address = normalise_address(self.channel, self.address)
        if address != self.address:
            object.__setattr__(self, "address", address)
        return self

    @property
    def key(self) -> str:
        return event_key(self.customer_id, self.channel, self.purpose, self.status,
                         self.address, self.occurred_at, self.source, self.evidence)


def event_key(customer_id: str, channel: str, purpose: str, status: str, address: str | None,
              occurred_at: datetime, source: str, evidence: str) -> str:
    """md5 of the event's content; `KEY_SQL` computes the same in DuckDB."""
    text = "|".join((customer_id, channel, purpose, status, address or "",
                     occurred_at.strftime(KEY_FORMAT), source, evidence))
    return hashlib.md5(text.encode()).hexdigest()


KEY_SQL = ("md5(concat_ws('|', customer_id, channel, purpose, status, coalesce(address, ''), "
           f"strftime(occurred_at, '{KEY_FORMAT}'), source, evidence))")
"""The event key in SQL, over columns of those names."""


def _con(store: Any) -> Any:
    """The store's connection: DuckDB's, or the PostgreSQL store's, which runs the ledger's
    DuckDB SQL translated (`clientela.store.postgres`)."""
    return getattr(store, "con", store)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record(store: Any, events: Iterable[ConsentEvent]) -> int:
    """Append `events` (a Store or its connection); returns how many were new. An event
    already recorded (same key) is not added again. One statement: all or none."""
    rows = list(events)
    if not rows:
        return 0
    con = _con(store)
    at = _now()
    table = pa.table({
        "event_key": [e.key for e in rows],
        "customer_id": [e.customer_id for e in rows],
        "channel": [e.channel for e in rows],
        "purpose": [e.purpose for e in rows],
        "status": [e.status for e in rows],
        "address": pa.array([e.address for e in rows], pa.string()),
        "occurred_at": pa.array([e.occurred_at for e in rows], pa.timestamp("us")),
        "source": [e.source for e in rows],
        "evidence": [e.evidence for e in rows],
        "recorded_at": pa.array([at] * len(rows), pa.timestamp("us")),
    })
    before = _count(con)
    con.register("_consent_rows", table)
    try:
        con.execute(f"""INSERT OR IGNORE INTO {EVENTS_TABLE} ({", ".join(COLUMNS)})
                        SELECT DISTINCT ON (event_key) {", ".join(COLUMNS)} FROM _consent_rows""")
    finally:
        con.unregister("_consent_rows")
    return _count(con) - before


def _count(con: Any) -> int:
    row = con.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()
    return int(row[0]) if row else 0


ADDRESSES_SQL = """
    SELECT customer_id, nullif(lower(trim(email)), '') AS email,
           nullif(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), '') AS phone
    FROM customers
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY _loaded_at DESC, source) = 1"""
"""Each customer's current e-mail and phone (normalised): the most recently loaded row."""


_STATE_ORDER = ("ORDER BY occurred_at DESC, (status = 'opted_out') DESC, recorded_at DESC, "
                "event_key")
"""Newest wins; at the same instant an opt-out wins; then the later recorded, then the key."""


def current_sql(events: str = EVENTS_TABLE, *, persons: bool | None = None) -> str:
    """SQL for the current state: one row per (customer_id, channel, purpose) with status,
    address, changed_at, source and evidence. Usable as a subquery by the push engine.

    With persons (`persons=None` follows `[identity] enabled`, see
    `clientela.identity.analytics`), a record's state comes from the events of every record
    of the same person (`_persons_sql`); without, or with no links, from its own alone."""
    if persons is None:
        persons = resolving()
    if persons:
        return _persons_sql(events)
    return f"""
        SELECT customer_id, channel, purpose, status, address, occurred_at AS changed_at,
               source, evidence
        FROM (
            SELECT e.* FROM {events} e LEFT JOIN ({ADDRESSES_SQL}) a USING (customer_id)
            WHERE e.address = CASE e.channel WHEN 'email' THEN a.email ELSE a.phone END
               OR (e.status = 'opted_out' AND (e.address IS NULL
                   OR (CASE e.channel WHEN 'email' THEN a.email ELSE a.phone END) IS NULL))
        )
        QUALIFY row_number() OVER (PARTITION BY customer_id, channel, purpose
                                   {_STATE_ORDER}) = 1"""


def _persons_sql(events: str) -> str:
    """The current state of each record from the events of all records of its person.

    Which events count for a record `r` (its current address for the channel: `addr(r)`):
    - an event for `addr(r)` itself, from any of her records: an opt-in counts only for
      the address it was given for, so an opt-in at the till for the e-mail she also uses
      online counts online, and one for another address does not;
    - an opt-out with no address, or of a record without an address (as for one record);
    - an opt-out of the *current* address of the record it was recorded on: she said no on
      that channel, so an opt-out at the till protects her online address too. An opt-out of
      a record's former address stays with that address.
    Then the ledger's order: the newest wins, an opt-out wins a tie. A record without links
    is its own person, for which these rules are exactly those of `current_sql` without
    persons."""
    own = "CASE e.channel WHEN 'email' THEN ea.email ELSE ea.phone END"
    mine = "CASE e.channel WHEN 'email' THEN r.email ELSE r.phone END"
    return f"""
        WITH addr AS ({ADDRESSES_SQL}),
        ev AS (
            SELECT e.*, {person_id_sql('e.customer_id')} AS _person, {own} AS _own
            FROM {events} e LEFT JOIN {IDENTITY_LINKS_TABLE} il USING (customer_id)
            LEFT JOIN addr ea USING (customer_id)),
        rec AS (
            SELECT k.customer_id, {person_id_sql('k.customer_id')} AS _person, a.email, a.phone
            FROM (SELECT customer_id FROM customers UNION SELECT customer_id FROM ev) k
            LEFT JOIN {IDENTITY_LINKS_TABLE} il USING (customer_id)
            LEFT JOIN addr a USING (customer_id))
        SELECT customer_id, channel, purpose, status, address, changed_at, source, evidence
        FROM (
            SELECT r.customer_id, e.channel, e.purpose, e.status, e.address,
                   e.occurred_at AS changed_at, e.source, e.evidence, e.occurred_at,
                   e.recorded_at, e.event_key
            FROM ev e JOIN rec r ON r._person = e._person
            WHERE e.address = {mine}
               OR (e.status = 'opted_out' AND (e.address IS NULL OR {mine} IS NULL
                                               OR e.address = e._own))
        )
        QUALIFY row_number() OVER (PARTITION BY customer_id, channel, purpose
                                   {_STATE_ORDER}) = 1"""


def _persons_here(store: Any) -> bool:
    """Persons apply to this store now: resolution is on and it holds links."""
    return links_in_use(_con(store))


def current(store: Any) -> pa.Table:
    """The derived current state as an Arrow table: customer_id, channel, purpose, status,
    address, changed_at, source (and evidence). A (customer, channel, purpose) without any
    event that counts has no row: nobody has consent by default. With persons, each record
    of a person holds her state (see `current_sql`)."""
    sql = current_sql(persons=_persons_here(store))
    return _con(store).execute(
        f"SELECT * FROM ({sql}) ORDER BY customer_id, channel, purpose").to_arrow_table()


def can_contact(store: Any, customer_id: str, channel: str, purpose: str) -> bool:
    """True only when the newest counting event for that channel and purpose is an opt-in
    (with persons: among the events of all her records, see `current_sql`)."""
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    if purpose not in PURPOSES:
        raise ValueError(f"purpose {purpose!r}: expected one of {', '.join(PURPOSES)}")
    con = _con(store)
    persons = _persons_here(con)
    ids = records_of(con, [customer_id])[customer_id] if persons else [customer_id]
    events = (f"(SELECT * FROM {EVENTS_TABLE} WHERE channel = ? AND purpose = ? "
              "AND customer_id IN (SELECT unnest(CAST(? AS VARCHAR[]))))")
    row = con.execute(  # `?` in the order they appear (PostgreSQL has no named ones here)
        f"SELECT status FROM ({current_sql(events, persons=persons)}) "
        "WHERE customer_id = ?", [channel, purpose, ids, customer_id]).fetchone()
    return row is not None and row[0] == "opted_in"


def history(store: Any, address_or_customer_id: str) -> list[ConsentEvent]:
    """Every event about a person, oldest first: found by customer id, by an address the
    events name, or by a customer's current e-mail or phone; with persons, the events of
    every record of the person found."""
    con = _con(store)
    text = address_or_customer_id.strip()
    email = normalise_address("email", text)
    phone = normalise_address("sms", text) if any(c.isdigit() for c in text) else None
    ids = [str(row[0]) for row in con.execute(
        f"SELECT customer_id FROM ({ADDRESSES_SQL}) WHERE customer_id = ? OR email = ? "
        "OR phone = ?", [text, email, phone]).fetchall()]
    found = records_of(con, [*ids, text])  # with persons: every record of the same person
    ids = sorted({other for records in found.values() for other in records} - {text})
    rows = con.execute(
        f"""SELECT customer_id, channel, purpose, status, address, occurred_at, source, evidence
            FROM {EVENTS_TABLE}
            WHERE customer_id = ? OR customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
               OR address = ? OR address = ?
            ORDER BY occurred_at, recorded_at, event_key""",
        [text, ids, email, phone]).fetchall()  # None matches no address
    return [ConsentEvent(customer_id=r[0], channel=r[1], purpose=r[2], status=r[3], address=r[4],
                         occurred_at=r[5], source=r[6], evidence=r[7]) for r in rows]


def opted_out(customer_ids: Sequence[str], *, channel: Channel, address: str | None,
              occurred_at: datetime, source: str, evidence: str,
              purpose: Purpose = "marketing") -> list[ConsentEvent]:
    """Opt-out events for several customers at once (a destination's unsubscribe, forget)."""
    return [ConsentEvent(customer_id=cid, channel=channel, purpose=purpose, status="opted_out",
                         address=address, occurred_at=occurred_at, source=source,
                         evidence=evidence) for cid in customer_ids]
