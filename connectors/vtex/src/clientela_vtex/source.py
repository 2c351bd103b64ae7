"""The VTEX source: orders (OMS list + detail) and customers (Master Data CL scroll).

Both are incremental: orders on the detail's `lastChange`, customers on
`updatedIn`. The list rather than the feed: the feed is a queue shared by
every consumer of the app key, answers 404 until configured, and only
carries changes from the moment it is configured, so it can neither
backfill nor be re-read; the list can do both and needs no setup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from clientela.model.entities import Customer, Order, OrderLine
from clientela.sources.api import Stream
from clientela.sources.toolkit import DeclaredSource, StreamDeclaration, parse_time, utc_now
from clientela_vtex.client import build_client
from clientela_vtex.config import VtexConfig
from clientela_vtex.listing import CustomerScroll, OrderListing
from clientela_vtex.mapping import VtexMapper

CUSTOMERS = Stream("customers", Customer)
ORDERS = Stream("orders", Order)
ORDER_LINES = Stream("order_lines", OrderLine)


def build_source(
    config: VtexConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
    clock: Callable[[], float] = time.monotonic,
) -> DeclaredSource:
    client = build_client(config, sleep=sleep, clock=clock)
    mapper = VtexMapper(config)
    orders = OrderListing(client, config, now)
    customers = CustomerScroll(client, config)
    return DeclaredSource(config.source_name, [
        StreamDeclaration(CUSTOMERS, customers.pages, mapper.customer,
                          key=lambda r: r.get("userId") or r.get("id"),
                          changed_at=lambda r: parse_time(r.get("updatedIn"))),
        StreamDeclaration(ORDERS, orders.pages, mapper.order, key=lambda r: r.get("orderId"),
                          changed_at=lambda r: parse_time(r.get("lastChange")),
                          children=(ORDER_LINES,)),
    ], lookback=config.lookback, now=now, client=client, batch_rows=config.batch_rows)


def open_source(config: VtexConfig) -> DeclaredSource:
    return build_source(config)
