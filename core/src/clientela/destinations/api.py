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
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

Scalar = str | int | float | Decimal | date | None
FieldType = Literal["text", "number", "date"]
Action = Literal["create", "update", "remove", "skip"]
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
    """The store's consent_email: subscribed, pending, unsubscribed or unknown."""
    segment: str | None
    """None when the customer is in no segment of this segmentation (a `remove`)."""
    fields: Mapping[str, Scalar]


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

    @property
    def customer_id(self) -> str:
        return self.contact.customer_id

    @property
    def moves(self) -> bool:
        """True when segment membership must change remotely."""
        return self.contact.segment != self.previous_segment

    def but(self, **changes: Any) -> Change:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Outcome:
    customer_id: str
    ok: bool
    error: str | None = None
    """Masked text (no full e-mail, no secret): it goes to the run log."""
    resend_as_new: bool = False
    """The remote member is gone (deleted by someone else): forget what was sent so the
    next push treats the contact as new instead of updating nothing forever."""


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


@dataclass(frozen=True)
class DestinationSpec:
    name: str
    description: str
    config: type[BaseModel]
    """Its settings, read from `[destinations.<name>]` in clientela.toml."""
    open: Callable[[Any], Destination]
    """open(validated config) -> Destination; called only by a push or a forget."""


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
    """The usual `plan`: existing members are updated without a status; new ones are created
    with the status their consent allows, or skipped."""
    planned: list[Change] = []
    for change in changes:
        if change.action == "remove":
            planned.append(change)
        elif change.action == "update" or exists(change):
            planned.append(change.but(action="update", status=None))
        else:
            status = status_for_new(change.contact.consent, double_opt_in=double_opt_in)
            planned.append(change.but(status=status) if status is not None else
                           change.but(action="skip", reason=skip_reason(change.contact.consent)))
    return planned


def field_values(contact: Contact, fields: Sequence[FieldSpec]) -> dict[str, Scalar]:
    return {spec.name: contact.fields.get(spec.name) for spec in fields}
