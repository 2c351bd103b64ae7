"""The push engine's tables: what each destination last received, and what each run did.

Defined in the store's migrations (`_consent_ledger`) and written through the store's
repository (`Store.push_state`, `clientela.store.push_state`); this module decides what
to write:

* `push_state` — one row per (destination, segmentation, customer): the
  md5 `hash` of what was last sent, the `segment` sent (so a tag can be
  moved later), the address and the subscription `status` it was given
  (`subscribed`, `pending`, `unsubscribed`, `archived`) and the opt-outs
  beyond marketing it was handed (`opt_outs`, e.g. `relationship`). A row is written
  only once every call for that contact has succeeded, in the same
  transaction as its run-log rows, one transaction per reported batch:
  after a crash the next push resends exactly the contacts whose batch was
  not committed.
* `push_log` — the per-contact outcome of every run (`created`, `updated`,
  `removed`, `skipped`, `failed`, with a masked error and `logged_at`), keyed by the
  `runs.run_id` of the store's run log. Unchanged contacts are counted in the
  run's stats, not logged one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from clientela.destinations.api import Change, Outcome
from clientela.store.migrations import PUSH_LOG_TABLE, PUSH_STATE_TABLE
from clientela.store.push_state import LogRow, SentRow

if TYPE_CHECKING:
    from clientela.store import Store

STATE_TABLE = PUSH_STATE_TABLE
LOG_TABLE = PUSH_LOG_TABLE

OUTCOME_OF = {"create": "created", "update": "updated", "remove": "removed", "skip": "skipped",
              "unsubscribe": "unsubscribed", "retag": "retagged"}
OLD_ADDRESS = "\x1fold:"
"""Prefix of the customer id of a change that unsubscribes a customer's previous address."""
REMOTE_ONLY = "\x1fremote:"
"""Prefix of the id of a change for an address the destination holds and the store does not."""


def real_id(customer_id: str) -> str:
    """The customer id inside a synthetic one (`OLD_ADDRESS` + id [+ US + address])."""
    for prefix in (OLD_ADDRESS, REMOTE_ONLY):
        if customer_id.startswith(prefix):
            return customer_id[len(prefix):].split("\x1f", 1)[0]
    return customer_id


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record(store: Store, *, run_id: str, destination: str, segmentation: str,
           changes: dict[str, Change], hashes: dict[str, str],
           outcomes: Sequence[Outcome]) -> None:
    """Commit one reported batch: state for the successes, log rows for all (one transaction)."""
    at = now()
    sent: list[SentRow] = []
    deleted: list[str] = []
    old_addresses: list[tuple[str, str]] = []
    log: list[LogRow] = []
    for outcome in outcomes:
        change = changes[outcome.customer_id]
        contact = change.contact
        cid = contact.customer_id
        digest = hashes.get(cid)
        if outcome.ok:
            if cid.startswith(OLD_ADDRESS):
                old_addresses.append((real_id(cid), contact.email))
            elif change.action == "remove" or (change.action == "unsubscribe" and digest is None):
                deleted.append(cid)
            elif change.action in ("create", "update", "unsubscribe") and digest is not None:
                sent.append(SentRow(destination, segmentation, cid, contact.email,
                                    contact.segment if change.action != "unsubscribe" else None,
                                    digest, at, run_id, _status_after(change),
                                    ",".join(contact.opt_outs) or None))
        elif outcome.resend_as_new:
            deleted.append(cid)
        log.append(LogRow(run_id, destination, segmentation, real_id(cid), change.action,
                          OUTCOME_OF[change.action] if outcome.ok else "failed", contact.segment,
                          change.previous_segment, outcome.error, at))
    store.push_state.commit_batch(destination, segmentation, sent=sent, deleted=deleted,
                                  old_addresses=old_addresses, log=log)


def _status_after(change: Change) -> str:
    if change.action == "unsubscribe":
        return change.status or "unsubscribed"
    if change.action == "create":
        return change.status or "subscribed"
    return change.sent_status or "subscribed"


def forget_sent(store: Store, destination: str, segmentation: str,
                customer_ids: Sequence[str]) -> None:
    """The destination no longer holds these contacts (deleted or archived there)."""
    store.push_state.forget_sent(destination, segmentation, customer_ids)


def log_skips(store: Store, *, run_id: str, destination: str, segmentation: str,
              skipped: Sequence[Change]) -> None:
    at = now()
    store.push_state.log([LogRow(run_id, destination, segmentation, real_id(c.customer_id),
                                 "skip", "skipped", c.contact.segment, c.previous_segment,
                                 c.reason, at) for c in skipped])
