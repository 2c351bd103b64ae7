"""What a channel plugin registers: a way to reach a customer (SMS, WhatsApp, ...).

The channel names what campaigns and touches may carry and which consent
field governs it, so a push or a send over that channel can check consent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    name: str
    title: str
    title_pt: str
    consent_field: str | None = None
    """The Customer field holding consent for this channel (None: no marketing consent applies)."""
