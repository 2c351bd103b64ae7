"""`clientela journeys run`: plan what the journeys call for, then send what is due.

Planning looks back over `lookback` (so a run that was missed catches up,
while the ledger's keys keep a re-run from planning anything twice) and,
for a dry run, ahead over a horizon (a month by default), then writes the
plan in one transaction. Sending is the dispatcher's. Either phase may be
killed at any point: the next run plans only what is missing and settles
what was being sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from clientela import formatting
from clientela.identity.analytics import persons_of, records_of
from clientela.journeys import ledger
from clientela.journeys.audience import rule_members
from clientela.journeys.keys import message_key
from clientela.journeys.ledger import Planned
from clientela.journeys.planner import Candidate, Planner, Step
from clientela.journeys.settings import MessagingConfig
from clientela.journeys.spec import Journey
from clientela.journeys.tasks import open_tasks
from clientela.journeys.templates import fields_of
from clientela.journeys.touches import sync_touches
from clientela.journeys.triggers import TRIGGERS, VALID, Anchor, TriggerContext
from clientela.store import Store

LOOKBACK = timedelta(days=7)


def used_variables(step: Step) -> frozenset[str]:
    names: set[str] = set()
    for template in step.templates.values():
        names.update(template.variables)
        for text in (*template.text.values(), *template.subject.values()):
            names.update(fields_of(text))
    return frozenset(names)


@lru_cache(maxsize=65_536)
def display(name: str, value: Any, currency: str, lang: str) -> Any:
    """A variable as a customer reads it: money and points in the language's format (Babel is
    slow, and a month of reminders repeats the same few values, hence the cache)."""
    if value is None:
        return ""
    if name in ("minimum_purchase", "order_total"):
        return formatting.money(Decimal(str(value)), currency, lang)
    if name == "points":
        return formatting.number(int(value), lang)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y" if lang == "pt-BR" else "%Y-%m-%d")
    return value


@dataclass
class PlanReport:
    planned: list[Planned] = field(default_factory=list)
    new: int = 0
    """Rows the ledger did not hold yet (all of them in a dry run)."""

    def counts(self) -> Counter[tuple[str, str, str, str]]:
        """(journey, step, channel or '-', status or reason) -> messages."""
        return Counter((p.origin, p.step, p.medium or "-",
                        p.status if p.status != "suppressed" else f"suppressed:{p.reason}")
                       for p in self.planned)

    def reasons(self) -> Counter[str]:
        return Counter(str(p.reason) for p in self.planned if p.status == "suppressed")


@dataclass
class JourneyRunner:
    store: Store
    messaging: MessagingConfig
    journeys: Sequence[Journey]
    zone: ZoneInfo
    currency: str
    redemption_threshold: int
    now: datetime

    def step_of(self, journey: Journey, index: int) -> Step:
        step = journey.steps[index]
        return Step("journey", journey.name, step.name, journey.purpose, tuple(journey.channels),
                    step.templates(), campaign_id=f"journey:{journey.name}")

    def plan(self, start: datetime, end: datetime) -> list[Planned]:
        """Every message whose due time falls in [start, end) and whose key is new."""
        ctx = TriggerContext(self.store.con, self.zone, self.redemption_threshold, self.now)
        planner = Planner(self.store, self.messaging, self.zone, self.now)
        planned: list[Planned] = []
        for journey in self.journeys:
            if not journey.enabled:
                continue
            offset = timedelta()
            for index, step in enumerate(journey.steps):
                offset += timedelta(days=step.wait_days)
                anchors = TRIGGERS[journey.trigger](ctx, journey, start - offset, end - offset)
                anchors = self._keep(journey, anchors, offset)
                spec = self.step_of(journey, index)
                origin = f"journey:{journey.name}"
                person = persons_of(self.store, [a.customer_id for a in anchors])
                keys = [message_key(origin, step.name, person[a.customer_id], a.occurrence)
                        for a in anchors]
                known = ledger.existing_keys(self.store.con, keys) if keys else set()
                used = used_variables(spec)
                candidates = [self._candidate(a, offset, used)
                              for a, key in zip(anchors, keys, strict=True) if key not in known]
                planned += planner.plan(spec, candidates)
        return planned

    def _keep(self, journey: Journey, anchors: list[Anchor], offset: timedelta) -> list[Anchor]:
        if not anchors:
            return anchors
        ids = [a.customer_id for a in anchors]
        if journey.audience:
            members = rule_members(self.store, journey.audience, self.now, among=ids)
            anchors = [a for a in anchors if a.customer_id in members]
        if journey.exit_on_order and offset > timedelta() and anchors:
            # an order on any of her records ends the journey for the person
            records = records_of(self.store, [a.customer_id for a in anchors])
            every = sorted({r for rs in records.values() for r in rs})
            own = dict(self.store.con.execute(
                f"SELECT customer_id, max(placed_at) FROM orders WHERE {VALID} AND customer_id "
                "IN (SELECT unnest(?)) GROUP BY customer_id", [every]).fetchall())
            latest: dict[str, datetime] = {
                cid: max(own[r] for r in rs if r in own)
                for cid, rs in records.items() if any(r in own for r in rs)}
            anchors = [a for a in anchors
                       if not (a.customer_id in latest
                               and ledger.naive(a.at) < latest[a.customer_id]
                               < ledger.naive(a.at + offset))]
        return anchors

    def _candidate(self, anchor: Anchor, offset: timedelta, used: frozenset[str]) -> Candidate:
        return Candidate(anchor.customer_id, anchor.occurrence, anchor.at + offset,
                         self._formatted(anchor.variables, used), anchor.salesperson_id)

    def _formatted(self, variables: Mapping[str, Any], used: frozenset[str]) -> dict[str, Any]:
        """The variables the step's templates use, formatted in the messaging language (the
        others are never rendered, so they are not formatted)."""
        lang = "pt-BR" if self.messaging.language.lower().startswith("pt") else "en"
        return {name: display(name, value, self.currency, lang)
                for name, value in variables.items() if name in used}

    def run_plan(self, *, horizon: timedelta = timedelta(), dry_run: bool = False,
                 lookback: timedelta = LOOKBACK) -> PlanReport:
        planned = self.plan(self.now - lookback, self.now + horizon + timedelta(microseconds=1))
        report = PlanReport(planned)
        if dry_run:
            report.new = len(planned)
            return report
        report.new = ledger.plan(self.store.con, planned, now=self.now)
        sync_touches(self.store)
        open_tasks(self.store, self.journeys, self.now)
        return report
