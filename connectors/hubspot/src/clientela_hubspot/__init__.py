"""clientela-hubspot: the HubSpot CRM destination plugin (official hubspot-api-client)."""

from __future__ import annotations

from collections.abc import Callable

from clientela.destinations.api import DestinationSpec
from clientela.hookspecs import hookimpl
from clientela_hubspot.client import HubSpotError
from clientela_hubspot.config import HubSpotConfig
from clientela_hubspot.destination import HubSpotDestination, open_destination

__version__ = "0.1.0"
__all__ = ["HUBSPOT", "HubSpotConfig", "HubSpotDestination", "HubSpotError",
           "register_destinations"]

HUBSPOT = DestinationSpec(
    name="hubspot",
    description="HubSpot CRM contacts: clientela properties, segment as a property, "
    "batch upsert by e-mail, GDPR delete on forget",
    config=HubSpotConfig,
    open=open_destination,
)


@hookimpl
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    register(HUBSPOT)
