"""clientela-woocommerce: the WooCommerce source plugin (REST v3)."""

from __future__ import annotations

from collections.abc import Callable

from clientela.hookspecs import hookimpl
from clientela.sources.api import SourceSpec
from clientela_woocommerce.config import WooCommerceConfig
from clientela_woocommerce.source import build_source, open_source

__version__ = "0.1.0"
__all__ = ["WOOCOMMERCE", "WooCommerceConfig", "build_source", "register_sources"]

WOOCOMMERCE = SourceSpec(
    name="woocommerce",
    description="WooCommerce REST v3: customers, orders (incremental), order lines, refunds",
    config=WooCommerceConfig,
    open=open_source,
)


@hookimpl
def register_sources(register: Callable[[SourceSpec], None]) -> None:
    register(WOOCOMMERCE)
