"""The SendGrid Mail Send channel for clientela."""

from __future__ import annotations

from collections.abc import Callable

from clientela.channels import Channel, ChannelLimits
from clientela.hookspecs import hookimpl
from clientela_channel_sendgrid.channel import (
    SendGridMailConfig,
    SendGridMailSender,
    handshake,
    parse_webhook,
    verify_webhook,
)

CHANNEL = Channel(
    "sendgrid_mail", "E-mail (SendGrid)", "E-mail (SendGrid)", "consent_email", medium="email",
    provider="SendGrid", config=SendGridMailConfig, open=SendGridMailSender,
    limits=ChannelLimits(per_second=100.0), verify_webhook=verify_webhook,
    parse_webhook=parse_webhook, handshake=handshake)


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    register(CHANNEL)


__all__ = ["CHANNEL", "SendGridMailConfig", "SendGridMailSender"]
