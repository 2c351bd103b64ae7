"""clientela-sendgrid: the SendGrid Marketing Campaigns destination plugin (official sendgrid client)."""

from __future__ import annotations

from collections.abc import Callable

from clientela.destinations.api import DestinationSpec
from clientela.hookspecs import hookimpl
from clientela_sendgrid.client import SendGridError
from clientela_sendgrid.config import SendGridConfig
from clientela_sendgrid.destination import SendGridDestination, floor, open_destination

__version__ = "0.1.0"
__all__ = ["SENDGRID", "SendGridConfig", "SendGridDestination", "SendGridError", "floor",
           "register_destinations"]

SENDGRID = DestinationSpec(
    name="sendgrid",
    description="SendGrid Marketing Campaigns: a list per segment, custom fields, import jobs "
    "polled to their end, suppressions respected, contact delete on forget",
    config=SendGridConfig,
    open=open_destination,
)


@hookimpl
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    register(SENDGRID)
