"""Channel plugin API and the built-in contact channels."""

from clientela.channels.api import Channel

BUILTIN_CHANNELS: tuple[Channel, ...] = (
    Channel("email", "E-mail", "E-mail", "consent_email"),
    Channel("sms", "SMS", "SMS", "consent_sms"),
    Channel("whatsapp", "WhatsApp", "WhatsApp", "consent_whatsapp"),
    Channel("push", "Push notification", "Notificação push"),
    Channel("call", "Phone call", "Ligação"),
)

__all__ = ["BUILTIN_CHANNELS", "Channel"]
