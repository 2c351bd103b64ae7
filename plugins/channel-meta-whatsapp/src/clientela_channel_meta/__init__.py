"""The Meta WhatsApp Cloud API channel for clientela."""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels import Channel, ChannelLimits
from clientela.hookspecs import hookimpl
from clientela_channel_meta.channel import (
    MetaConfig,
    MetaSender,
    handshake,
    parse_webhook,
    verify_webhook,
)

CHANNEL = Channel(
    "meta_whatsapp", "WhatsApp (Meta Cloud API)", "WhatsApp (API oficial da Meta)",
    "consent_whatsapp", medium="whatsapp", provider="Meta", config=MetaConfig, open=MetaSender,
    limits=ChannelLimits(per_second=80.0, per_recipient_seconds=6.0),
    verify_webhook=verify_webhook, parse_webhook=parse_webhook, handshake=handshake)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    register(CHANNEL)


__all__ = ["CHANNEL", "MetaConfig", "MetaSender", "parse_webhook", "verify_webhook"]
