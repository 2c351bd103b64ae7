"""What a destination plugin registers: an email tool or CRM that receives segments.

The work is split so that every destination gets diffing, consent, the run
log, crash safety and `--dry-run` for free, and only writes API calls:

* the push engine (core) computes each contact's fields and segment, hashes
  them, compares with what this destination last received, and hands over
  only the `Change`s: `create` (never sent), `update` (sent, now different)
  and `remove` (was in a segment, now in none);
* the destination's `plan` looks at the remote side with read calls only
  (does the member exist? may it be created under its consent?) and may turn
  a `create` into an `update` or a `skip`;
* `send` makes the write calls, batched at the API's maximum, and reports
  each contact's `Outcome` through `done` as soon as all of that contact's
  calls are finished, so the engine can commit the sent hash per batch (a
  crash loses nothing, a re-run repeats only idempotent upserts);
* `forget` deletes one person for good.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

Scalar = str | int | float | Decimal | date | None
FieldType = Literal["text", "number", "date"]
Action = Literal["create", "update", "remove", "skip", "unsubscribe", "retag"]
SkipKind = Literal["no_consent", "deleted", "unsubscribed_there"]
"""Why a contact is skipped: no current opt-in; deleted or archived at the destination (not
re-created without a newer opt-in); already unsubscribed there with nothing left to untag."""
REMOTE_OPT_OUTS = frozenset({"unsubscribed", "cleaned", "bounced", "complained", "spam",
                             "archived", "deleted", "suppressed"})
"""Remote statuses that mean the person may not be e-mailed; read back as opt-outs."""
DELETED_MARK = "deleted or archived at"
"""Starts the evidence of the opt-out the engine records for a member gone at a destination."""
ForgetStatus = Literal["deleted", "absent"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field the engine can push; destinations map `name` to their own field ids."""

    name: str
    type: FieldType
    label: str


@dataclass(frozen=True, slots=True)
class Contact:
    """One customer as a destination should see them after this push."""

    customer_id: str
    email: str
    """Lower-cased; never log it unmasked (clientela.privacy.mask_email)."""
    consent: str
    """The current e-mail marketing consent from the ledger: `subscribed` (a current opt-in
    for this very address), `unsubscribed` (an opt-out), else the customer record's
    `pending` or `unknown` (no consent yet)."""
    segment: str | None
    """None when the customer is in no segment of this segmentation (a `remove`)."""
    fields: Mapping[str, Scalar]
    consent_note: str = ""
    """`source: evidence` of the consent event that decides, for reports."""
    opt_outs: tuple[str, ...] = ()
    """The e-mail purposes besides marketing (whose state is `consent`) that the ledger holds
    a current opt-out of, in `clientela.consent.PURPOSES` order: `("relationship",)` or none.
    A destination that keeps consent per kind of message (a CRM's subscription types) writes
    them; the others may ignore them."""


@dataclass(frozen=True, slots=True)
class Change:
    contact: Contact
    action: Action
    previous_segment: str | None = None
    """The segment this destination last received for the contact: its tag or list
    membership must be taken away when it differs from `contact.segment`."""
    status: str | None = None
    """For a `create`: the subscription status to give a new member (`subscribed` or
    `pending`). Never set for an `update`: an existing member keeps theirs."""
    reason: str | None = None
    """Why a `skip` (shown by --dry-run and stored in the run log)."""
    skip_kind: SkipKind | None = None
    stale: tuple[str, ...] = ()
    """Segments the destination was found holding for this contact that it should not
    (reconciliation after an interrupted run): taken away with the previous one."""
    retag: bool = False
    """The destination was found lacking the contact's current segment: add it again."""
    sent_status: str | None = None
    """The status this destination was last given for the contact (push state)."""
    sent_opt_outs: tuple[str, ...] = ()
    """The `Contact.opt_outs` this destination was last handed for the contact (push state):
    only those in `contact.opt_outs` and not here are new to it."""

    @property
    def new_opt_outs(self) -> tuple[str, ...]:
        """Opt-outs beyond marketing this destination has not been handed yet."""
        return tuple(p for p in self.contact.opt_outs if p not in self.sent_opt_outs)

    @property
    def customer_id(self) -> str:
        return self.contact.customer_id

    @property
    def tags_to_add(self) -> tuple[str, ...]:
        segment = self.contact.segment
        if self.action in ("unsubscribe", "remove", "skip") or segment is None:
            return ()
        return (segment,) if segment != self.previous_segment or self.retag else ()

    @property
    def tags_to_remove(self) -> tuple[str, ...]:
        keep = self.contact.segment if self.action not in ("unsubscribe", "remove") else None
        found = [self.previous_segment, *self.stale]
        return tuple(dict.fromkeys(s for s in found if s is not None and s != keep))

    @property
    def moves(self) -> bool:
        """True when segment membership must change remotely."""
        return bool(self.tags_to_add or self.tags_to_remove)

    def but(self, **changes: Any) -> Change:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Outcome:
    customer_id: str
    ok: bool
    error: str | None = None
    """Masked text (no full e-mail, no secret): it goes to the run log."""
    resend_as_new: bool = False
    """The remote member is gone (deleted by someone else): the engine forgets what was
    sent and records an opt-out from this destination, so the person is not re-created
    unless the store later holds a newer opt-in."""


@dataclass(frozen=True, slots=True)
class RemoteConsent:
    """An opt-out a destination holds (read before each push and recorded in the ledger)."""

    email: str
    status: str
    """`unsubscribed`, `cleaned`, `bounced`, `complained`, `archived`, `deleted`..."""
    occurred_at: datetime | None = None
    """When it changed there (naive UTC), if the API says; else the time of the read."""
    detail: str = ""
    purposes: tuple[str, ...] = ("marketing",)
    """The e-mail purposes it opts out of (`clientela.consent.PURPOSES`): a destination whose
    opt-outs are per subscription type maps each type to a purpose."""
    whole_seconds: bool = True
    """The API gives whole seconds, rounded down (the opt-out is then dated at the second's
    end, so it wins a tie); False when it gives milliseconds, rounded down (then dated at the
    millisecond's end)."""


@dataclass(frozen=True, slots=True)
class HeldOptOut:
    """One store opt-out to write to one place a destination keeps consent per kind of
    message (a CRM's subscription type), for an address this destination was sent."""

    customer_id: str
    email: str
    """Lower-cased; never log it unmasked."""
    purpose: str
    """The e-mail purpose the ledger holds a current opt-out of."""
    target: str
    """Where the destination writes it (`WritesOptOuts.opt_out_targets`), e.g. a type id."""


@dataclass(frozen=True, slots=True)
class OptOutPlan:
    """What a destination found of the opt-outs it was offered (read calls only)."""

    to_write: tuple[HeldOptOut, ...] = ()
    """Held there and not yet opted out of that target: a write call each."""
    settled: tuple[HeldOptOut, ...] = ()
    """Nothing to write: already opted out there, or the address is not held there."""


@dataclass(frozen=True, slots=True)
class ForgetResult:
    status: ForgetStatus
    detail: str = ""


Done = Callable[[Sequence[Outcome]], None]


@dataclass(frozen=True, slots=True)
class PushContext:
    """What a destination knows about the push it serves."""

    segmentation: str
    """The name of the segmentation (`rfm`, or a rule's name): tags are namespaced by it."""
    segments: tuple[str, ...]
    """Every segment this segmentation can produce (for creating tags or lists up front)."""
    fields: tuple[FieldSpec, ...]


@runtime_checkable
class Destination(Protocol):
    """An opened destination. Methods are called from one thread; `send` may use its own
    worker threads but must call `done` from the thread that called `send`."""

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        """Read calls only (dry-run calls it too): return one Change per input, in any order,
        with `create` turned into `update` where the member already exists remotely and into
        `skip` where consent does not allow creating it (see `status_for_new`)."""
        ...

    def prepare(self, push: PushContext) -> None:
        """Create what must exist before contacts are sent (custom fields, tags, lists):
        only what is missing, so a repeated push makes no call here."""
        ...

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        """Write `create`, `update` and `remove` changes; report every contact exactly once
        through `done`. A failure of some contacts must not stop the others."""
        ...

    def forget(self, email: str) -> ForgetResult:
        """Delete the person for good (not archive); `absent` when they were not there."""
        ...

    def close(self) -> None: ...


Opener = Callable[[], Destination]
"""Opens one configured destination (the caller closes it): `forget` and the consent reads
open only the ones they reach."""


@runtime_checkable
class ReadsConsent(Protocol):
    """A destination that can tell the store who opted out there (every built-in one; a CRM
    reads what its API can list, see its README)."""

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Read calls only: unsubscribes, bounces, complaints, archives and deletions
        changed since `since` (everything when None)."""
        ...


OptOutsDone = Callable[[Sequence[HeldOptOut], Sequence[tuple[HeldOptOut, str]]], None]
"""done(written, [(refused, masked error)]), called as each contact's writes finish."""


@runtime_checkable
class WritesOptOuts(Protocol):
    """A destination that keeps e-mail consent per kind of message (a CRM's subscription
    types) and can write the store's opt-outs there. Besides what a push's changes carry,
    the engine offers it every current opt-out of an address it was ever sent (any
    segmentation) for each target it was not handed yet, so an opt-out reaches a contact
    outside the pushed segmentation, and a target mapped later reaches the contacts that
    opted out before it."""

    def opt_out_targets(self, purpose: str) -> tuple[str, ...]:
        """Where an opt-out of e-mail for `purpose` is written; () for nowhere."""
        ...

    def plan_opt_outs(self, offered: Sequence[HeldOptOut]) -> OptOutPlan:
        """Read calls only (a dry run calls it too): which of `offered` need a write."""
        ...

    def write_opt_outs(self, to_write: Sequence[HeldOptOut], done: OptOutsDone) -> None:
        """Write them (never a resubscribe); report each through `done`, from the calling
        thread. A refusal of one contact must not stop the others."""
        ...


@runtime_checkable
class Reconciles(Protocol):
    """A destination that can list which contacts hold which segment, so a push after an
    interrupted run repairs tags instead of trusting the local state."""

    def holdings(self, push: PushContext) -> dict[str, set[str]]:
        """Read calls only: lower-cased e-mail -> segments of `push.segmentation` held."""
        ...


@runtime_checkable
class Probes(Protocol):
    """A destination that can check within seconds that its API's host answers: a dry run
    calls `probe` first, so an unreachable host is named at once instead of after minutes
    of retries (`clientela.http.client.probe` does the checking)."""

    def probe(self) -> None:
        """Raise an error naming the host and why when it cannot be reached."""
        ...


LIMITATIONS_ATTRIBUTE = "limitations"
"""A destination may have `limitations: tuple[str, ...]`: consent rules its API cannot
express, shown by every push and dry run."""


@dataclass(frozen=True)
class DestinationSpec:
    name: str
    description: str
    config: type[BaseModel]
    """Its settings, read from `[destinations.<name>]` in clientela.toml."""
    open: Callable[[Any], Destination]
    """open(validated config) -> Destination; called only by a push or a forget."""


def destination_failures() -> tuple[type[Exception], ...]:
    """The errors with which opening a destination, or reading, pushing to or forgetting at
    it, legitimately fails: the platform's (`clientela.http.errors.service_errors`) and a
    `ConfigError` naming a setting of its section (an unknown list, a subscription type the
    account lacks). Anything else a destination raises is a bug, reported as one.
    (A function: its imports are paid only when an error is being classified.)"""
    from clientela.config import ConfigError
    from clientela.http.errors import service_errors

    return (*service_errors(), ConfigError)


def status_for_new(consent: str, *, double_opt_in: bool) -> str | None:
    """The subscription status a destination may give a contact it creates, or None to skip.

    Consent comes first: only the store's `subscribed` subscribes. `pending` and `unknown`
    may be invited by double opt-in when the user asked for it; `unsubscribed` never is.
    """
    if consent == "subscribed":
        return "subscribed"
    if double_opt_in and consent in ("pending", "unknown"):
        return "pending"
    return None


def skip_reason(consent: str) -> str:
    return f"no e-mail consent ({consent})"


def plan_by_existence(changes: Sequence[Change], exists: Callable[[Change], bool], *,
                      double_opt_in: bool) -> list[Change]:
    """The usual `plan` for an API that cannot say a member's status: existing members are
    updated without a status; new ones are created with the status their consent allows,
    or skipped."""
    return plan_by_status(
        changes, lambda c: "subscribed" if c.action != "create" or exists(c) else None,
        double_opt_in=double_opt_in, knows_updates=False)


def plan_by_status(changes: Sequence[Change], remote_status: Callable[[Change], str | None], *,
                   double_opt_in: bool, knows_updates: bool = True,
                   unsubscribe_as: str = "unsubscribed") -> list[Change]:
    """`plan` from each contact's remote status (None: no such member).

    * a contact with a current opt-in is updated if it exists (without a status: an
      unsubscribed member stays so) or created `subscribed`;
    * a contact without one is never created as subscribed: `pending` under double opt-in
      when its consent is pending/unknown, or skipped; if the destination holds it
      subscribed (or pending, unless it is our own invitation still awaiting an answer), it
      is unsubscribed (`unsubscribe_as`: `unsubscribed` or `archived`) and untagged;
    * a contact sent before that the destination no longer holds (deleted or archived
      there) is skipped as `deleted`: the engine records that as an opt-out, so it is not
      re-created unless the store later holds a newer opt-in (only when `knows_updates`:
      the API can tell a member's status);
    * an `unsubscribe` (e.g. an old address) sends a status only to a member that is still
      subscribed there; otherwise it only untags.
    """
    planned: list[Change] = []
    for change in changes:
        if change.action in ("remove", "retag"):
            planned.append(change)
            continue
        remote = remote_status(change)
        present = remote is not None and remote not in ("archived", "deleted")
        reachable = present and remote not in REMOTE_OPT_OUTS
        consent = change.contact.consent
        invited = (double_opt_in and consent in ("pending", "unknown")
                   and change.sent_status == "pending" and remote == "pending")
        if change.action == "unsubscribe":
            planned.append(change.but(status=unsubscribe_as if reachable else None))
        elif change.action == "update" and knows_updates and not present:
            planned.append(change.but(action="skip", skip_kind="deleted",
                                      reason=f"{remote or 'deleted'} at the destination"))
        elif consent == "subscribed" or invited:
            planned.append(change.but(action="update", status=None) if present
                           else change.but(action="create", status="subscribed"))
        elif reachable:
            planned.append(change.but(action="unsubscribe", status=unsubscribe_as))
        elif present and change.but(action="unsubscribe").tags_to_remove:
            planned.append(change.but(action="unsubscribe", status=None))  # untag only
        elif present:
            planned.append(change.but(action="skip", skip_kind="unsubscribed_there",
                                      reason=f"{remote} at the destination"))
        elif double_opt_in and consent in ("pending", "unknown") and change.action == "create":
            planned.append(change.but(status="pending"))
        else:
            deleted = DELETED_MARK in change.contact.consent_note
            planned.append(change.but(action="skip",
                                      skip_kind="deleted" if deleted else "no_consent",
                                      reason=skip_reason(consent)))
    return planned


def field_values(contact: Contact, fields: Sequence[FieldSpec]) -> dict[str, Scalar]:
    return {spec.name: contact.fields.get(spec.name) for spec in fields}
