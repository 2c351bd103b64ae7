"""`forget`: a person's erasure request, carried out in the store and in every destination.

A request is recorded before anything is done, with one outcome row per
destination, so it can be shown to an auditor and so re-running `forget`
for the same address completes what failed the first time. The address
itself is kept only while the request is open (a destination needs it to
find the person); once every destination is done, only its SHA-256 digest
remains, which proves what was erased without holding it.

Tables (see the store's migrations; written through `Store.forget_requests`,
`clientela.store.forget_requests`):

* `forget_requests(request_id, email_digest, email, requested_at,
  completed_at, status, customers)`: status `open` or `done`; `customers`
  is how many store customers were anonymised.
* `forget_outcomes(request_id, destination, status, detail, recorded_at)`: status
  `deleted`, `absent` or `failed`; the latest row per destination counts.

A destination that fails for a reason outside clientela (`api.destination_failures`: the platform
refused, throttled past the retries or could not be reached, or its section names a
setting the account lacks) is recorded `failed` with the masked reason, and the others are
still asked. Anything else a destination raises is a bug, in clientela or in the plugin: it
is recorded `failed` too (so the next `forget` retries it) and the others are still asked,
and then it is raised, so that it is reported as a bug rather than as a destination that
was merely unreachable (with several, the first is raised and names the others).

In the store, the customer rows keep their id (orders still count in the
KPIs) but lose every personal field, and their consents become
`unsubscribed`; quarantined payloads that contain the address are deleted,
the push state forgets them, and their messages in the message ledger keep
who was contacted and when but lose the address, subject, body and variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from clientela.consent import CHANNELS, PURPOSES, ConsentEvent, record
from clientela.destinations import state
from clientela.destinations.api import Destination, Opener, destination_failures
from clientela.identity.resolve import resolve_customers
from clientela.privacy import FORGET_REQUESTS_TABLE, email_digest, mask_text
from clientela.store import Store
from clientela.store.ledger_erasure import erase_in
from clientela.store.migrations import FORGET_OUTCOMES_TABLE
from clientela.store.touched import record_customers

REQUESTS_TABLE = FORGET_REQUESTS_TABLE
OUTCOMES_TABLE = FORGET_OUTCOMES_TABLE

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
    requests = store.forget_requests
    request_id = requests.open(email)
    earlier = requests.outcomes(request_id)
    targets = sorted(set(destinations) | set(store.push_state.holders(email)) | set(earlier))
    customers = _anonymise(store, request_id, email, source=source,
                           evidence=mask_text(evidence) or f"erasure request {request_id}")
    report = ForgetReport(request_id, customers)
    report.outcomes.update(earlier)
    bugs: list[Exception] = []
    for name in targets:
        if report.outcomes.get(name) in ("deleted", "absent"):
            continue
        try:
            status, detail = _forget_in(name, destinations.get(name), email)
        except Exception as bug:
            status, detail = "failed", _masked(bug)
            bug.add_note(f"raised by destination {name!r} while forgetting a person")
            bugs.append(bug)
        requests.add_outcome(request_id, name, status, detail)
        report.outcomes[name], report.details[name] = status, detail
    report.done = all(report.outcomes.get(name) in ("deleted", "absent") for name in targets)
    if report.done:
        requests.complete(request_id)
    if bugs:
        raise _first_naming_the_rest(bugs)
    return report


def _first_naming_the_rest(bugs: list[Exception]) -> Exception:
    """One exception to raise, so the CLI reports one bug; the other destinations' bugs are
    named on it (masked, as in `forget_outcomes`) rather than left for an auditor to find."""
    first, *rest = bugs
    for other in rest:
        first.add_note(f"also: {_masked(other)} ({other.__notes__[-1]})")
    return first


def _forget_in(name: str, opener: Opener | None, email: str) -> tuple[str, str]:
    """(status, masked detail); a legitimate failure is `failed`, anything else raises."""
    if opener is None:
        return "failed", "holds this person but is not configured in this workspace"
    destination: Destination | None = None
    try:
        destination = opener()
        result = destination.forget(email)
        return result.status, mask_text(result.detail)
    except destination_failures() as error:  # recorded; the next forget retries it
        return "failed", _masked(error)
    finally:
        if destination is not None:
            destination.close()


def _masked(error: Exception) -> str:
    return mask_text(f"{type(error).__name__}: {error}")[:500]


def _anonymise(store: Store, request_id: str, email: str, *, source: str,
               evidence: str) -> int:
    """One transaction: the person's customer rows, consent addresses, quarantined payloads,
    push state and messages (address, subject, body, variables), and the `forget` opt-outs
    in the ledger."""
    requests = store.forget_requests
    with store.transaction() as con:
        ids = requests.customers_of(email)
        if ids:
            requests.anonymise_customers(ids)
            requests.blank_consent_addresses(ids)
            record_customers(con)  # cached KPI answers that read customer rows are stale
            # their CPF, e-mail and phone digests go, and with them every link they made
            resolve_customers(con, ids, cause="forget")
            at = state.now()
            record(con, [ConsentEvent(customer_id=cid, channel=channel, purpose=purpose,
                                      status="opted_out", address=None, occurred_at=at,
                                      source=source, evidence=evidence)
                         for cid in ids for channel in CHANNELS for purpose in PURPOSES])
            erase_in(con, ids)
        requests.drop_quarantined(email)
        store.push_state.forget_customers(ids)
        return requests.note_customers(request_id, len(ids))
