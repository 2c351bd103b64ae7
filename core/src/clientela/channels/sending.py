"""The send protocol between the message ledger and a channel plugin.

The ledger hands a `Sender` one `OutgoingMessage` at a time and gets back
a `SendResult` that says what the provider decided: accepted (`sent`),
try again later (`retry`, with the wait the provider asked for), never
(`failed`), or the person opted out (`opted_out`, which becomes a consent
event). A sender never raises for a provider's answer; it classifies it.

Every message carries its ledger key, which the sender passes to the
provider wherever the provider keeps it (an idempotency header, custom
arguments, callback data), so that `lookup` can tell after a crash whether
the provider already has the message: the ledger then records it instead
of sending it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from clientela.channels.api import ChannelLimits

Outcome = Literal["sent", "retry", "failed", "opted_out"]
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]

STATUS_RANK: Mapping[str, int] = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
"""Statuses arrive out of order; a later rank never gives way to an earlier one (a `delivered`
after a `read` changes nothing). `failed` is final."""


@dataclass(frozen=True)
class OutgoingMessage:
    key: str
    """The ledger key; also the provider idempotency key or callback data."""
    to: str
    """The address: an E.164 phone number or an e-mail address."""
    text: str | None = None
    """Free-form text (SMS, e-mail body, WhatsApp inside the 24-hour window)."""
    subject: str | None = None
    template: str | None = None
    """A provider template (WhatsApp approved template name, Twilio ContentSid...)."""
    language: str = "pt_BR"
    variables: Mapping[str, str] = field(default_factory=dict)
    """Template parameters, in the template's order."""
    purpose: str = "marketing"
    attempted_at: datetime | None = None
    """For a lookup: when the interrupted call was made (a provider's list is searched from
    then on, so an older message with the same text is not mistaken for this one)."""


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    code: str | None = None
    """The provider's error code (Twilio 21610, Meta 131026...)."""
    detail: str | None = None
    retry_after: float | None = None


class Sender(Protocol):
    """`can_lookup` (an optional attribute, True when absent) says whether `lookup` can answer;
    a sender without it has its messages marked `calling` one at a time."""

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand one message to the provider and classify the answer."""

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        """After a crash between the call and the record: what the provider has for this key.

        A `SendResult` if the provider holds the message, None if it certainly does not (the
        ledger may then send it), and raise `LookupUnavailable` if it cannot tell."""

    def close(self) -> None: ...


class LookupUnavailable(RuntimeError):
    """The provider cannot say whether it holds a message; the ledger must not send again."""


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery webhook as received: what a plugin needs to verify and read it."""

    url: str
    """The full URL the provider called (Twilio and Mandrill sign it)."""
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes
    form: Mapping[str, str] = field(default_factory=dict)
    """The decoded form fields of a form POST."""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class ChannelEvent:
    """One thing a webhook says: a status of a message, or a message from a person."""

    kind: Literal["status", "inbound"]
    event_id: str
    """Unique per event at the provider; a second event with the same id is a replay."""
    occurred_at: datetime
    provider_id: str | None = None
    key: str | None = None
    """The ledger key, when the provider echoes it back (custom args, callback data)."""
    status: DeliveryStatus | None = None
    reason: str | None = None
    opted_out: bool = False
    """The status says the person opted out (SendGrid unsubscribe, spam report)."""
    address: str | None = None
    """For an inbound message: the sender's address."""
    text: str | None = None


class Pacer:
    """Spaces calls to a rate (messages per second) and to a least gap per recipient.

    The clock and the sleep are injectable so that tests and the benchmark can count the
    waits without waiting. Thread-safe: a channel may be driven by several workers.
    """

    def __init__(self, limits: ChannelLimits, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / limits.per_second if limits.per_second > 0 else 0.0
        self.gap = limits.per_recipient_seconds
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._last_to: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def wait_turn(self, to: str) -> None:
        with self._lock:
            now = self.clock()
            at = max(now, self._next)
            if self.gap > 0 and to in self._last_to:
                at = max(at, self._last_to[to] + self.gap)
            self._next = at + self.interval
            if self.gap > 0:
                self._last_to[to] = at
        if at > now:
            self.waited += at - now
            self.sleep(at - now)

    def hold(self, seconds: float) -> None:
        """The provider said 429: nobody calls before `seconds` from now."""
        with self._lock:
            self._next = max(self._next, self.clock() + seconds)
