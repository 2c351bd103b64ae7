"""The one place where the journeys ask about consent and record opt-outs.

Every decision to contact somebody goes through `consent_states`, and every
opt-out the channels learn of (a STOP reply, Twilio's 21610, an unsubscribe
event) goes through `record_opt_out`, so the rule "no path contacts a person
without a current opt-in for that channel and purpose" is enforced here and
nowhere else.

When the consent ledger (`clientela.consent`) is installed, it is the source
of truth: the newest event per (customer, channel, purpose) wins, and opt-outs
are recorded there as events with their source and evidence. Without it,
the customer's `consent_<channel>` column is read (the same column for both
purposes) and an opt-out sets it to `unsubscribed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from clientela.store import Store

SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
MEDIA = ("sms", "whatsapp", "email")


def _ledger() -> object | None:
    try:
        from clientela import consent  # the consent ledger, when this install has it
    except ImportError:
        return None
    return consent if hasattr(consent, "record") and hasattr(consent, "current") else None


def consent_states(store: Store, medium: str, purpose: str,
                   customer_ids: Sequence[str] | None = None) -> dict[str, str]:
    """customer_id -> current status (`subscribed`, `unsubscribed`, `pending`, `unknown`) for
    one medium and purpose; customers with no record at all are absent (no consent)."""
    ledger = _ledger()
    con = store.con
    if ledger is not None:
        table = ledger.current(store)  # type: ignore[attr-defined]
        con.register("_journeys_consent", table)
        try:
            rows = con.execute(
                "SELECT customer_id, status FROM _journeys_consent "
                "WHERE channel = ? AND purpose = ?", [medium, purpose]).fetchall()
        finally:
            con.unregister("_journeys_consent")
    else:
        if medium not in MEDIA:
            return {}
        rows = con.execute(
            f"SELECT customer_id, CAST(consent_{medium} AS VARCHAR) FROM customers").fetchall()
    states = {str(c): str(s) for c, s in rows}
    if customer_ids is not None:
        wanted = set(customer_ids)
        states = {c: s for c, s in states.items() if c in wanted}
    return states


def record_opt_out(store: Store, customer_ids: Iterable[str], media: Iterable[str],
                   purposes: Iterable[str], *, source: str, evidence: str,
                   occurred_at: datetime) -> int:
    """Record that these people opted out of these media and purposes; returns events written."""
    ids = sorted(set(customer_ids))
    media, purposes = tuple(media), tuple(purposes)
    if not ids:
        return 0
    ledger = _ledger()
    if ledger is not None:
        events = [ledger.ConsentEvent(  # type: ignore[attr-defined]
            customer_id=customer_id, channel=medium, purpose=purpose, status=UNSUBSCRIBED,
            address=None, occurred_at=occurred_at, source=source, evidence=evidence)
            for customer_id in ids for medium in media for purpose in purposes]
        return int(ledger.record(store, events))  # type: ignore[attr-defined]
    columns = [m for m in media if m in MEDIA]
    if not columns:
        return 0
    assignments = ", ".join(f"consent_{m} = 'unsubscribed'" for m in columns)
    store.con.execute(f"UPDATE customers SET {assignments} WHERE customer_id IN "
                      "(SELECT unnest(?))", [ids])
    return len(ids) * len(columns) * len(purposes)
