"""clientela-vtex: the VTEX source plugin."""

from __future__ import annotations

from collections.abc import Callable

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec
from clientela_vtex.config import VtexConfig
from clientela_vtex.mapping import VtexMapper
from clientela_vtex.source import build_source, open_source

__version__ = "0.1.0"
__all__ = ["VTEX", "VtexConfig", "VtexMapper", "build_source", "register_sources"]

VTEX = SourceSpec(
    name="vtex",
    description="VTEX: orders (OMS list + detail, incremental), order lines, customers "
                "(Master Data CL scroll, incremental)",
    config=VtexConfig,
    open=open_source,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(VTEX)
