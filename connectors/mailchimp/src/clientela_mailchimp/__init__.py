"""clientela-mailchimp: the Mailchimp destination plugin (official mailchimp-marketing client)."""

from __future__ import annotations

from collections.abc import Callable

from clientela.destinations.api import DestinationSpec
from clientela.hookspecs import hookimpl
from clientela_mailchimp.client import MailchimpError, subscriber_hash
from clientela_mailchimp.config import MailchimpConfig
from clientela_mailchimp.destination import MailchimpDestination, open_destination

__version__ = "0.1.0"
__all__ = ["MAILCHIMP", "MailchimpConfig", "MailchimpDestination", "MailchimpError",
           "register_destinations", "subscriber_hash"]

MAILCHIMP = DestinationSpec(
    name="mailchimp",
    description="Mailchimp audience: merge fields, segments as tags, consent kept, "
    "permanent delete on forget",
    config=MailchimpConfig,
    open=open_destination,
)


@hookimpl
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    register(MAILCHIMP)
