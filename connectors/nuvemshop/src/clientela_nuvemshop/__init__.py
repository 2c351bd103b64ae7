"""clientela-nuvemshop: the Nuvemshop / Tiendanube source plugin."""

from __future__ import annotations

from collections.abc import Callable

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec
from clientela_nuvemshop.config import NuvemshopConfig
from clientela_nuvemshop.source import build_source, open_source

__version__ = "0.1.0"
__all__ = ["NUVEMSHOP", "NuvemshopConfig", "build_source", "register_sources"]

NUVEMSHOP = SourceSpec(
    name="nuvemshop",
    description="Nuvemshop / Tiendanube: customers and orders (incremental), order lines",
    config=NuvemshopConfig,
    open=open_source,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(NUVEMSHOP)
