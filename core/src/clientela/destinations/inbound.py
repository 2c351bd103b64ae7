"""Destinations -> store: opt-outs a destination holds become consent events.

`read` asks one destination what changed there since its last read (unsubscribes,
bounces, complaints, archives, deletions), records it in the ledger and moves its
read mark. It runs for every configured destination before a push of any of them
(`clientela.destinations.read_first`: `clientela push` reads the others first, then the
push reads its own; `clientela run` reads them all once per workspace before its push
and messaging jobs), so an opt-out learned at one destination reaches every destination pushed after
it in the same run. An opt-out is recorded for each customer whose *current* address it
is, and only when it changes something (an echo of an unsubscribe the store itself
pushed adds nothing; a read repeated after a crash adds nothing either). A confirmation
of a double opt-in we sent (`subscribed` where we left `pending`) is recorded as an
opt-in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from clientela.consent import ConsentEvent, current_sql, record
from clientela.consent.ledger import ADDRESSES_SQL
from clientela.destinations.api import DELETED_MARK, REMOTE_OPT_OUTS, ReadsConsent, RemoteConsent
from clientela.destinations.state import STATE_TABLE, now

if TYPE_CHECKING:
    from clientela.store import Store

DELETED_EVIDENCE = DELETED_MARK + " {destination}: not re-created without a newer opt-in"
READ_OVERLAP = timedelta(minutes=5)
"""Each consent read starts this long before the previous one ended (clocks differ)."""


def last_read(store: Store, destination: str) -> datetime | None:
    return store.push_state.last_read(destination)


def mark_read(store: Store, destination: str, until: datetime, run_id: str | None) -> None:
    store.push_state.mark_read(destination, until, run_id)


def read(store: Store, destination: str, reader: ReadsConsent, run_id: str | None) -> int:
    """Read `reader`'s opt-outs since its last read, record them, move the read mark;
    returns how many events were new. Called in a transaction (`read_first`), the mark moves
    with what was recorded; either way a crash before the mark moves only makes the next
    read find the same opt-outs again, which `learn` does not record twice."""
    started = now()
    found = reader.read_consent(last_read(store, destination))
    learned = learn(store.con, destination, found, at=started)
    mark_read(store, destination, started - READ_OVERLAP, run_id)
    return learned


def learn(con: Any, destination: str, found: Sequence[RemoteConsent],
          *, at: datetime) -> int:
    """Record what `found` changes in the ledger; returns how many events were new."""
    if not found:
        return 0
    emails = sorted({item.email.strip().lower() for item in found})
    owners: dict[str, list[str]] = {}
    for cid, email in con.execute(
            f"SELECT customer_id, email FROM ({ADDRESSES_SQL}) "
            "WHERE email IN (SELECT unnest(CAST(? AS VARCHAR[])))", [emails]).fetchall():
        owners.setdefault(str(email), []).append(str(cid))
    now_state = {(str(cid), str(purpose)): str(status) for cid, purpose, status in con.execute(
        f"SELECT customer_id, purpose, status FROM ({current_sql()}) "
        "WHERE channel = 'email'").fetchall()}
    given = {(str(cid), str(email)): str(status) for cid, email, status in con.execute(
        f"SELECT customer_id, email, status FROM {STATE_TABLE} WHERE destination = ? AND "
        "status IN ('pending', 'unsubscribed', 'archived')", [destination]).fetchall()}
    events: list[ConsentEvent] = []
    for item in found:
        email = item.email.strip().lower()
        status = item.status.lower()
        for cid in owners.get(email, []):
            for purpose in item.purposes:
                # what the push gave a contact concerns e-mail marketing only
                pushed = given.get((cid, email)) if purpose == "marketing" else None
                if status in REMOTE_OPT_OUTS and pushed not in ("unsubscribed", "archived"):
                    wanted = "opted_out"  # (not the echo of an unsubscribe the push made)
                elif status == "subscribed" and pushed == "pending":
                    wanted = "opted_in"
                else:
                    continue
                if now_state.get((cid, purpose)) == wanted:
                    continue
                evidence = (f"{status} at {destination}"
                            + (f" ({item.detail})" if item.detail else ""))
                events.append(ConsentEvent(
                    customer_id=cid, channel="email", purpose=purpose,
                    status=wanted, address=email,
                    occurred_at=_dated(item.occurred_at, wanted,
                                       whole_seconds=item.whole_seconds) or at,
                    source=destination, evidence=evidence[:500]))
    return record(con, events)


def _dated(stated: datetime | None, status: str, *, whole_seconds: bool = True
           ) -> datetime | None:
    """When a destination says an opt-out happened. Its clock is rounded down to its unit:
    Mailchimp, SendGrid and Agile CRM give whole seconds, HubSpot milliseconds. The opt-out
    happened somewhere in that unit, and an opt-in the store holds from the same unit could be
    older or newer, so the opt-out is dated at the unit's last microsecond and wins that tie
    (consent comes first). A time finer than the unit is kept as it is."""
    if stated is None or status != "opted_out":
        return stated
    if whole_seconds and not stated.microsecond:
        return stated + timedelta(microseconds=999_999)
    if not whole_seconds and not stated.microsecond % 1000:
        return stated + timedelta(microseconds=999)
    return stated


def record_deleted(con: Any, destination: str,
                   contacts: Sequence[tuple[str, str]], *, at: datetime) -> int:
    """(customer_id, email) sent before and no longer held there: opt-outs from the
    destination, so they are not re-created unless a newer opt-in arrives."""
    evidence = DELETED_EVIDENCE.format(destination=destination)
    return record(con, [ConsentEvent(customer_id=cid, channel="email", purpose="marketing",
                                     status="opted_out", address=email, occurred_at=at,
                                     source=destination, evidence=evidence)
                        for cid, email in contacts if email])


def record_former(con: Any, destination: str,
                  addresses: Sequence[tuple[str, str]], *, at: datetime) -> int:
    """(customer_id, former address) now unsubscribed (or absent) at the destination: an
    opt-out for that address (it does not touch the current one), so it is not checked
    again."""
    return record(con, [ConsentEvent(customer_id=cid, channel="email", purpose="marketing",
                                     status="opted_out", address=address, occurred_at=at,
                                     source=destination,
                                     evidence=f"a former address, unsubscribed at {destination}")
                        for cid, address in addresses if address])
