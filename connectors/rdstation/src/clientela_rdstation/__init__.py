"""clientela-rdstation: the RD Station Marketing destination plugin."""

from __future__ import annotations

from collections.abc import Callable

from clientela.destinations.api import DestinationSpec
from clientela.hookspecs import hookimpl
from clientela_rdstation.client import MinuteWindow, RDStationApi
from clientela_rdstation.config import RDStationConfig
from clientela_rdstation.destination import RDStationDestination, open_destination

__version__ = "0.1.0"
__all__ = ["RDSTATION", "MinuteWindow", "RDStationApi", "RDStationConfig",
           "RDStationDestination", "register_destinations"]

RDSTATION = DestinationSpec(
    name="rdstation",
    description="RD Station Marketing: upsert by e-mail, cf_ fields, segment tags, "
    "communications consent only for those who gave it, contact deleted on forget",
    config=RDStationConfig,
    open=open_destination,
)


@hookimpl
def register_destinations(register: Callable[[DestinationSpec], None]) -> None:
    register(RDSTATION)
