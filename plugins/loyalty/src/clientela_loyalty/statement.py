"""A member's statement: who (masked), their balance, their lots and every entry.

Found by customer id or by e-mail address (any source); the address is
never printed whole, only masked, as everywhere in clientela.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from clientela.errors import NotFound
from clientela.identity.analytics import persons_of, records_of
from clientela.privacy import mask_email
from clientela.store import Store
from clientela_loyalty.audiences import lots_sql, store_ledger


class UnknownMember(NotFound):
    """No customer, or no ledger entry, matches what was asked for."""


@dataclass(frozen=True)
class Statement:
    customer_id: str
    records: tuple[str, ...]
    """Every customer record of the person (the asked one first): the balance, lots and
    entries are hers, summed over them (one record when the store has no links)."""
    who: str
    """The masked e-mail address, or the id when the store has no address."""
    balance: int
    lots: pa.Table
    """earned_at, expires_at, left: the points of each lot still held."""
    entries: pa.Table
    """occurred_at, kind, points, order_id, expires_at, event_id, in time order."""


def find_customer(store: Store, who: str) -> tuple[str, str]:
    """(customer_id, masked label) for an id or an e-mail address."""
    text = who.strip()
    if "@" in text:
        row = store.con.execute(
            "SELECT customer_id FROM customers WHERE email = ? ORDER BY customer_id LIMIT 1",
            [text.lower()]).fetchone()
        if row is None:
            raise UnknownMember(f"no customer with the e-mail address {mask_email(text)}")
        return str(row[0]), mask_email(text)
    row = store.con.execute(
        "SELECT max(email) FROM customers WHERE customer_id = ?", [text]).fetchone()
    email = row[0] if row else None
    known = store.con.execute(
        "SELECT count(*) FROM loyalty_events WHERE customer_id = ?", [text]).fetchone()
    if email is None and not (known and known[0]):
        raise UnknownMember(f"no customer {text!r} in the store or the ledger")
    return text, mask_email(str(email)) if email else text


def statement(store: Store, who: str, at: datetime) -> Statement:
    """The statement of the person `who` names: her balance is read over all her records
    (`clientela.identity`), as the audiences read it."""
    customer_id, label = find_customer(store, who)
    records = records_of(store, [customer_id])[customer_id]
    person = persons_of(store, [customer_id])[customer_id]
    lots = store.con.execute(
        f"""SELECT earned_at, expires_at, "left" FROM ({lots_sql(at, store_ledger(store))})
            WHERE customer_id = ? AND "left" > 0 ORDER BY expires_at NULLS LAST, earned_at""",
        [person]).fetch_arrow_table()
    entries = store.con.execute(
        """SELECT occurred_at, kind, points, order_id, expires_at, event_id FROM loyalty_events
           WHERE customer_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) AND occurred_at < ?
           ORDER BY occurred_at, CASE kind WHEN 'expire' THEN 0 WHEN 'reverse' THEN 1
                    WHEN 'redeem' THEN 2 WHEN 'earn' THEN 3 ELSE 4 END, event_id""",
        [records, at.replace(tzinfo=None)]).fetch_arrow_table()
    balance = sum(entries.column("points").to_pylist())
    return Statement(customer_id, tuple(records), label, balance, lots, entries)
