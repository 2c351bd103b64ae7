"""The one place where the journeys ask about consent and record opt-outs.

Every decision to contact somebody goes through `consent_states`, and every
opt-out the channels learn of (a STOP reply, Twilio's 21610, an unsubscribe
event) goes through `record_opt_out`, so the rule "no path contacts a person
without a current opt-in for that channel and purpose" is enforced here, on
the consent ledger (`clientela.consent`): the newest event per (customer,
channel, purpose) wins, an opt-in counts only for the address it was given
for, and an opt-out is recorded as an event with its source and evidence.
With persons (`clientela.identity`), the events of all of a person's records
decide for each of them, so a STOP on her POS phone stops her online address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pyarrow as pa

from clientela.consent import EVENTS_TABLE, ConsentEvent, current_sql, record
from clientela.identity.analytics import links_in_use, records_of
from clientela.store import Store

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
MEDIA = ("sms", "whatsapp", "email")
_STATES = {"opted_in": SUBSCRIBED, "opted_out": UNSUBSCRIBED}


def consent_states(store: Store, medium: str, purpose: str,
                   customer_ids: Sequence[str] | None = None) -> dict[str, str]:
    """customer_id -> `subscribed` or `unsubscribed` for one medium and purpose; a customer
    without any counting event is absent (no consent)."""
    return consent_table(store, (medium,), (purpose,), customer_ids).get((medium, purpose), {})


def consent_table(store: Store, media: Sequence[str], purposes: Sequence[str],
                  customer_ids: Sequence[str] | None = None
                  ) -> dict[tuple[str, str], dict[str, str]]:
    """(medium, purpose) -> customer_id -> status, for several media and purposes in one
    query over the consent ledger."""
    wanted = [m for m in media if m in MEDIA]
    table: dict[tuple[str, str], dict[str, str]] = {(m, p): {} for m in media for p in purposes}
    if not wanted or not purposes:
        return table
    con = store.con
    persons = links_in_use(con)
    # positional parameters (PostgreSQL's driver takes no DuckDB `$name`): `events` appears
    # once in `current_sql`, media first
    events = (f"(SELECT * FROM {EVENTS_TABLE} WHERE channel IN (SELECT unnest(?)) "
              "AND purpose IN (SELECT unnest(?))")
    if customer_ids is not None:  # only these people's events enter the window
        # (with persons: the events of every record of theirs, whose opt-outs count too)
        asked = list(customer_ids)
        ids = sorted({r for rs in records_of(con, asked).values() for r in rs}) if persons \
            else asked
        con.register("_journeys_consent_ids", pa.table({"id": pa.array(ids, pa.string())}))
        events += " AND customer_id IN (SELECT id FROM _journeys_consent_ids)"
    sql = (f"SELECT channel, purpose, customer_id, status "
           f"FROM ({current_sql(events + ')', persons=persons)})")
    try:
        rows = con.execute(sql, [wanted, list(purposes)]).fetchall()
    finally:
        if customer_ids is not None:
            con.unregister("_journeys_consent_ids")
    for medium, purpose, customer, status in rows:
        table.setdefault((str(medium), str(purpose)), {})[str(customer)] = \
            _STATES.get(str(status), str(status))
    return table


def record_opt_out(store: Store, customer_ids: Iterable[str], media: Iterable[str],
                   purposes: Iterable[str], *, source: str, evidence: str,
                   occurred_at: datetime) -> int:
    """Record that these people opted out of these media and purposes (with no address, so
    it holds whatever address they have); returns the events that were new."""
    events = [ConsentEvent(customer_id=customer_id, channel=medium, purpose=purpose,
                           status="opted_out", address=None, occurred_at=occurred_at,
                           source=source, evidence=evidence)
              for customer_id in sorted(set(customer_ids)) for medium in media
              for purpose in purposes]
    return record(store, events) if events else 0
