"""Contacts now vs what the destination last received: the only rows worth a call.

The comparison is one SQL join on the hash, so an unchanged contact never
leaves DuckDB; only changed rows become `Change` objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from clientela.destinations.api import Change, Contact, FieldSpec
from clientela.destinations.contacts import CONTACTS_VIEW, to_contacts
from clientela.destinations.state import STATE_TABLE


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    total: int = 0


def diff(con: duckdb.DuckDBPyConnection, destination: str, segmentation: str,
         fields: Sequence[FieldSpec]) -> Diff:
    names = [spec.name for spec in fields]
    cols = ", ".join(f'c."{n}"' for n in names)
    params = [destination, segmentation]
    state = (f"(SELECT customer_id, hash, segment, email FROM {STATE_TABLE} "
             "WHERE destination = ? AND segmentation = ?)")
    counts = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE s.hash = c.hash)
        FROM {CONTACTS_VIEW} c LEFT JOIN {state} s USING (customer_id)""", params).fetchone()
    result = Diff(total=int(counts[0]) if counts else 0,
                  unchanged=int(counts[1]) if counts else 0)
    changed = con.execute(f"""
        SELECT c.customer_id, c.email, c.consent, c.segment, c.hash,
               s.segment AS previous_segment, s.hash IS NOT NULL AS sent{", " + cols if cols else ""}
        FROM {CONTACTS_VIEW} c LEFT JOIN {state} s USING (customer_id)
        WHERE s.hash IS DISTINCT FROM c.hash
        ORDER BY c.segment, c.customer_id""", params).to_arrow_table()
    contacts = to_contacts(changed, fields)
    previous = changed.column("previous_segment").to_pylist()
    sent = changed.column("sent").to_pylist()
    for contact, prev, was_sent, digest in zip(contacts, previous, sent,
                                               changed.column("hash").to_pylist(), strict=True):
        result.changes.append(Change(contact, "update" if was_sent else "create",
                                     previous_segment=prev))
        result.hashes[contact.customer_id] = digest
    # sent before, no longer a contact of this segmentation: take them out of their segment
    gone = con.execute(f"""
        SELECT s.customer_id, s.email, s.segment FROM {state} s
        ANTI JOIN {CONTACTS_VIEW} c USING (customer_id)
        ORDER BY s.segment, s.customer_id""", params).fetchall()
    for customer_id, email, segment in gone:
        contact = Contact(customer_id=customer_id, email=email or "", consent="unknown",
                          segment=None, fields={})
        result.changes.append(Change(contact, "remove", previous_segment=segment))
    return result
