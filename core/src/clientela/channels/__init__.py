"""Channel plugin API and the built-in contact channels."""

from clientela.channels.api import Channel, ChannelLimits
from clientela.channels.sending import (
    ChannelEvent,
    LookupUnavailable,
    OutgoingMessage,
    Pacer,
    Sender,
    SendResult,
    WebhookRequest,
)

BUILTIN_CHANNELS: tuple[Channel, ...] = (
    Channel("email", "E-mail", "E-mail", "consent_email"),
    Channel("sms", "SMS", "SMS", "consent_sms"),
    Channel("whatsapp", "WhatsApp", "WhatsApp", "consent_whatsapp"),
    Channel("push", "Push notification", "Notificação push"),
    Channel("call", "Phone call", "Ligação"),
)

MEDIA: tuple[str, ...] = ("sms", "whatsapp", "email")
"""The contact media a provider channel can send over."""

__all__ = [
    "BUILTIN_CHANNELS",
    "MEDIA",
    "Channel",
    "ChannelEvent",
    "ChannelLimits",
    "LookupUnavailable",
    "OutgoingMessage",
    "Pacer",
    "SendResult",
    "Sender",
    "WebhookRequest",
]
