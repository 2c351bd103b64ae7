"""The WooCommerce source: three streams declared over the shared connector mechanics.

Orders are incremental on `modified_after` with `dates_are_gmt=true`
(never `after`, which filters on creation and misses every edit), sorted
by id so the result set only grows while we page. Customers have no
modified filter in the API, so they are read in full each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from requests.auth import HTTPBasicAuth

from clientela.http import ApiClient, NoLimiter, make_session
from clientela.model.entities import Customer, Order, OrderLine
from clientela.sources.api import Stream
from clientela.sources.toolkit import (
    DeclaredSource,
    Page,
    StreamDeclaration,
    page_number_pages,
    parse_time,
    utc_now,
)
from clientela_woocommerce.config import WooCommerceConfig
from clientela_woocommerce.mapping import WooMapper

CUSTOMERS = Stream("customers", Customer)
ORDERS = Stream("orders", Order)
ORDER_LINES = Stream("order_lines", OrderLine)
TOTAL_PAGES = "X-WP-TotalPages"


def _gmt(since: datetime) -> str:
    return since.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def build_client(config: WooCommerceConfig, *, sleep: Callable[[float], None] = time.sleep
                 ) -> ApiClient:
    key = config.consumer_key.get_secret_value()
    secret = config.consumer_secret.get_secret_value()
    basic = config.auth == "basic"
    session = make_session(user_agent=config.user_agent,
                           auth=HTTPBasicAuth(key, secret) if basic else None)
    if not basic:
        session.params = {"consumer_key": key, "consumer_secret": secret}
    return ApiClient("WooCommerce", config.base_url, session, timeout=config.timeout,
                     retry=config.retry_policy(sleep=sleep), limiter=NoLimiter(),
                     secrets=(key, secret))


def build_source(
    config: WooCommerceConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> DeclaredSource:
    client = build_client(config, sleep=sleep)
    mapper = WooMapper(config)

    def orders(since: datetime | None, resume: Any) -> Iterator[Page]:
        params: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true"}
        if since is not None:
            params["modified_after"] = _gmt(since)
        return page_number_pages(client, "orders", params, per_page=config.per_page,
                                 start=int(resume or 1), total_pages_header=TOTAL_PAGES)

    def customers(since: datetime | None, resume: Any) -> Iterator[Page]:
        params = {"orderby": "id", "order": "asc", "role": config.customer_role}
        return page_number_pages(client, "customers", params, per_page=config.per_page,
                                 start=int(resume or 1), total_pages_header=TOTAL_PAGES)

    source = DeclaredSource(config.source_name, [
        StreamDeclaration(CUSTOMERS, customers, mapper.customer, key=lambda r: r.get("id")),
        StreamDeclaration(ORDERS, orders, mapper.order, key=lambda r: r.get("id"),
                          changed_at=lambda r: parse_time(r.get("date_modified_gmt")),
                          children=(ORDER_LINES,)),
    ], lookback=config.lookback, now=now, client=client,
                            batch_rows=config.batch_rows)
    return source


def open_source(config: WooCommerceConfig) -> DeclaredSource:
    return build_source(config)
