"""The Mailchimp Transactional (Mandrill) channel for clientela."""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels import Channel, ChannelLimits
from clientela.hookspecs import hookimpl
from clientela_channel_mandrill.channel import (
    MandrillConfig,
    MandrillSender,
    parse_webhook,
    verify_webhook,
)

CHANNEL = Channel(
    "mandrill_mail", "E-mail (Mailchimp Transactional)", "E-mail (Mailchimp Transactional)",
    "consent_email", medium="email", provider="Mailchimp Transactional", config=MandrillConfig,
    open=MandrillSender, limits=ChannelLimits(per_second=50.0), verify_webhook=verify_webhook,
    parse_webhook=parse_webhook)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    register(CHANNEL)


__all__ = ["CHANNEL", "MandrillConfig", "MandrillSender"]
