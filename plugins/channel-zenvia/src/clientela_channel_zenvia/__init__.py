"""Zenvia SMS and WhatsApp channels for clientela."""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels import Channel, ChannelLimits
from clientela.hookspecs import hookimpl
from clientela_channel_zenvia.channel import (
    ZenviaConfig,
    ZenviaSender,
    parse_webhook,
    verify_webhook,
)


def _channel(name: str, medium: str, title: str) -> Channel:
    def open_sender(config: ZenviaConfig) -> ZenviaSender:
        return ZenviaSender(config, medium)

    return Channel(name, title, title, f"consent_{medium}", medium=medium, provider="Zenvia",
                   config=ZenviaConfig, open=open_sender, limits=ChannelLimits(per_second=20.0),
                   verify_webhook=verify_webhook, parse_webhook=parse_webhook)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    register(_channel("zenvia_sms", "sms", "SMS (Zenvia)"))
    register(_channel("zenvia_whatsapp", "whatsapp", "WhatsApp (Zenvia)"))


__all__ = ["ZenviaConfig", "ZenviaSender"]
