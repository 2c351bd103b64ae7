"""Contacts now vs what the destination last received: the only rows worth a call.

The comparison is one SQL join on the hash, so an unchanged contact never
leaves the store's database (DuckDB, or PostgreSQL: the SQL is portable or
translated); only changed rows become `Change` objects:

* `create` (never sent), `update` (sent, now different; the status it was
  given rides along as `sent_status`);
* a customer whose address changed since it was sent is a new contact (a
  `create` for the new address, which starts without consent) plus an
  `unsubscribe` of the old address, which also takes its segment away; so
  is any former address of a contact that the ledger knows of and that was
  not yet unsubscribed at this destination (it may predate clientela);
* a customer sent before who is no longer a contact of this segmentation is a
  `remove` (out of its segment), or an `unsubscribe` when the ledger holds
  no current opt-in for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clientela.consent import EVENTS_TABLE
from clientela.destinations.api import Change, Contact, FieldSpec
from clientela.destinations.contacts import (
    CONSENT_TABLE,
    CONTACTS_VIEW,
    split_opt_outs,
    to_contacts,
)
from clientela.destinations.state import OLD_ADDRESS, STATE_TABLE


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    total: int = 0


def diff(con: Any, destination: str, segmentation: str,
         fields: Sequence[FieldSpec]) -> Diff:
    names = [spec.name for spec in fields]
    cols = ", ".join(f'c."{n}"' for n in names)
    params = [destination, segmentation]
    state = (f"(SELECT customer_id, hash, segment, email, status, opt_outs FROM {STATE_TABLE} "
             "WHERE destination = ? AND segmentation = ?)")
    counts = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE s.hash = c.hash)
        FROM {CONTACTS_VIEW} c LEFT JOIN {state} s USING (customer_id)""", params).fetchone()
    result = Diff(total=int(counts[0]) if counts else 0,
                  unchanged=int(counts[1]) if counts else 0)
    changed = con.execute(f"""
        SELECT c.customer_id, c.email, c.consent, c.consent_note, c.opt_outs, c.segment, c.hash,
               s.segment AS previous_segment, s.hash IS NOT NULL AS sent,
               s.email AS sent_email, s.status AS sent_status,
               s.opt_outs AS sent_opt_outs{", " + cols if cols else ""}
        FROM {CONTACTS_VIEW} c LEFT JOIN {state} s USING (customer_id)
        WHERE s.hash IS DISTINCT FROM c.hash
        ORDER BY c.segment, c.customer_id""", params).to_arrow_table()
    contacts = to_contacts(changed, fields)
    columns = {name: changed.column(name).to_pylist()
               for name in ("previous_segment", "sent", "sent_email", "sent_status",
                            "sent_opt_outs", "hash")}
    for index, contact in enumerate(contacts):
        previous, was_sent = columns["previous_segment"][index], columns["sent"][index]
        sent_email, sent_status = columns["sent_email"][index], columns["sent_status"][index]
        sent_opt_outs = split_opt_outs(columns["sent_opt_outs"][index])
        if was_sent and sent_email and sent_email != contact.email:
            old = Contact(customer_id=OLD_ADDRESS + contact.customer_id, email=sent_email,
                          consent="unsubscribed", segment=None, fields={},
                          consent_note="address changed")
            result.changes.append(Change(old, "unsubscribe", previous_segment=previous,
                                         status="unsubscribed", sent_status=sent_status))
            result.changes.append(Change(contact, "create"))
        else:
            result.changes.append(Change(contact, "update" if was_sent else "create",
                                         previous_segment=previous, sent_status=sent_status,
                                         sent_opt_outs=sent_opt_outs))
        result.hashes[contact.customer_id] = columns["hash"][index]
    _former_addresses(con, destination, result)
    # sent before, no longer a contact of this segmentation: out of their segment, and
    # unsubscribed if the ledger holds no current opt-in for them
    gone = con.execute(f"""
        SELECT s.customer_id, s.email, s.segment, s.status, coalesce(k.status, ''),
               k.opt_outs, s.opt_outs
        FROM {state} s
        LEFT JOIN {CONSENT_TABLE} k USING (customer_id)
        WHERE NOT EXISTS (SELECT 1 FROM {CONTACTS_VIEW} c WHERE c.customer_id = s.customer_id)
        ORDER BY s.segment, s.customer_id""", params).fetchall()
    for customer_id, email, segment, status, ledger, opt_outs, sent_opt_outs in gone:
        consented = ledger == "opted_in"
        # `unsubscribed` only for an opt-out the ledger holds: no opt-in is not an opt-out
        contact = Contact(customer_id=customer_id, email=email or "",
                          consent="subscribed" if consented else
                          "unsubscribed" if ledger == "opted_out" else "unknown",
                          segment=None, fields={}, opt_outs=split_opt_outs(opt_outs))
        handed = split_opt_outs(sent_opt_outs)
        if consented or status in ("unsubscribed", "archived"):
            result.changes.append(Change(contact, "remove", previous_segment=segment,
                                         sent_status=status, sent_opt_outs=handed))
        else:
            result.changes.append(Change(contact, "unsubscribe", previous_segment=segment,
                                         status="unsubscribed", sent_status=status,
                                         sent_opt_outs=handed))
    return result


def _former_addresses(con: Any, destination: str, result: Diff) -> None:
    """Addresses the ledger knows a contact used to have (and nobody has now), not yet
    unsubscribed at this destination: checked there and unsubscribed if still subscribed,
    even when clientela never pushed them (a member that predates it)."""
    handled = {change.contact.email for change in result.changes
               if change.customer_id.startswith(OLD_ADDRESS)}
    rows = con.execute(f"""
        SELECT customer_id, address FROM (
            SELECT e.customer_id, e.address, e.source, e.status, e.occurred_at,
                   e.recorded_at, row_number() OVER (PARTITION BY e.customer_id, e.address
                       ORDER BY e.occurred_at DESC, e.recorded_at DESC) AS newest
            FROM {EVENTS_TABLE} e
            JOIN (SELECT DISTINCT customer_id, lower(email) AS email FROM {CONTACTS_VIEW}) c
              ON c.customer_id = e.customer_id
            WHERE e.channel = 'email' AND e.address IS NOT NULL AND e.address <> c.email
              AND e.address NOT IN (SELECT lower(email) FROM customers WHERE email IS NOT NULL)
        ) latest
        WHERE newest = 1 AND source || '|' || status <> ? || '|opted_out'
        ORDER BY 1, 2""", [destination]).fetchall()
    for customer_id, address in rows:
        if address in handled:
            continue
        old = Contact(customer_id=f"{OLD_ADDRESS}{customer_id}\x1f{address}", email=address,
                      consent="unsubscribed", segment=None, fields={},
                      consent_note="a former address")
        result.changes.append(Change(old, "unsubscribe", status="unsubscribed"))
