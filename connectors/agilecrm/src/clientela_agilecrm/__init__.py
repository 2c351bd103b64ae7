"""clientela-agilecrm: the Agile CRM destination plugin."""

from __future__ import annotations

from collections.abc import Callable

from clientela.destinations.api import DestinationSpec
from clientela.hookspecs import hookimpl
from clientela_agilecrm.client import AgileApi, open_api
from clientela_agilecrm.config import AgileCRMConfig
from clientela_agilecrm.destination import AgileCRMDestination, open_destination

__version__ = "0.1.0"
__all__ = ["AGILECRM", "AgileApi", "AgileCRMConfig", "AgileCRMDestination", "open_api",
           "register_destinations"]

AGILECRM = DestinationSpec(
    name="agilecrm",
    description="Agile CRM: contacts by e-mail with custom properties, segments as tags "
    "(old tag removed on a move), contact deleted on forget",
    config=AgileCRMConfig,
    open=open_destination,
)


@hookimpl
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    register(AGILECRM)
