"""Twilio SMS and WhatsApp channels for clientela."""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels import Channel, ChannelLimits
from clientela.hookspecs import hookimpl
from clientela_channel_twilio.channel import (
    TwilioConfig,
    TwilioSender,
    handshake,
    parse_webhook,
    verify_webhook,
)


def _channel(name: str, medium: str, title: str) -> Channel:
    def open_sender(config: TwilioConfig) -> TwilioSender:
        return TwilioSender(config, whatsapp=medium == "whatsapp")

    return Channel(name, title, title, f"consent_{medium}", medium=medium, provider="Twilio",
                   config=TwilioConfig, open=open_sender,
                   limits=ChannelLimits(per_second=1.0, per_recipient_seconds=1.0),
                   verify_webhook=verify_webhook, parse_webhook=parse_webhook,
                   handshake=handshake)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    register(_channel("twilio_sms", "sms", "SMS (Twilio)"))
    register(_channel("twilio_whatsapp", "whatsapp", "WhatsApp (Twilio)"))


__all__ = ["TwilioConfig", "TwilioSender", "parse_webhook", "verify_webhook"]
