"""RD Station Marketing as a clientela destination: one upsert per changed contact.

RD Station has no bulk upsert, so the floor is one `PATCH` per changed
contact, and the account allows 120 calls a minute. What this module does
to stay at that floor and keep consent right:

* `plan` reads each contact clientela has never sent (`GET` by e-mail) to
  learn whether RD Station already holds them: only a contact that is new
  there may receive a communications consent, and only when the store says
  `subscribed`; a contact without consent is not created at all;
* a new contact gets its segment tag inside its creating `PATCH` (with no
  earlier tags, add and replace cannot differ), so a first push costs one
  call per contact;
* an existing contact that moves gets `POST …/tag` (tags are only ever
  added: RD Station's API has no way to take one away, see the README), and
  the segment is also written to a `cf_` field that is overwritten every
  time, which is what RD Station segmentations should filter on;
* a `PATCH` never carries `tags` for an existing contact, because whether it
  replaces the contact's tags is not documented.

Opt-outs flow back through a segmentation the user keeps in RD Station of the
contacts who declined communications (`opt_out_segmentation`): before each push
`read_consent` lists its members (`optouts`) and the engine records them in the
store's consent ledger. Without that setting nothing is read back, and every push
says so in its notes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from clientela.destinations.api import (
    Change,
    Done,
    FieldSpec,
    ForgetResult,
    Outcome,
    PushContext,
    RemoteConsent,
    Scalar,
    plan_by_existence,
)
from clientela.destinations.batching import send_each
from clientela.http import HttpError
from clientela.privacy import mask_text
from clientela_rdstation.client import LEAD_LIMITER, Clock, RDStationApi, Sleep, contact_path
from clientela_rdstation.config import RDStationConfig
from clientela_rdstation.optouts import read_opt_outs

FIELD_TYPES: dict[str, tuple[str, str]] = {
    "text": ("STRING", "TEXT_INPUT"),
    "date": ("STRING", "TEXT_INPUT"),
    "number": ("DECIMAL", "NUMBER_INPUT"),
}
"""(data_type, presentation_type) per clientela field type; dates travel as ISO text."""
REPORT_EVERY = 50
"""Outcomes are handed to the engine in groups: one store transaction per group."""
FATAL = frozenset({401, 403})
"""Credentials refused: every further call would fail the same way, so the push stops."""


def field_value(value: Scalar) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def consent_basis(status: str) -> dict[str, str]:
    return {"category": "communications", "type": "consent", "status": status}


TAG_LIMITATION = ("RD Station cannot remove a tag: a contact who lost consent keeps its old "
                  "segment tag (its segment field is cleared and its legal basis declined)")
UNREAD_LIMITATION = ("RD Station: opt-outs made there are not read back into the store until "
                     "`opt_out_segmentation` names a segmentation of the contacts who declined")


class RDStationDestination:
    def __init__(self, config: RDStationConfig, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.config = config
        self.api = RDStationApi(config, clock=clock, sleep=sleep)
        self.limitations: tuple[str, ...] = (TAG_LIMITATION,) + (
            () if config.opt_out_segmentation is not None else (UNREAD_LIMITATION,))

    def close(self) -> None:
        self.api.close()

    # -- consent (reads only) -----------------------------------------------------------

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Every member of `opt_out_segmentation`, as an opt-out dated at this read (the
        listing has no change date, so `since` cannot narrow it); none when unset."""
        if self.config.opt_out_segmentation is None:
            return []
        return read_opt_outs(self.api, self.config.opt_out_segmentation,
                             self.config.segmentation_page_size)

    # -- plan (reads only) -------------------------------------------------------------

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        present = {change.contact.email for change in changes
                   if change.action == "create" and self.exists(change.contact.email)}
        return plan_by_existence(changes, lambda change: change.contact.email in present,
                                 double_opt_in=False)

    def exists(self, email: str) -> bool:
        try:
            self.api.call("GET", contact_path(email))
        except HttpError as error:
            if error.status == 404:
                return False
            raise
        return True

    # -- prepare -------------------------------------------------------------------------

    def prepare(self, push: PushContext) -> None:
        answer = self.api.call("GET", "platform/contacts/fields") or {}
        have = {str(item.get("api_identifier")) for item in answer.get("fields", [])}
        wanted = [(self.config.field_id(spec.name), spec) for spec in push.fields]
        wanted.append((self.config.segment_field(push.segmentation),
                       FieldSpec(f"segment_{push.segmentation}", "text",
                                 f"Segment ({push.segmentation})")))
        for identifier, spec in wanted:
            if identifier in have:
                continue
            data_type, presentation = FIELD_TYPES[spec.type]
            label = {"default": spec.label, "pt-BR": spec.label}
            self.api.call("POST", "platform/contacts/fields", {
                "api_identifier": identifier, "data_type": data_type, "name": label,
                "label": label, "presentation_type": presentation, "validation_rules": {}})

    # -- send ----------------------------------------------------------------------------

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        send_each(changes, lambda change: self._one(push, change), done,
                  report_every=REPORT_EVERY)

    def _one(self, push: PushContext, change: Change) -> Outcome:
        try:
            self.api.call("PATCH", contact_path(change.contact.email), self.body(push, change))
            segment = change.contact.segment
            if change.action in ("update", "retag") and change.tags_to_add and segment is not None:
                self.api.call("POST", contact_path(change.contact.email) + "/tag",
                              {"tags": [self.config.tag(push.segmentation, segment)]})
        except HttpError as error:
            if error.status in FATAL:
                raise
            text = str(error)
            if error.code == LEAD_LIMITER:
                text += " (24 updates a day per contact: retried by the next push)"
            return Outcome(change.customer_id, False, mask_text(text))
        return Outcome(change.customer_id, True)

    def body(self, push: PushContext, change: Change) -> dict[str, Any]:
        """The upsert body; the e-mail is the identifier in the path and must not repeat here."""
        contact = change.contact
        if change.action == "remove":  # out of every segment: clear the segment, keep the rest
            return {self.config.segment_field(push.segmentation): ""}
        if change.action == "unsubscribe":  # consent lost: declined, and out of the segment
            return {self.config.segment_field(push.segmentation): "",
                    "legal_bases": [consent_basis("declined")]}
        body: dict[str, Any] = {self.config.field_id(spec.name):
                                field_value(contact.fields.get(spec.name)) for spec in push.fields}
        body[self.config.segment_field(push.segmentation)] = contact.segment or ""
        if change.action == "create":
            if contact.segment is not None:
                body["tags"] = [self.config.tag(push.segmentation, contact.segment)]
            if change.status == "subscribed":
                body["legal_bases"] = [consent_basis("granted")]
        elif self.config.propagate_opt_out and contact.consent == "unsubscribed":
            body["legal_bases"] = [consent_basis("declined")]
        return body

    # -- forget ----------------------------------------------------------------------------

    def forget(self, email: str) -> ForgetResult:
        try:
            self.api.call("DELETE", contact_path(email))
        except HttpError as error:
            if error.status == 404:
                return ForgetResult("absent", "no such contact in RD Station")
            raise
        return ForgetResult("deleted", "contact deleted (DELETE /platform/contacts/email:...)")


def open_destination(config: RDStationConfig) -> RDStationDestination:
    return RDStationDestination(config)
