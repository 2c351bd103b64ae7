"""Channels by name, from the registry: the one way a command finds a contact channel.

Built-in channels (e-mail, SMS, WhatsApp) are registered through the same
hook a plugin uses, so a channel a plugin adds is found the same way, with
the customer field that holds its consent.
"""

from __future__ import annotations

from clientela.channels.api import Channel
from clientela.errors import NotFound


class UnknownChannel(NotFound):
    """No channel of that name is installed; the message lists those that are."""


def channel(name: str) -> Channel:
    from clientela.plugins import registry

    try:
        found: Channel = registry().get("channel", name)
    except LookupError as error:
        raise UnknownChannel(str(error)) from None
    return found


def consent_field(name: str) -> str | None:
    """The Customer field holding consent for the channel (None: none applies)."""
    return channel(name).consent_field
