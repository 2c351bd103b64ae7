"""`forget`: a person's erasure request, carried out in the store and in every destination.

A request is recorded before anything is done, with one outcome row per
destination, so it can be shown to an auditor and so re-running `forget`
for the same address completes what failed the first time. The address
itself is kept only while the request is open (a destination needs it to
find the person); once every destination is done, only its SHA-256 digest
remains, which proves what was erased without holding it.

Tables (see the store's migrations):

* `forget_requests(request_id, email_digest, email, requested_at,
  completed_at, status, customers)`: status `open` or `done`; `customers`
  is how many store customers were anonymised.
* `forget_outcomes(request_id, destination, status, detail, recorded_at)`: status
  `deleted`, `absent` or `failed`; the latest row per destination counts.

In the store, the customer rows keep their id (orders still count in the
KPIs) but lose every personal field, and their consents become
`unsubscribed`; quarantined payloads that contain the address are deleted,
the push state forgets them, and their messages in the message ledger keep
who was contacted and when but lose the address, subject, body and variables.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import duckdb

from clientela.consent import CHANNELS, EVENTS_TABLE, PURPOSES, ConsentEvent, record
from clientela.destinations import state
from clientela.destinations.api import Destination
from clientela.privacy import (
    FORGET_REQUESTS_TABLE,
    PERSONAL_CUSTOMER_FIELDS,
    email_digest,
    mask_text,
)
from clientela.store import Store
from clientela.store.touched import record_customers
from clientela.store.ledger_erasure import erase_in

REQUESTS_TABLE = FORGET_REQUESTS_TABLE
OUTCOMES_TABLE = "forget_outcomes"
PERSONAL = PERSONAL_CUSTOMER_FIELDS

Opener = Callable[[], Destination]


@dataclass
class ForgetReport:
    request_id: str
    customers: int
    outcomes: dict[str, str] = field(default_factory=dict)
    """destination -> deleted / absent / failed, for this request so far."""
    details: dict[str, str] = field(default_factory=dict)
    done: bool = False


digest = email_digest


def normalise(email: str) -> str:
    return email.strip().lower()


def forget(store: Store, email: str, destinations: Mapping[str, Opener], *,
           source: str = "forget", evidence: str = "") -> ForgetReport:
    """Erase `email` from the store and from every destination in `destinations` plus every
    destination the push state says holds them (a holder that cannot be opened stays failed,
    so the request stays open).

    The consent ledger gets an opt-out for every channel and purpose of the person, with no
    address (`source` names who asked, e.g. a platform's redact webhook; `evidence` is kept
    masked), and the addresses in their earlier events are blanked."""
    email = normalise(email)
    con = store.con
    request_id = _open_request(con, email)
    earlier = _latest(con, request_id)
    targets = sorted(set(destinations) | set(state.destinations_holding(con, email)) | set(earlier))
    customers = _anonymise(con, request_id, email, source=source,
                           evidence=mask_text(evidence) or f"erasure request {request_id}")
    report = ForgetReport(request_id, customers)
    report.outcomes.update(earlier)
    for name in targets:
        if report.outcomes.get(name) in ("deleted", "absent"):
            continue
        status, detail = _forget_in(name, destinations.get(name), email)
        con.execute(f"INSERT INTO {OUTCOMES_TABLE} VALUES (?, ?, ?, ?, ?)",
                    [request_id, name, status, detail, state.now()])
        report.outcomes[name], report.details[name] = status, detail
    report.done = all(report.outcomes.get(name) in ("deleted", "absent") for name in targets)
    if report.done:
        con.execute(f"UPDATE {REQUESTS_TABLE} SET status = 'done', email = NULL, "
                    "completed_at = ? WHERE request_id = ?", [state.now(), request_id])
    return report


def _forget_in(name: str, opener: Opener | None, email: str) -> tuple[str, str]:
    if opener is None:
        return "failed", "holds this person but is not configured in this workspace"
    destination: Destination | None = None
    try:
        destination = opener()
        result = destination.forget(email)
        return result.status, mask_text(result.detail)
    except Exception as error:  # recorded and retried by the next forget; never fatal
        return "failed", mask_text(f"{type(error).__name__}: {error}")[:500]
    finally:
        if destination is not None:
            destination.close()


def _open_request(con: duckdb.DuckDBPyConnection, email: str) -> str:
    row = con.execute(f"SELECT request_id FROM {REQUESTS_TABLE} WHERE email_digest = ? AND "
                      "status = 'open' ORDER BY requested_at LIMIT 1", [digest(email)]).fetchone()
    if row:
        return str(row[0])
    request_id = uuid.uuid4().hex
    con.execute(f"INSERT INTO {REQUESTS_TABLE} VALUES (?, ?, ?, ?, NULL, 'open', 0)",
                [request_id, digest(email), email, state.now()])
    return request_id


def _anonymise(con: duckdb.DuckDBPyConnection, request_id: str, email: str, *, source: str,
               evidence: str) -> int:
    """One transaction: the person's customer rows, consent addresses, quarantined payloads,
    push state and messages (address, subject, body, variables), and the `forget` opt-outs
    in the ledger."""
    con.begin()
    try:
        ids = [str(row[0]) for row in con.execute(
            "SELECT DISTINCT customer_id FROM customers WHERE lower(email) = ?", [email]).fetchall()]
        ids += [str(row[0]) for row in con.execute(
            f"SELECT DISTINCT customer_id FROM {state.STATE_TABLE} WHERE email = ?",
            [email]).fetchall() if row[0] not in ids]
        if ids:
            blank = ", ".join(f'"{column}" = NULL' for column in PERSONAL)
            con.execute(f"UPDATE customers SET {blank}, consent_email = 'unsubscribed', "
                        "consent_sms = 'unsubscribed', consent_whatsapp = 'unsubscribed' "
                        "WHERE customer_id IN (SELECT unnest(?))", [ids])
            record_customers(con)  # cached KPI answers that read customer rows are stale
        if ids:
            _forget_consent(con, ids, source=source, evidence=evidence)
            erase_in(con, ids)
        con.execute("DELETE FROM quarantine WHERE contains(lower(payload), ?)", [email])
        state.forget_customer(con, ids)
        count = len(ids)
        con.execute(f"UPDATE {REQUESTS_TABLE} SET customers = greatest(customers, ?) "
                    "WHERE request_id = ?", [count, request_id])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    row = con.execute(f"SELECT customers FROM {REQUESTS_TABLE} WHERE request_id = ?",
                      [request_id]).fetchone()
    return int(row[0]) if row else count


def _forget_consent(con: duckdb.DuckDBPyConnection, ids: list[str], *, source: str,
                    evidence: str) -> None:
    at = state.now()
    con.execute(f"UPDATE {EVENTS_TABLE} SET address = NULL, evidence = '' "
                "WHERE customer_id IN (SELECT unnest(?))", [ids])
    record(con, [ConsentEvent(customer_id=cid, channel=channel, purpose=purpose,
                              status="opted_out", address=None, occurred_at=at, source=source,
                              evidence=evidence)
                 for cid in ids for channel in CHANNELS for purpose in PURPOSES])


def _latest(con: duckdb.DuckDBPyConnection, request_id: str) -> dict[str, str]:
    rows = con.execute(f"""SELECT destination, arg_max(status, recorded_at) FROM {OUTCOMES_TABLE}
                           WHERE request_id = ? GROUP BY destination""", [request_id]).fetchall()
    return {str(name): str(status) for name, status in rows}
