"""Destination plugin API."""

from clientela.destinations.api import Destination, DestinationSpec

__all__ = ["Destination", "DestinationSpec"]
