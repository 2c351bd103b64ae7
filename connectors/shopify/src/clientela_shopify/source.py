"""The Shopify source: customers and orders over the Admin GraphQL API.

Both streams are incremental on `updated_at`, asked as a search filter
(`updated_at:>='…'`, the cursor minus the lookback) with `sortKey:
UPDATED_AT`, so a record edited while we page moves behind the cursor
and is read again rather than skipped. The first sync of a large store
goes through a bulk operation instead (see `bulk.py`): this module starts
it, commits its id with an empty batch before waiting on it, and on a
restart polls that id, or starts afresh if Shopify dropped it.

The reading loop itself (windows, lookback, dedup, quarantine, batches)
is the shared `DeclaredSource`; this class only adds that checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clientela.http import ApiClient, make_session
from clientela.model.entities import Customer, Order, OrderLine
from clientela.sources.api import SourceBatch, Stream
from clientela.sources.toolkit import (
    DeclaredSource,
    Page,
    StreamCursor,
    StreamDeclaration,
    parse_time,
    utc_now,
)
from clientela_shopify.bulk import BulkRunner, reassemble
from clientela_shopify.config import ShopifyConfig
from clientela_shopify.graphql import ShopifyGraphQL
from clientela_shopify.mapping import ShopifyMapper, record_key
from clientela_shopify.paging import connection_pages, flatten_lines
from clientela_shopify.queries import (
    BULK_CUSTOMERS,
    BULK_ORDERS,
    CUSTOMERS,
    CUSTOMERS_COUNT,
    ORDERS,
    ORDERS_COUNT,
)
from clientela_shopify.throttle import CostBucket

CUSTOMERS_STREAM = Stream("customers", Customer)
ORDERS_STREAM = Stream("orders", Order)
ORDER_LINES_STREAM = Stream("order_lines", OrderLine)
BULK_PAGE = 250
"""Records per page handed on from a bulk file (pages are then grouped into batches)."""


def search_since(since: datetime) -> str:
    return f"updated_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def changed_at(raw: Mapping[str, Any]) -> datetime | None:
    return parse_time(raw.get("updatedAt"))


def is_bulk(token: Any) -> bool:
    return isinstance(token, Mapping) and "bulk" in token


def build_client(config: ShopifyConfig, bucket: CostBucket,
                 sleep: Callable[[float], None]) -> ApiClient:
    token = config.access_token.get_secret_value()
    session = make_session(user_agent=config.user_agent,
                           headers={"X-Shopify-Access-Token": token})
    return ApiClient("Shopify", config.base_url, session, timeout=config.timeout,
                     retry=config.retry_policy(sleep=sleep), limiter=bucket,
                     throttle_wait=bucket.throttle_wait, secrets=(token,))


class ShopifySource:
    """A `Source`: the declared streams, plus the bulk checkpoint before a first sync."""

    def __init__(self, config: ShopifyConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.now = now
        self.bucket = CostBucket(clock=clock, sleep=sleep, enabled=config.pace)
        self.client = build_client(config, self.bucket, sleep)
        self.graphql = ShopifyGraphQL(self.client, config.graphql_path, self.bucket)
        self.bulk = BulkRunner(self.graphql, retry=config.retry_policy(sleep=sleep),
                               sleep=sleep, poll_seconds=config.bulk_poll_seconds,
                               poll_max_seconds=config.bulk_poll_max_seconds,
                               timeout=(config.connect_timeout, max(config.read_timeout, 300.0)),
                               user_agent=config.user_agent)
        self.mapper = ShopifyMapper(config)
        self.declared = DeclaredSource(config.source_name, [
            StreamDeclaration(CUSTOMERS_STREAM, self._customer_pages, self.mapper.customer,
                              key=record_key, changed_at=changed_at),
            StreamDeclaration(ORDERS_STREAM, self._order_pages, self.mapper.order,
                              key=record_key, changed_at=changed_at,
                              children=(ORDER_LINES_STREAM,)),
        ], lookback=config.lookback, now=now, client=self.client,
            batch_rows=config.batch_rows)
        self._bulk_documents = {"customers": BULK_CUSTOMERS, "orders": BULK_ORDERS}
        self._children = {"customers": None, "orders": "lineItems"}

    # -- Source ---------------------------------------------------------------------

    def streams(self) -> Sequence[Stream]:
        return self.declared.streams()

    def read(self, stream: Stream, state: Mapping[str, Any]) -> Iterator[SourceBatch]:
        checkpoint = self._bulk_checkpoint(stream, state)
        if checkpoint is not None:
            yield checkpoint
            state = checkpoint.state or state
        yield from self.declared.read(stream, state)

    def close(self) -> None:
        self.client.close()
        self.bulk.download_session.close()

    # -- bulk -----------------------------------------------------------------------

    def _bulk_checkpoint(self, stream: Stream, state: Mapping[str, Any]) -> SourceBatch | None:
        """An empty batch carrying a new bulk operation's id, when one has to be started."""
        cursor = StreamCursor(state, incremental=True, lookback=self.config.lookback,
                              now=self.now)
        window = cursor.window()
        if is_bulk(window.resume):
            operation = self.bulk.status(str(window.resume["bulk"]))
            if not operation.restartable:
                return None  # still running, done, or failed for good: the pager says which
        elif window.since is not None or window.resume is not None \
                or not self._wants_bulk(stream.name):
            return None
        operation_id, response = self.bulk.start(self._bulk_documents[stream.name])
        cursor.observe(self._server_time(response))
        return SourceBatch(stream=stream, rows=[],
                           state=cursor.after_page({"bulk": operation_id, "done": 0}))

    def _server_time(self, response: Any) -> datetime | None:
        return Page([], None, response).server_time()

    def _wants_bulk(self, stream: str) -> bool:
        if self.config.bulk != "auto":
            return self.config.bulk == "always"
        threshold = self.config.bulk_threshold
        if stream == "orders":
            data, _ = self.graphql.run(ORDERS_COUNT, {"limit": max(1, threshold)})
            counted = data.get("ordersCount") or {}
        else:
            data, _ = self.graphql.run(CUSTOMERS_COUNT)
            counted = data.get("customersCount") or {}
        return int(counted.get("count") or 0) >= threshold

    def _bulk_pages(self, stream: str, token: Mapping[str, Any]) -> Iterator[Page]:
        operation = self.bulk.wait(str(token["bulk"]))
        done = int(token.get("done") or 0)
        if not operation.url:  # completed with nothing to read
            yield Page([], None)
            return
        records = reassemble(self.bulk.lines(operation.url), self._children[stream])
        page: list[Any] = []
        for index, record in enumerate(records):
            if index < done:
                continue
            page.append(record)
            if len(page) == BULK_PAGE:
                done = index + 1
                yield Page(page, {"bulk": operation.id, "done": done})
                page = []
        yield Page(page, None)

    # -- paged ----------------------------------------------------------------------

    def _customer_pages(self, since: datetime | None, resume: Any) -> Iterator[Page]:
        if is_bulk(resume):
            return self._bulk_pages("customers", resume)
        variables: dict[str, Any] = {"first": self.config.customers_per_page,
                                     "query": search_since(since) if since else None}
        return connection_pages(self.graphql, CUSTOMERS, "customers", variables, resume)

    def _order_pages(self, since: datetime | None, resume: Any) -> Iterator[Page]:
        if is_bulk(resume):
            return self._bulk_pages("orders", resume)
        variables: dict[str, Any] = {"first": self.config.orders_per_page,
                                     "lines": self.config.lines_per_order,
                                     "query": search_since(since) if since else None}
        lines = self.config.lines_per_order
        return (Page([flatten_lines(self.graphql, order, max(lines, 50)) for order in
                      page.items], page.resume, page.response)
                for page in connection_pages(self.graphql, ORDERS, "orders", variables,
                                             resume))


def build_source(config: ShopifyConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utc_now) -> ShopifySource:
    return ShopifySource(config, sleep=sleep, clock=clock, now=now)


def open_source(config: ShopifyConfig) -> ShopifySource:
    return build_source(config)
