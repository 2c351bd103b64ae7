"""Sending what is due: settle the unknown, re-check, pace, call, record.

A run first settles messages left `calling` by a crash: the provider is
asked (by the message's key) whether it holds each one; if it does, the
message is recorded as sent, if it certainly does not, it goes back to the
queue, and if it cannot tell, it stays `calling` until a delivery webhook
settles it. Nothing is ever sent a second time on a guess.

Then, batch by batch, due messages are re-checked (consent may have been
withdrawn since planning, a STOP reply may have arrived, another message
may have used up the frequency cap, the clock may have reached quiet
hours), marked `calling` in one committed statement, handed to the
provider one by one at the provider's pace, and their answers recorded
in one statement. A 429 or a 5xx waits and retries that one message; a
final error fails that one message; an opt-out fails it and records the
opt-out for every medium, so nothing else goes to that person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from clientela.channels.sending import (
    LookupUnavailable,
    OutgoingMessage,
    Pacer,
    Sender,
    SendResult,
)
from clientela.journeys import ledger
from clientela.journeys.consent import MEDIA, record_opt_out
from clientela.journeys.contacts import load_contacts
from clientela.journeys.ledger import Outcome, Row
from clientela.journeys.planner import FREQUENCY_CAP, NO_CONSENT, OPTED_OUT, QUIET_HOURS
from clientela.journeys.quiet import QuietHours, zone_of
from clientela.journeys.settings import MessagingConfig
from clientela.privacy import mask_text
from clientela.store import Store

MAX_RUNS = 10
"""Runs in which a message may be throttled or meet a server error before it fails for good."""
RETRY_LATER = timedelta(minutes=1)
"""How long a message that exhausted its retries in a run waits before the next try."""


@dataclass
class Route:
    """One channel ready to send: its sender and its pacer."""

    name: str
    medium: str
    sender: Sender
    pacer: Pacer


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0
    opted_out: int = 0
    retried: int = 0
    deferred: int = 0
    """Left planned for a later run: retries exhausted, or quiet hours reached."""
    suppressed: dict[str, int] = field(default_factory=dict)
    settled_sent: int = 0
    settled_requeued: int = 0
    unsettled: int = 0
    errors: list[str] = field(default_factory=list)


def to_outgoing(row: Row) -> OutgoingMessage:
    values = {k: "" if v is None else str(v) for k, v in row.variables.items()}
    return OutgoingMessage(key=row.message_key, to=row.address or "", text=row.body,
                           subject=row.subject, template=row.template,
                           language=row.language or "pt_BR", variables=values,
                           purpose=row.purpose, attempted_at=row.called_at)


@dataclass
class Dispatcher:
    store: Store
    config: MessagingConfig
    routes: Mapping[str, Route]
    """channel name -> route."""
    zone: ZoneInfo
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    report: DispatchReport = field(default_factory=DispatchReport)

    def run(self, *, limit: int | None = None) -> DispatchReport:
        self.settle()
        remaining = limit
        while remaining is None or remaining > 0:
            size = self.config.batch_size if remaining is None else min(remaining,
                                                                        self.config.batch_size)
            rows = ledger.due(self.store.con, self.clock(), channels=list(self.routes),
                              limit=size)
            if not rows:
                break
            self.send_batch(rows)
            if remaining is not None:
                remaining -= len(rows)
        return self.report

    # -- after a crash -------------------------------------------------------------------

    def settle(self) -> None:
        rows = ledger.calling(self.store.con, channels=list(self.routes))
        outcomes: list[Outcome] = []
        for row in rows:
            route = self.routes[str(row.channel)]
            try:
                found = route.sender.lookup(to_outgoing(row))
            except LookupUnavailable:
                self.report.unsettled += 1
                continue
            if found is None:
                outcomes.append(Outcome(row.message_key, ledger.PLANNED, "requeued: the provider "
                                        "never received it"))
                self.report.settled_requeued += 1
            else:
                outcomes.append(ledger.from_result(row.message_key, found))
                self.report.settled_sent += 1
        ledger.record(self.store.con, outcomes, self.clock())

    # -- sending ---------------------------------------------------------------------------

    def send_batch(self, rows: Sequence[Row]) -> None:
        now = self.clock()
        held: list[Outcome] = []
        ready: list[Row] = []
        checks = self._checks(rows, now)
        for row in rows:
            verdict = checks.get(row.message_key)
            if verdict is None:
                ready.append(row)
            else:
                held.append(verdict)
                if verdict.status == ledger.PLANNED:
                    self.report.deferred += 1
                else:
                    reason = str(verdict.reason)
                    self.report.suppressed[reason] = self.report.suppressed.get(reason, 0) + 1
        ledger.record(self.store.con, held, now)
        if not ready:
            return
        # a provider that can be asked about a key takes the batch at once; for one that
        # cannot, each message is marked just before its call, so a crash leaves at most one
        # message unknown (settled by its status webhook)
        lookups = {name: getattr(route.sender, "can_lookup", True)
                   for name, route in self.routes.items()}
        ledger.mark_calling(self.store.con, [r.message_key for r in ready
                                             if lookups[str(r.channel)]], now)
        outcomes: list[Outcome] = []
        stopped: set[str] = set()
        try:
            for row in ready:
                if row.customer_id in stopped:
                    outcomes.append(Outcome(row.message_key, ledger.SUPPRESSED, OPTED_OUT))
                    continue
                if not lookups[str(row.channel)]:
                    ledger.mark_calling(self.store.con, [row.message_key], self.clock())
                outcome = self._send_one(row)
                outcomes.append(outcome)
                if outcome.reason == OPTED_OUT:
                    stopped.add(row.customer_id)
                    record_opt_out(self.store, [row.customer_id], MEDIA,
                                   ("marketing", "relationship"), source=str(row.channel),
                                   evidence=f"the provider refused: opted out "
                                            f"({outcome.provider_id or 'no id'})",
                                   occurred_at=self.clock())
        finally:  # an exception (not a kill) still records what the provider already has
            ledger.record(self.store.con, outcomes, self.clock())

    def _send_one(self, row: Row) -> Outcome:
        route = self.routes[str(row.channel)]
        message = to_outgoing(row)
        result: SendResult | None = None
        for attempt in range(self.config.max_retries + 1):
            route.pacer.wait_turn(message.to)
            try:
                result = route.sender.send(message)
            except Exception as error:  # a sender must classify; a crash in one is one failure
                self.report.errors.append(mask_text(f"{row.channel}: {type(error).__name__}: "
                                                    f"{error}")[:300])
                result = SendResult("retry", code=type(error).__name__)
            if result.outcome != "retry":
                break
            self.report.retried += 1
            if attempt < self.config.max_retries:
                route.pacer.hold(result.retry_after if result.retry_after is not None
                                 else min(60.0, 0.5 * 2**attempt))
        assert result is not None
        outcome = ledger.from_result(row.message_key, result)
        if outcome.status == ledger.PLANNED:  # still throttled or down: a later run tries again
            if row.attempts + 1 >= MAX_RUNS:
                outcome = Outcome(row.message_key, ledger.FAILED,
                                  f"gave up after {MAX_RUNS} runs: {outcome.reason}")
            else:
                wait = max(RETRY_LATER.total_seconds(), result.retry_after or 0.0)
                outcome = Outcome(row.message_key, ledger.PLANNED, outcome.reason,
                                  due_at=self.clock() + timedelta(seconds=wait))
        if outcome.status == ledger.SENT:
            self.report.sent += 1
        elif outcome.status == ledger.PLANNED:
            self.report.deferred += 1
        elif outcome.reason == OPTED_OUT:
            self.report.opted_out += 1
        else:
            self.report.failed += 1
        return outcome

    def _checks(self, rows: Sequence[Row], now: datetime) -> dict[str, Outcome]:
        """Re-check consent, frequency cap and quiet hours for a batch about to go out."""
        media = sorted({str(r.medium) for r in rows})
        purposes = sorted({r.purpose for r in rows})
        contacts = load_contacts(self.store, [r.customer_id for r in rows], media, purposes)
        quiet = QuietHours(self.config.quiet_start, self.config.quiet_end)
        cap = timedelta(hours=self.config.frequency_cap_hours)
        verdicts: dict[str, Outcome] = {}
        used: set[tuple[str, str]] = set()
        for row in rows:
            status = contacts.consent.get((str(row.medium), row.purpose), {}).get(row.customer_id)
            if status != "subscribed":
                reason = OPTED_OUT if status == "unsubscribed" else NO_CONSENT
                verdicts[row.message_key] = Outcome(row.message_key, ledger.SUPPRESSED, reason)
                continue
            if row.purpose == "marketing" and self.config.frequency_cap_hours > 0:
                pair = (row.customer_id, str(row.medium))
                last = contacts.last_marketing.get(pair)
                if pair in used or (last is not None and ledger.naive(now) - last < cap):
                    verdicts[row.message_key] = Outcome(row.message_key, ledger.SUPPRESSED,
                                                        FREQUENCY_CAP)
                    continue
                used.add(pair)
            person = contacts.people.get(row.customer_id)
            zone = zone_of(person.timezone if person else None, self.zone)
            if not quiet.allows(now, zone):
                if row.purpose == "marketing" and self.config.quiet_marketing == "drop":
                    verdicts[row.message_key] = Outcome(row.message_key, ledger.SUPPRESSED,
                                                        QUIET_HOURS)
                else:
                    verdicts[row.message_key] = Outcome(
                        row.message_key, ledger.PLANNED, QUIET_HOURS,
                        due_at=quiet.next_opening(now, zone))
        return verdicts
