"""From candidates to ledger rows: which channel, when, or why not.

For each candidate of a step the planner walks the step's media in order
(the fallback: WhatsApp, else SMS, else e-mail) and takes the first one on
which the person can be reached: an address for it, a current opt-in for
it and the purpose, WhatsApp's conversation window or an approved
template, and, for marketing, no other marketing message on that medium in
the frequency cap. If none can be used the message is recorded as
suppressed with the first medium's reason, so every decision is counted.
Quiet hours then move the due time to the recipient's next opening (a
marketing message may be dropped instead, by option).

A person known by several records (`clientela.identity`) gets one message per
step and occurrence: her candidates are grouped, the message key is hers
(her person id), and the message goes to the first of her records that can
be reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clientela.identity.analytics import persons_of, records_of
from clientela.journeys.contacts import Contacts, load_contacts
from clientela.journeys.keys import message_key
from clientela.journeys.ledger import PLANNED, SUPPRESSED, Planned, naive
from clientela.journeys.quiet import QuietHours, zone_of
from clientela.journeys.settings import MessagingConfig
from clientela.journeys.templates import ChannelTemplate, pick, render
from clientela.store import Store

NO_CONSENT = "no_consent"
OPTED_OUT = "opted_out"
QUIET_HOURS = "quiet_hours"
FREQUENCY_CAP = "frequency_cap"
NO_ADDRESS = "no_address"
OUTSIDE_WINDOW = "outside_window"
FORGOTTEN = "forgotten"
CONTROL_GROUP = "control_group"
NO_CHANNEL = "no_channel"
REASONS = (NO_CONSENT, OPTED_OUT, QUIET_HOURS, FREQUENCY_CAP, NO_ADDRESS, OUTSIDE_WINDOW,
           FORGOTTEN, CONTROL_GROUP, NO_CHANNEL)
"""Every reason a message is not sent. `control_group`: held out of a campaign on purpose;
`no_channel`: no channel is configured to send that medium."""


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    occurrence: str
    due_at: datetime
    """Aware; when the trigger wants the message out."""
    variables: Mapping[str, Any] = field(default_factory=dict)
    salesperson_id: str | None = None
    is_control: bool = False


@dataclass(frozen=True)
class Step:
    """What one step of a journey or a campaign sends."""

    origin_kind: str
    """journey or campaign"""
    origin: str
    step: str
    purpose: str
    media: tuple[str, ...]
    templates: Mapping[str, ChannelTemplate]
    campaign_id: str | None = None


def person_groups(store: Store, candidates: Sequence[Candidate]
                  ) -> list[tuple[str, Candidate, list[str]]]:
    """(person, her first candidate, the records to try) per person and occurrence, in the
    candidates' order. Without persons every candidate is its own group of one record."""
    ids = [c.customer_id for c in candidates]
    person = persons_of(store, ids)
    others = records_of(store, ids)
    groups: dict[tuple[str, str], tuple[str, Candidate, list[str]]] = {}
    for candidate in candidates:
        key = (person[candidate.customer_id], candidate.occurrence)
        if key not in groups:
            groups[key] = (key[0], candidate, [candidate.customer_id])
        elif candidate.customer_id not in groups[key][2]:
            groups[key][2].append(candidate.customer_id)
    for _, _, records in groups.values():
        for record in list(records):
            records.extend(r for r in others[record] if r not in records)
    return list(groups.values())


@dataclass
class Planner:
    store: Store
    config: MessagingConfig
    zone: ZoneInfo
    """The workspace's time zone, for people whose own is unknown."""
    now: datetime

    def __post_init__(self) -> None:
        self.quiet = QuietHours(self.config.quiet_start, self.config.quiet_end)
        self._pass_marketing: dict[tuple[str, str], list[datetime]] = {}

    def plan(self, step: Step, candidates: Sequence[Candidate],
             contacts: Contacts | None = None) -> list[Planned]:
        """One message per person and occurrence: candidates that are records of one person
        (`clientela.identity`) are planned once, on the first of her records that can be
        reached (the candidates' own records first, in their order, then her others)."""
        if not candidates:
            return []
        groups = person_groups(self.store, candidates)
        if contacts is None:
            ids = [r for _, _, records in groups for r in records]
            contacts = load_contacts(self.store, ids, step.media, (step.purpose,))
        origin = f"{step.origin_kind}:{step.origin}"
        planned: list[Planned] = []
        for person, candidate, records in groups:
            first: Planned | None = None
            # a person id that names no customer record (an audience of persons) is no
            # address to try: her records are
            for record in [r for r in records if r in contacts.people] or records[:1]:
                tried = self._one(step, origin, replace(candidate, customer_id=record),
                                  contacts, person)
                first = first or tried
                if tried.status == PLANNED:
                    first = tried
                    break
            assert first is not None
            planned.append(first)
        return planned

    def _one(self, step: Step, origin: str, candidate: Candidate, contacts: Contacts,
             person_id: str | None = None) -> Planned:
        cid = candidate.customer_id
        person = contacts.people.get(cid)
        planned = Planned(
            message_key=message_key(origin, step.step, person_id or cid, candidate.occurrence),
            origin_kind=step.origin_kind, origin=step.origin, step=step.step, customer_id=cid,
            occurrence=candidate.occurrence, purpose=step.purpose,
            due_at=candidate.due_at.astimezone(UTC), campaign_id=step.campaign_id,
            salesperson_id=candidate.salesperson_id, is_control=candidate.is_control,
            medium=step.media[0] if step.media else None)
        if cid in contacts.forgotten or person is None:
            return self._suppress(planned, FORGOTTEN if cid in contacts.forgotten else NO_ADDRESS)
        if candidate.is_control:
            return self._suppress(planned, CONTROL_GROUP)
        first_reason: str | None = None
        chosen: str | None = None
        for medium in step.media:
            reason = self._blocked(step, medium, candidate, person.address(medium), contacts)
            if reason is None:
                chosen = medium
                break
            first_reason = first_reason or reason
        if chosen is None:
            return self._suppress(planned, first_reason or NO_CHANNEL)
        template = step.templates[chosen]
        language = person.language or self.config.language
        variables = {"first_name": person.first_name or "", "store": self.config.store_name,
                     **candidate.variables}
        planned.medium = chosen
        planned.channel = self.config.send.get(chosen)
        planned.address = person.address(chosen)
        planned.language = language
        planned.template = template.template
        planned.body = render(pick(template.text, language), variables)
        planned.subject = render(pick(template.subject, language), variables)
        planned.variables = {name: variables.get(name) for name in template.variables} \
            if template.template else {}
        zone = zone_of(person.timezone, self.zone)
        if not self.quiet.allows(planned.due_at, zone):
            if step.purpose == "marketing" and self.config.quiet_marketing == "drop":
                return self._suppress(planned, QUIET_HOURS)
            planned.due_at = self.quiet.next_opening(planned.due_at, zone)
        if step.purpose == "marketing":
            self._pass_marketing.setdefault((cid, chosen), []).append(planned.due_at)
        return planned

    def _blocked(self, step: Step, medium: str, candidate: Candidate, address: str | None,
                 contacts: Contacts) -> str | None:
        cid = candidate.customer_id
        if medium not in self.config.send:
            return NO_CHANNEL
        if address is None:
            return NO_ADDRESS
        status = contacts.consent.get((medium, step.purpose), {}).get(cid)
        if status == "unsubscribed":
            return OPTED_OUT
        if status != "subscribed":
            return NO_CONSENT
        template = step.templates.get(medium)
        if template is None:
            return NO_CHANNEL
        if medium == "whatsapp" and not template.template:
            last = contacts.last_inbound.get((cid, medium))
            window = timedelta(hours=self.config.whatsapp_window_hours)
            if last is None or naive(candidate.due_at) - last >= window:
                return OUTSIDE_WINDOW
        if step.purpose == "marketing" and self.config.frequency_cap_hours > 0:
            cap = timedelta(hours=self.config.frequency_cap_hours)
            due = candidate.due_at.astimezone(UTC)
            last = contacts.last_marketing.get((cid, medium))
            if last is not None and abs(naive(due) - last) < cap:
                return FREQUENCY_CAP
            for other in self._pass_marketing.get((cid, medium), ()):
                if abs(due - other) < cap:
                    return FREQUENCY_CAP
        return None

    @staticmethod
    def _suppress(planned: Planned, reason: str) -> Planned:
        planned.status = SUPPRESSED
        planned.reason = reason
        return planned


__all__ = ["PLANNED", "REASONS", "Candidate", "Planner", "Step"]
