"""HubSpot CRM as a clientela destination: contact properties, batch upsert by e-mail.

Call budget for N changed contacts (the floor the API's batch limits allow): ⌈N/100⌉ calls of
`POST /crm/v3/objects/contacts/batch/upsert` with `idProperty: email`. The
segment is a contact property (one enumeration per segmentation), so a
move costs nothing extra; a static list would need record ids and a second
call per segment (`memberships/add-and-remove`), and HubSpot's active lists
can filter on the property anyway.

An upsert creates whoever is missing, so the consent rule is applied before
it: a contact the store may not create (no consent, unless double opt-in)
is looked up first (`batch/read` by e-mail, 100 per read) and is only
updated when HubSpot already holds them; otherwise skipped. This covers an
`update` too, since the person may have been deleted in HubSpot since the
last push. Nothing here ever subscribes anyone: no `hs_marketable_status`,
no subscribe call, so a contact is never marked as subscribed by clientela. A
contact HubSpot holds that the store has no consent for is taken out of the
segment (the property is cleared); when the store's ledger holds an opt-out of
e-mail marketing for them, they are also unsubscribed from every subscription
type mapped to `marketing` (`subscriptions`, one call per contact and type),
before their segment is cleared, so a failed unsubscribe is retried whole. An
opt-out of another purpose (`relationship`) the engine hands over with a contact
HubSpot holds or is about to hold (`Change.new_opt_outs`: not handed before)
unsubscribes it from the types mapped to that purpose the same way, before its
upsert, whatever its marketing consent. Every contact the plan may unsubscribe is read
first with its `hs_email_optout_<id>` properties, and a type it already left is never called
again. Beyond the push's changes the engine offers every opt-out of a contact clientela ever
sent here, per mapped type not handed before (`WritesOptOuts`: a contact outside the pushed
segmentation, a type mapped later): read the same way, written only where missing. Nobody is
ever resubscribed: HubSpot's API may not, so an opt-in after an opt-out is left to the person.

Opt-outs flow back: before each push `read_consent` lists the contacts
unsubscribed from all e-mail (`hs_email_optout`), from a mapped subscription
type (`hs_email_optout_<id>`) or hard-bounced in HubSpot since the last read,
with one CRM search per 100 of them (`optouts`), and the engine records them in
the store's consent ledger, for the purposes they concern. Only opt-outs are
learned.

A 207 answer names failed rows in `errors[]`; those contacts fail (and are
resent next push) while the rest of the batch lands. A row the answer does
not account for is failed too: never count on what HubSpot did not say.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from clientela.destinations.api import (
    Change,
    Done,
    FieldSpec,
    ForgetResult,
    HeldOptOut,
    OptOutPlan,
    OptOutsDone,
    Outcome,
    PushContext,
    RemoteConsent,
    Scalar,
    skip_reason,
    status_for_new,
)
from clientela.destinations.batching import BatchRejected, chunks, isolate
from clientela.http.client import probe as probe_host
from clientela.privacy import mask_text
from clientela_hubspot.client import Api, HubSpotError
from clientela_hubspot.config import HubSpotConfig
from clientela_hubspot.optouts import OPT_OUT, OptOutReader, opted_out_types, type_property
from clientela_hubspot.subscriptions import SubscriptionTypes

OBJECT = "contacts"
PROPERTY_TYPES = {"text": ("string", "text"), "number": ("number", "number"),
                  "date": ("date", "date")}


def property_value(value: Scalar) -> str:
    """HubSpot takes property values as strings; "" clears one, dates are YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


LEAVING = ("remove", "unsubscribe", "retag")
"""Changes that only take the contact out of its segment (the property is the segment)."""


class HubSpotDestination:
    def __init__(self, config: HubSpotConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.api = Api(config, sleep)
        self.pool = ThreadPoolExecutor(max_workers=config.max_connections,
                                       thread_name_prefix="hubspot")
        self._absent: set[str] = set()
        """Customer ids of `remove`s HubSpot does not hold: nothing to clear."""
        self._left: dict[str, set[str]] = {}
        """Lower-cased e-mail -> mapped types it is unsubscribed from, as this push read it."""
        self.optouts = OptOutReader(self.api, sleep, clock)
        self.subscriptions = SubscriptionTypes(self.api, config)

    @property
    def limitations(self) -> tuple[str, ...]:
        """What a push and its dry run say HubSpot cannot express here."""
        if not self.config.subscription_types:
            return ("HubSpot: no subscription type is mapped (`subscription_types`): a contact "
                    "who lost consent is only taken out of the segment property, and of the "
                    "opt-outs made in HubSpot only unsubscribes from all e-mail and hard bounces "
                    "are read back, not those from a single subscription type",)
        notes = ["HubSpot: subscription types not mapped in `subscription_types` are ignored, "
                 "both ways; an unsubscribe cannot be undone through HubSpot's API: an opt-in "
                 "the store records later is not written back (only the person can "
                 "resubscribe, in HubSpot's preferences page)"]
        for purpose in ("marketing", "relationship"):
            if not self.config.types_for(purpose):
                notes.append(f"HubSpot: no subscription type is mapped to `{purpose}`: an "
                             f"opt-out of e-mail {purpose} in the store is not written to "
                             "HubSpot" + (" (the contact only leaves the segment property)"
                                          if purpose == "marketing" else ""))
        return tuple(notes)

    def probe(self) -> None:
        """For a dry run: the API's host answers (DNS, TCP, TLS), or an error naming it."""
        probe_host("HubSpot", self.api.host)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- consent (reads only) -----------------------------------------------------------

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Contacts unsubscribed from all e-mail or from a mapped subscription type, or
        hard-bounced, in HubSpot since `since` (all when None), dated by their
        `lastmodifieddate`; never an opt-in. With a mapping, the account's subscription types
        are read first (one call), so a wrong id is named before anything else happens."""
        names = self.subscriptions.names() if self.config.subscription_types else {}
        return self.optouts.read(since, self.config.subscription_types, names)

    # -- plan (reads only) -------------------------------------------------------------

    def _creatable(self, change: Change) -> bool:
        return status_for_new(change.contact.consent,
                              double_opt_in=self.config.double_opt_in) is not None

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        # read first: who may not be created, who leaves, and who is handed an opt-out (what
        # HubSpot holds says which types are left already: each is written once)
        risky = [c.contact.email for c in changes
                 if c.action in LEAVING or not self._creatable(c) or c.new_opt_outs]
        self._left = self.held(risky) if risky else {}
        present = set(self._left)
        planned: list[Change] = []
        self._absent = set()
        for change in changes:
            email = change.contact.email.lower()
            if change.action in LEAVING:
                if email not in present:
                    self._absent.add(change.customer_id)
                planned.append(self._unsubscribing(change, email in present)
                               if change.action == "unsubscribe" else change)
            elif self._creatable(change):
                status = status_for_new(change.contact.consent,
                                        double_opt_in=self.config.double_opt_in)
                planned.append(change.but(status=status) if change.action == "create"
                               else change.but(status=None))
            elif email in present:  # held there without consent: out of the segment
                planned.append(self._unsubscribing(change.but(action="unsubscribe"), True))
            else:
                planned.append(change.but(action="skip", status=None,
                                          reason=skip_reason(change.contact.consent)))
        return planned

    def _unsubscribing(self, change: Change, held: bool) -> Change:
        """An `unsubscribe` whose contact HubSpot holds and the ledger holds an opt-out of
        e-mail marketing for is unsubscribed from the types mapped to `marketing` (status
        `unsubscribed`); any other (no opt-in is not an opt-out) only leaves its segment."""
        opted_out = (held and change.contact.consent == "unsubscribed"
                     and bool(self.config.types_for("marketing")))
        return change.but(status="unsubscribed" if opted_out else None)

    def existing(self, emails: Sequence[str]) -> set[str]:
        """The lower-cased addresses among `emails` that are HubSpot contacts (100 per read)."""
        return set(self.held(emails))

    def held(self, emails: Sequence[str]) -> dict[str, set[str]]:
        """The lower-cased addresses among `emails` that are HubSpot contacts, each with the
        mapped subscription types it is unsubscribed from (`hs_email_optout_<id>`, or all
        after an unsubscribe from all e-mail): 100 per read, the same reads that find them."""
        wanted = sorted({email.lower() for email in emails})
        found: dict[str, set[str]] = {}
        for part in self.pool.map(self._read, list(chunks(wanted, self.config.batch_size))):
            found.update(part)
        return found

    def _read(self, emails: Sequence[str]) -> dict[str, set[str]]:
        type_ids = sorted(self.config.subscription_types, key=int)
        properties = ["email", *([OPT_OUT, *map(type_property, type_ids)] if type_ids else [])]
        body = {"idProperty": "email", "properties": properties,
                "inputs": [{"id": email} for email in emails]}
        _, answer = self.api.call(self.api.batch.read, body, archived=False)
        return {str((row.get("properties") or {}).get("email", "")).lower():
                opted_out_types(row, type_ids) for row in (answer or {}).get("results", [])}

    # -- prepare (only what is missing) -------------------------------------------------

    def prepare(self, push: PushContext) -> None:
        _, groups = self.api.call(self.api.groups.get_all, OBJECT)
        if self.config.group_name not in {g.get("name") for g in (groups or {}).get("results", [])}:
            self.api.call(self.api.groups.create, OBJECT,
                          {"name": self.config.group_name, "label": self.config.group_label})
        _, found = self.api.call(self.api.properties.get_all, OBJECT, archived=False)
        have = {p["name"]: p for p in (found or {}).get("results", [])}
        wanted = [self._field_property(spec) for spec in push.fields]
        segment = self._segment_property(push)
        missing = [p for p in (*wanted, segment) if p["name"] not in have]
        if missing:
            self.api.call(self.api.property_batch.create, OBJECT, {"inputs": missing})
        current = have.get(segment["name"])
        if current is not None:
            known = {o.get("value") for o in current.get("options", [])}
            if any(o["value"] not in known for o in segment["options"]):
                options = list(current.get("options", [])) + [
                    o for o in segment["options"] if o["value"] not in known]
                self.api.call(self.api.properties.update, OBJECT, segment["name"],
                              {"options": options})

    def _field_property(self, spec: FieldSpec) -> dict[str, Any]:
        kind, field_type = PROPERTY_TYPES[spec.type]
        return {"name": self.config.property_name(spec.name), "label": f"clientela: {spec.label}",
                "type": kind, "fieldType": field_type, "groupName": self.config.group_name}

    def _segment_property(self, push: PushContext) -> dict[str, Any]:
        return {"name": self.config.segment_property(push.segmentation),
                "label": f"clientela segment ({push.segmentation})", "type": "enumeration",
                "fieldType": "select", "groupName": self.config.group_name,
                "options": [{"label": s, "value": s, "displayOrder": i, "hidden": False}
                            for i, s in enumerate(push.segments)]}

    # -- send ----------------------------------------------------------------------------

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        rows = [c for c in changes if c.action in ("create", "update")
                or (c.action in LEAVING and c.customer_id not in self._absent)]
        done([Outcome(c.customer_id, True) for c in changes
              if c.action in LEAVING and c.customer_id in self._absent])
        leaving = [(c, types) for c in rows if (types := self.types_to_leave(c))]
        if leaving:  # first: a contact whose unsubscribe failed keeps its segment, retried
            refused = [outcome for outcome in self.pool.map(self._unsubscribe, leaving)
                       if outcome is not None]
            done(refused)
            failed = {outcome.customer_id for outcome in refused}
            rows = [c for c in rows if c.customer_id not in failed]
        futures = [self.pool.submit(self._upsert, push, batch) for batch in self._batches(rows)]
        for future in as_completed(futures):
            done(future.result())

    def types_to_leave(self, change: Change) -> list[str]:
        """The mapped subscription types one contact HubSpot holds (or is about to) must be
        unsubscribed from: those of `marketing` when the plan unsubscribes it for an opt-out
        of e-mail marketing, those of each other purpose whose opt-out this destination has
        not been handed yet (`Change.new_opt_outs`); less the types this push's reads found
        it already unsubscribed from (a re-run after a crash, or a later change of a contact
        unsubscribed long ago, repeats nothing)."""
        purposes = [*(["marketing"] if change.action == "unsubscribe"
                      and change.status == "unsubscribed" else []), *change.new_opt_outs]
        wanted = {t for purpose in purposes for t in self.config.types_for(purpose)}
        return sorted(wanted - self._already_left(change.contact.email), key=int)

    def _already_left(self, email: str) -> set[str]:
        """The mapped types this push's reads found the address unsubscribed from: the opt-out
        search (what changed since the last read) and the plan's or the hand-over's read of
        the contact (what it holds now, however long ago it left them)."""
        email = email.lower()
        return self.optouts.unsubscribed.get(email, set()) | self._left.get(email, set())

    def _unsubscribe(self, leaving: tuple[Change, list[str]]) -> Outcome | None:
        """Unsubscribe one contact from each of its types; an Outcome only when HubSpot
        refused (the contact is then retried whole next push)."""
        change, types = leaving
        _, refused = self._leave(change.contact.email, types)
        return None if refused is None else Outcome(change.customer_id, False, refused)

    def _leave(self, email: str, types: Sequence[str]) -> tuple[list[str], str | None]:
        """Unsubscribe one address from each of `types`, in order, until HubSpot refuses one:
        the types left, and the masked refusal (None when all went). A 429 past the retries
        (a daily limit) stops the whole push."""
        left: list[str] = []
        for type_id in types:
            try:
                self.subscriptions.unsubscribe(email.lower(), type_id)
            except HubSpotError as error:
                if error.status == 429:
                    raise
                return left, mask_text(f"unsubscribe from subscription type {type_id}: {error}")
            left.append(type_id)
        return left, None

    # -- opt-outs beyond the push's changes (`WritesOptOuts`) --------------------------

    def opt_out_targets(self, purpose: str) -> tuple[str, ...]:
        """The subscription types an opt-out of e-mail for `purpose` unsubscribes from."""
        return tuple(self.config.types_for(purpose))

    def plan_opt_outs(self, offered: Sequence[HeldOptOut]) -> OptOutPlan:
        """Reads the offered addresses (100 per read, with their subscription properties):
        a type is written only for a contact HubSpot holds and that has not left it."""
        found = self.held([item.email for item in offered])
        self._left.update(found)
        to_write: list[HeldOptOut] = []
        settled: list[HeldOptOut] = []
        for item in offered:
            needed = item.email in found and item.target not in self._already_left(item.email)
            (to_write if needed else settled).append(item)
        return OptOutPlan(tuple(to_write), tuple(settled))

    def write_opt_outs(self, to_write: Sequence[HeldOptOut], done: OptOutsDone) -> None:
        """One unsubscribe call per contact and type, contacts in parallel; each contact is
        reported as soon as its calls are finished."""
        by_contact: dict[tuple[str, str], list[HeldOptOut]] = {}
        for item in to_write:
            by_contact.setdefault((item.customer_id, item.email), []).append(item)
        futures = {self.pool.submit(self._leave, email, [i.target for i in items]): items
                   for (_, email), items in by_contact.items()}
        for future in as_completed(futures):
            items = futures[future]
            left, refused = future.result()
            written = [item for item in items if item.target in left]
            done(written, [(item, refused) for item in items
                           if refused is not None and item.target not in left])

    def _batches(self, rows: Sequence[Change]) -> Iterator[list[Change]]:
        """Batches of at most `batch_size` with each address once: the same e-mail twice in one
        batch gets the whole call refused (Joystream/youtube-synch#355)."""
        batch: list[Change] = []
        seen: set[str] = set()
        later: list[Change] = []
        for change in rows:
            email = change.contact.email.lower()
            if email in seen:
                later.append(change)
                continue
            if len(batch) >= self.config.batch_size:
                yield batch
                batch, seen = [], set()
            batch.append(change)
            seen.add(email)
        if batch:
            yield batch
        if later:
            yield from self._batches(later)

    def _input(self, push: PushContext, change: Change) -> dict[str, Any]:
        segment = self.config.segment_property(push.segmentation)
        if change.action in LEAVING:
            properties = {segment: ""}
        else:
            properties = {self.config.property_name(spec.name):
                          property_value(change.contact.fields.get(spec.name))
                          for spec in push.fields}
            properties[segment] = change.contact.segment or ""
        return {"idProperty": "email", "id": change.contact.email.lower(), "properties": properties}

    def _upsert(self, push: PushContext, batch: Sequence[Change]) -> list[Outcome]:
        outcomes: list[Outcome] = []

        def send(rows: Sequence[Change]) -> dict[str, Any]:
            body = {"inputs": [self._input(push, change) for change in rows]}
            try:
                _, answer = self.api.call(self.api.batch.upsert, body)
            except HubSpotError as error:
                if error.status in (400, 409):
                    raise BatchRejected(str(error)) from None
                raise
            return answer if isinstance(answer, dict) else {}

        def rejected(change: Change, error: BatchRejected) -> None:
            outcomes.append(Outcome(change.customer_id, False, mask_text(str(error))))

        for rows, answer in isolate(batch, send, rejected):
            outcomes.extend(self._settle(rows, answer))
        return outcomes

    @staticmethod
    def _settle(rows: Sequence[Change], answer: dict[str, Any]) -> list[Outcome]:
        emails = {change.contact.email.lower() for change in rows}
        bad: dict[str, str] = {}
        unplaced: list[str] = []
        for error in answer.get("errors", []) or []:
            message = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"
            named = {str(value).lower() for values in (error.get("context") or {}).values()
                     for value in (values if isinstance(values, list) else [values])} & emails
            if not named:
                text = str(error.get("message", "")).lower()
                named = {email for email in emails if email in text}
            if not named:
                unplaced.append(message)
            for email in named:
                bad[email] = mask_text(message)
        results = answer.get("results", []) or []
        confirmed = {str((r.get("properties") or {}).get("email", "")).lower() for r in results}
        confirmed.discard("")
        counts_match = not confirmed and len(results) == len(emails - set(bad))
        outcomes: list[Outcome] = []
        for change in rows:
            email = change.contact.email.lower()
            if email in bad:
                outcomes.append(Outcome(change.customer_id, False, bad[email]))
            elif email in confirmed or counts_match:
                outcomes.append(Outcome(change.customer_id, True))
            else:
                why = "; ".join(unplaced) or "HubSpot's answer did not confirm this contact"
                outcomes.append(Outcome(change.customer_id, False, mask_text(why)))
        return outcomes

    # -- forget ----------------------------------------------------------------------------

    def forget(self, email: str) -> ForgetResult:
        """GDPR delete. HubSpot blocklists an address it does not hold, so absence is checked
        first: forgetting someone must not stop them from signing up again later."""
        email = email.strip().lower()
        if not self.existing([email]):
            return ForgetResult("absent", "not a HubSpot contact")
        self.api.call(self.api.basic.purge, {"objectId": email, "idProperty": "email"})
        return ForgetResult("deleted", "GDPR delete (POST /crm/v3/objects/contacts/gdpr-delete)")


def open_destination(config: HubSpotConfig) -> HubSpotDestination:
    return HubSpotDestination(config)
