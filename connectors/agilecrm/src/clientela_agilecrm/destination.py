"""Agile CRM as a clientela destination: contacts by e-mail, properties, one tag per segment.

Agile CRM has no upsert and no bulk write, and it addresses an existing
contact by its numeric id, so:

* `plan` looks every changed contact up by e-mail, `lookup_batch` at a time
  (`POST contacts/search/email`, reads only), keeping the ids for `send`;
* a new contact costs one call, `POST contacts` with its tag inside; an
  existing one costs `PUT contacts/edit-properties` (which cannot touch
  tags), plus, only when it moves, `PUT contacts/edit/tags` for the new
  segment and `PUT contacts/delete/tags` for the old one;
* a contact the push state says was sent but Agile CRM no longer has is
  reported with `resend_as_new`, so the next push creates it (if its consent
  allows) instead of updating nothing forever.

Consent: a CRM record is not a subscription, but Agile CRM campaigns can
e-mail any contact, so by default only contacts the store records as
`subscribed` are created (`create_without_consent` lifts that).

Opt-outs flow back: before each push `read_consent` pages through the account's
contacts and returns those unsubscribed from all campaigns, hard-bounced or
marked as spam since the last read (`optouts`); the engine records them in the
store's consent ledger, and the next plan takes their segment tag away.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from clientela.destinations.api import (
    Change,
    Done,
    ForgetResult,
    Outcome,
    PushContext,
    RemoteConsent,
    Scalar,
    plan_by_existence,
)
from clientela.destinations.batching import chunks, send_each
from clientela.http import HttpError
from clientela.privacy import mask_text
from clientela_agilecrm.client import AgileApi, Clock, Form, Sleep, open_api
from clientela_agilecrm.config import AgileCRMConfig
from clientela_agilecrm.contact import email_of
from clientela_agilecrm.optouts import read_opt_outs

REPORT_EVERY = 50
FATAL = frozenset({401, 403})
DUPLICATE = "duplicate contact"


def property_value(value: Scalar) -> str:
    """Agile CRM stores property values as text; "" blanks a value that went away."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class AgileCRMDestination:
    def __init__(self, config: AgileCRMConfig, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.config = config
        self.api: AgileApi = open_api(config, clock=clock, sleep=sleep)
        self.ids: dict[str, int] = {}
        """e-mail -> Agile CRM contact id, as found by `plan` or made by `send`."""
        self._limit_reached = False

    def close(self) -> None:
        self.api.close()

    # -- plan (reads only) -------------------------------------------------------------

    limitations = (
        "Agile CRM's contact API has no e-mail subscription status: a contact who lost consent "
        "only loses its segment tag (unsubscribes and bounces made in Agile CRM are read back)",
    )

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Contacts unsubscribed from all campaigns, hard-bounced or marked as spam in Agile
        CRM since `since` (all when None); every contact is paged through."""
        return read_opt_outs(self.api, since, self.config.consent_page_size)

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        self.lookup([change.contact.email for change in changes if change.contact.email])
        if self.config.create_without_consent:
            return [change.but(action="update") if change.action == "create"
                    and change.contact.email in self.ids else change for change in changes]
        return plan_by_existence(changes, lambda change: change.contact.email in self.ids,
                                 double_opt_in=False)

    def lookup(self, emails: Sequence[str]) -> None:
        wanted = sorted(set(emails) - set(self.ids))
        for batch in chunks(wanted, self.config.lookup_batch):
            found = self.api.call("POST", "contacts/search/email",
                                  Form({"email_ids": json.dumps(list(batch))}))
            for contact in found if isinstance(found, list) else [found]:
                address = email_of(contact)
                if address is not None and contact.get("id") is not None:
                    self.ids[address] = int(contact["id"])

    def find(self, email: str) -> int | None:
        if email not in self.ids:
            contact = self.api.call("GET", "contacts/search/email/" + quote(email, safe="@"))
            if isinstance(contact, dict) and contact.get("id") is not None:
                self.ids[email] = int(contact["id"])
        return self.ids.get(email)

    # -- prepare -------------------------------------------------------------------------

    def prepare(self, push: PushContext) -> None:
        """Nothing to create: Agile CRM keeps CUSTOM properties by name (see the README for
        defining them as custom fields so they show and can be filtered)."""
        return None

    # -- send ----------------------------------------------------------------------------

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        send_each(changes, lambda change: self._one(push, change), done,
                  report_every=REPORT_EVERY)

    def _one(self, push: PushContext, change: Change) -> Outcome:
        cid = change.customer_id
        try:
            if change.action == "create":
                if self._limit_reached:
                    return Outcome(cid, False, "Agile CRM contact limit reached (406)")
                if self._create(push, change):
                    return Outcome(cid, True)
            contact_id = self.find(change.contact.email) if change.contact.email else None
            if contact_id is None:
                if change.action in ("remove", "unsubscribe", "retag"):
                    return Outcome(cid, True)  # gone remotely: no tag left to take away
                return Outcome(cid, False, "the contact is no longer in Agile CRM",
                               resend_as_new=True)
            if change.action in ("create", "update"):
                self.api.call("PUT", "contacts/edit-properties",
                              {"id": contact_id, "properties": self.properties(push, change)})
            self._move_tags(push, change, contact_id)
        except HttpError as error:
            if error.status in FATAL:
                raise
            if error.status == 406:
                self._limit_reached = True
            return Outcome(cid, False, mask_text(str(error)))
        return Outcome(cid, True)

    def _create(self, push: PushContext, change: Change) -> bool:
        """True when created; False when Agile CRM already had the address (then update)."""
        email = change.contact.email
        body: dict[str, Any] = {"properties": [
            {"type": "SYSTEM", "name": "first_name", "value": email.split("@", 1)[0]},
            {"type": "SYSTEM", "name": "email", "subtype": "work", "value": email},
            *self.properties(push, change)]}
        if change.contact.segment is not None:
            body["tags"] = [self.config.tag(push.segmentation, change.contact.segment)]
        try:
            made = self.api.call("POST", "contacts", body)
        except HttpError as error:
            if error.status == 400 and DUPLICATE in (error.detail or "").lower():
                return False  # created since `plan` looked: update it instead
            raise
        if isinstance(made, dict) and made.get("id") is not None:
            self.ids[email] = int(made["id"])
        return True

    def _move_tags(self, push: PushContext, change: Change, contact_id: int) -> None:
        if change.tags_to_add:
            self.api.call("PUT", "contacts/edit/tags",
                          {"id": contact_id, "tags": [self.config.tag(push.segmentation, s)
                                                      for s in change.tags_to_add]})
        if change.tags_to_remove:
            self.api.call("PUT", "contacts/delete/tags",
                          {"id": contact_id, "tags": [self.config.tag(push.segmentation, s)
                                                      for s in change.tags_to_remove]})

    def properties(self, push: PushContext, change: Change) -> list[dict[str, str]]:
        return [{"type": "CUSTOM", "name": self.config.properties[spec.name],
                 "value": property_value(change.contact.fields.get(spec.name))}
                for spec in push.fields if spec.name in self.config.properties]

    # -- forget ----------------------------------------------------------------------------

    def forget(self, email: str) -> ForgetResult:
        contact_id = self.find(email)
        if contact_id is None:
            return ForgetResult("absent", "no contact with this e-mail in Agile CRM")
        self.api.call("DELETE", f"contacts/{contact_id}")
        self.ids.pop(email, None)
        return ForgetResult("deleted", "contact deleted (DELETE /dev/api/contacts/{id})")


def open_destination(config: AgileCRMConfig) -> AgileCRMDestination:
    return AgileCRMDestination(config)
