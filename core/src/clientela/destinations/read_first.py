"""Consent first: every configured destination's opt-outs are read before any push.

A push reads its own destination's opt-outs before it plans (`inbound.read`). That alone
would let an unsubscribe made at SendGrid reach Mailchimp only at Mailchimp's *next* push
when Mailchimp is pushed first in a run. So before a push, the opt-outs (and confirmed
double opt-ins) of every other configured destination that reads consent are read and
recorded in the ledger here; `clientela run` does it once per workspace, for all of them,
before its push and messaging jobs (journeys, campaigns), and its pushes then read only
their own destination, since that read.

Each destination is read on its own:

* in its own transaction, with its read mark (`inbound.mark_read`): a run killed in this
  phase keeps what was committed and reads the rest again next time, from the old mark;
  an opt-out read twice is recorded once;
* under its read lock (`lock.read_lock`): a destination whose own push is running right
  now (or that another process is reading) is left to it, since that push reads it
  (`busy`); a push of it that starts meanwhile waits for this read to end;
* a destination that cannot be opened or read for a reason outside clientela
  (`api.destination_failures`: the platform refused, throttled past the retries or could not be
  reached; its section names a setting the account does not have) is reported (`failed`,
  masked) and does not stop the others, nor the push that follows: that push reads its own destination itself,
  and fails before writing anything when it cannot, so nobody is ever subscribed on stale
  knowledge of the pushed destination's own opt-outs. What the failed destination holds
  reaches the ledger at its next successful read. Anything else a read raises is a bug (in
  clientela or in the plugin) and propagates, to be reported as one, rather than be shown
  as a destination that was merely unreachable; what was read before it stays recorded;
* in a dry run the caller holds a transaction that is rolled back: nothing is locked or
  committed, and the plan still sees what was read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clientela.destinations import inbound
from clientela.destinations.api import Opener, ReadsConsent, destination_failures
from clientela.destinations.lock import PushLocked, read_lock
from clientela.privacy import mask_text
from clientela.store import Store

READ = "read"
FAILED = "failed"
BUSY = "busy"
CANNOT_READ = "cannot read consent"


@dataclass
class ReadOutcome:
    """What reading one destination did."""

    destination: str
    status: str
    learned: int = 0
    """Consent events it added to the ledger."""
    error: str | None = None
    """Why it failed (masked), or which push holds it."""


def read_all(store: Store, openers: Mapping[str, Opener], *, dry_run: bool = False
             ) -> list[ReadOutcome]:
    """Read every destination of `openers`, in their order; see the module docstring."""
    return [_read_one(store, name, opener, dry_run) for name, opener in openers.items()]


def failures(outcomes: list[ReadOutcome]) -> list[ReadOutcome]:
    return [outcome for outcome in outcomes if outcome.status == FAILED]


def _read_one(store: Store, name: str, opener: Opener, dry_run: bool) -> ReadOutcome:
    legitimate = destination_failures()
    try:
        opened = opener()
    except legitimate as error:
        return ReadOutcome(name, FAILED, error=_masked(error))
    try:
        if not isinstance(opened, ReadsConsent):
            return ReadOutcome(name, CANNOT_READ)
        if dry_run:
            return ReadOutcome(name, READ, inbound.read(store, name, opened, None))
        with read_lock(store, name), store.transaction():
            return ReadOutcome(name, READ, inbound.read(store, name, opened, None))
    except PushLocked as busy:
        return ReadOutcome(name, BUSY, error=str(busy))
    except legitimate as error:
        return ReadOutcome(name, FAILED, error=_masked(error))
    finally:
        opened.close()


def _masked(error: BaseException) -> str:
    return mask_text(str(error)) or type(error).__name__
