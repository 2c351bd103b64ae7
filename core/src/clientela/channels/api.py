"""What a channel plugin registers: a way to reach a customer (SMS, WhatsApp, ...).

The channel names what campaigns and touches may carry and which consent
field governs it, so a push or a send over that channel can check consent.

A channel that can also *send* (a provider such as Twilio or SendGrid) sets
`medium` (the kind of contact it makes: `sms`, `whatsapp`, `email`), a
`config` model for its `[channels.<name>]` section, an `open` factory that
returns a `Sender`, its `limits`, and the plain functions that verify and
read its delivery webhooks. Every added field has a default, so a channel
registered with the first four arguments keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from clientela.channels.sending import ChannelEvent, Sender, WebhookRequest


@dataclass(frozen=True)
class ChannelLimits:
    """What the provider allows; the dispatcher paces itself to stay inside it."""

    per_second: float = 10.0
    """Messages per second for one sender (Meta: 80 per number; Twilio long code: 1)."""
    per_recipient_seconds: float = 0.0
    """Least time between two messages to the same address (Meta's pair rate: about 6 s)."""
    batch_size: int = 1
    """Messages the provider takes in one call."""


@dataclass(frozen=True)
class Channel:
    name: str
    title: str
    title_pt: str
    consent_field: str | None = None
    """The Customer field holding consent for this channel (None: no marketing consent applies)."""
    medium: str | None = None
    """For a provider channel: the contact it makes (`sms`, `whatsapp`, `email`). Campaigns and
    touches carry the medium, so results do not depend on which provider sent them."""
    provider: str | None = None
    """The provider's name, for listings ("Twilio", "SendGrid")."""
    config: type[BaseModel] | None = None
    """The pydantic model of the channel's `[channels.<name>]` section."""
    open: Callable[[Any], Sender] | None = None
    """config -> a Sender; None for a channel that cannot send by itself."""
    limits: ChannelLimits = field(default_factory=ChannelLimits)
    verify_webhook: Callable[[Any, WebhookRequest], bool] | None = None
    """(config, request) -> the request really comes from the provider (signature, token)."""
    parse_webhook: Callable[[Any, WebhookRequest], list[ChannelEvent]] | None = None
    """(config, request) -> the delivery statuses and inbound replies it carries."""
    handshake: Callable[[Any, Mapping[str, str]], str | None] | None = None
    """(config, query) -> the text to answer a GET verification handshake (Meta), or None to
    refuse it."""

    @property
    def contact_medium(self) -> str:
        """What touches and the ledger record: the medium, or the channel's own name."""
        return self.medium or self.name

    @property
    def can_send(self) -> bool:
        return self.open is not None
