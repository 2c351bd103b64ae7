"""The Nuvemshop source: customers and orders, both incremental on `updated_at_min`.

Auth is the `Authentication: bearer` header (not `Authorization`), with
the User-Agent the API requires. Pages follow the `Link` URLs as the docs
ask. Requests are paced by the leaky-bucket headers (`X-Rate-Limit-*`,
reset in milliseconds), so a long sync slows down instead of hitting 429s.
An empty listing answers 404 "Last page is 0": that is the end, not an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from clientela.http import (
    ApiClient,
    BucketLimiter,
    HttpError,
    NoLimiter,
    leaky_bucket_headers,
    make_session,
)
from clientela.http.ratelimit import RateLimiter
from clientela.model.entities import Customer, Order, OrderLine
from clientela.sources.api import Stream
from clientela.sources.toolkit import (
    DeclaredSource,
    Page,
    StreamDeclaration,
    chained_pages,
    link_header_pages,
    parse_time,
    utc_now,
)
from clientela_nuvemshop.config import NuvemshopConfig
from clientela_nuvemshop.mapping import NuvemshopMapper

CUSTOMERS = Stream("customers", Customer)
ORDERS = Stream("orders", Order)
ORDER_LINES = Stream("order_lines", OrderLine)
BUCKET = leaky_bucket_headers("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining",
                              "X-Rate-Limit-Reset", reset_unit="ms")


def past_the_last_page(error: HttpError) -> bool:
    return error.status == 404 and "last page is" in (error.detail or "").lower()


def build_client(config: NuvemshopConfig, *, sleep: Callable[[float], None] = time.sleep
                 ) -> ApiClient:
    token = config.access_token.get_secret_value()
    session = make_session(user_agent=config.user_agent,
                           headers={"Authentication": f"bearer {token}"})
    bucket = BucketLimiter(BUCKET, reserve=config.bucket_reserve, sleep=sleep)
    limiter: RateLimiter = bucket if config.pace else NoLimiter()
    return ApiClient("Nuvemshop", config.api_root, session, timeout=config.timeout,
                     retry=config.retry_policy(sleep=sleep), limiter=limiter,
                     throttle_wait=bucket.throttle_wait, secrets=(token,))


def build_source(
    config: NuvemshopConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> DeclaredSource:
    client = build_client(config, sleep=sleep)
    mapper = NuvemshopMapper(config)

    def listing(path: str, since: datetime | None, **extra: Any
                ) -> Callable[[Any], Iterator[Page]]:
        params: dict[str, Any] = {"per_page": config.per_page, **extra}
        if since is not None:
            params["updated_at_min"] = since.astimezone(UTC).isoformat(timespec="seconds")
        return lambda token: link_header_pages(client, path, params, resume=token,
                                               end_on=past_the_last_page)

    def orders(since: datetime | None, resume: Any) -> Iterator[Page]:
        passes = [listing("orders", since, status="any")]
        passes += [listing("orders", since, status="any", payment_status=status)
                   for status in config.extra_payment_statuses]
        return chained_pages(passes, resume)

    def customers(since: datetime | None, resume: Any) -> Iterator[Page]:
        return chained_pages([listing("customers", since)], resume)

    def changed(raw: Any) -> datetime | None:
        return parse_time(raw.get("updated_at"))

    return DeclaredSource(config.source_name, [
        StreamDeclaration(CUSTOMERS, customers, mapper.customer, key=lambda r: r.get("id"),
                          changed_at=changed),
        StreamDeclaration(ORDERS, orders, mapper.order, key=lambda r: r.get("id"),
                          changed_at=changed, children=(ORDER_LINES,)),
    ], lookback=config.lookback, now=now, client=client, batch_rows=config.batch_rows)


def open_source(config: NuvemshopConfig) -> DeclaredSource:
    return build_source(config)
