"""Bulk operations: one query Shopify runs by itself, read back as a JSONL file.

A first sync of a large store through paged queries costs thousands of
calls against the cost bucket; a bulk operation costs a handful. Its id is
committed to the sync state as soon as it exists (see `source.py`), so a
sync restarted while Shopify is still working polls the same operation
instead of starting another (the shop allows only one at a time anyway).

The JSONL holds one object per line; the nodes of a nested connection
(an order's line items) are lines of their own carrying `__parentId`, and
come after their parent. `reassemble` puts them back under the parent
while streaming, so memory holds one order, not the file.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from clientela.http import BadRecord, ConnectorError, HttpError, RetryPolicy
from clientela_shopify.graphql import GraphQLError, ShopifyGraphQL, user_errors
from clientela_shopify.queries import BULK_CURRENT, BULK_POLL, BULK_RUN, compact

log = logging.getLogger("clientela.connectors.shopify")

RUNNING = {"CREATED", "RUNNING"}
RESTARTABLE = {"CANCELED", "CANCELING", "EXPIRED"}
RESTARTABLE_FAILURES = {"INTERNAL_SERVER_ERROR", "TIMEOUT"}
_RAW_LIMIT = 2_000


class BulkFailed(ConnectorError):
    def __init__(self, operation: BulkOperation) -> None:
        self.operation = operation
        hint = ""
        if operation.error_code == "ACCESS_DENIED":
            hint = " (the token lacks a scope the query needs: read_orders, read_all_orders, " \
                   "read_customers)"
        super().__init__(f"Shopify: bulk operation {operation.id} ended {operation.status}"
                         f"{' [' + operation.error_code + ']' if operation.error_code else ''}"
                         f"{hint}")


@dataclass(frozen=True)
class BulkOperation:
    id: str
    status: str
    error_code: str | None = None
    url: str | None = None
    object_count: int = 0

    @property
    def restartable(self) -> bool:
        """Gone without a result we can use, for a reason a new operation may not repeat."""
        return self.status in RESTARTABLE or (
            self.status == "FAILED" and self.error_code in RESTARTABLE_FAILURES)


def _operation(node: Any) -> BulkOperation:
    if not isinstance(node, dict) or not node.get("id"):
        raise ConnectorError("Shopify: the bulk operation was not found (was it from another "
                             "app or shop?)")
    return BulkOperation(str(node["id"]), str(node.get("status") or ""),
                         node.get("errorCode"), node.get("url"),
                         int(node.get("objectCount") or 0))


class BulkRunner:
    def __init__(self, graphql: ShopifyGraphQL, *, retry: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep, poll_seconds: float = 5.0,
                 poll_max_seconds: float = 30.0, timeout: tuple[float, float] = (10.0, 300.0),
                 user_agent: str | None = None) -> None:
        self.graphql = graphql
        self.retry = retry
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.poll_max_seconds = poll_max_seconds
        self.timeout = timeout
        # The result lives on a storage host with a signed URL: our access token must never
        # travel there, so the download uses a session of its own, without it.
        self.download_session = requests.Session()
        if user_agent:
            self.download_session.headers["User-Agent"] = user_agent
        self.downloads = 0
        self.polls = 0

    # -- starting and polling -------------------------------------------------------

    def start(self, query: str) -> tuple[str, requests.Response]:
        """Run `query` in bulk; if the shop is already running this very query for us
        (a crash before its id was saved), adopt that one."""
        data, response = self.graphql.run(BULK_RUN, {"query": compact(query)})
        payload = data.get("bulkOperationRunQuery") or {}
        try:
            user_errors(BULK_RUN.name, payload)
        except GraphQLError as error:
            if not any("in progress" in m.lower() for m in error.messages):
                raise
            current = self.current()
            if current is None or compact(current[1]) != compact(query):
                raise GraphQLError(BULK_RUN.name, [
                    *error.messages, "another bulk query of this app is running in the shop; "
                    "wait for it or cancel it (bulkOperationCancel)"]) from None
            log.info("adopting the bulk operation already running: %s", current[0])
            return current[0], response
        operation = payload.get("bulkOperation") or {}
        if not operation.get("id"):
            raise GraphQLError(BULK_RUN.name, ["no bulk operation was created"])
        return str(operation["id"]), response

    def current(self) -> tuple[str, str] | None:
        data, _ = self.graphql.run(BULK_CURRENT)
        node = data.get("currentBulkOperation")
        if isinstance(node, dict) and node.get("status") in RUNNING and node.get("id"):
            return str(node["id"]), str(node.get("query") or "")
        return None

    def status(self, operation_id: str) -> BulkOperation:
        self.polls += 1
        data, _ = self.graphql.run(BULK_POLL, {"id": operation_id})
        return _operation(data.get("node"))

    def wait(self, operation_id: str) -> BulkOperation:
        """Poll until the operation is done, backing off up to `poll_max_seconds`."""
        interval = self.poll_seconds
        while True:
            operation = self.status(operation_id)
            if operation.status == "COMPLETED":
                return operation
            if operation.status not in RUNNING:
                raise BulkFailed(operation)
            log.info("bulk operation %s: %s, %d objects so far", operation.id,
                     operation.status, operation.object_count)
            self.sleep(interval)
            interval = min(self.poll_max_seconds, interval * 1.5)

    # -- reading the result ---------------------------------------------------------

    def _open(self, url: str) -> requests.Response:
        def attempt() -> requests.Response:
            self.downloads += 1
            try:
                response = self.download_session.get(url, stream=True, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as error:
                raise HttpError("Shopify", "GET", "(bulk result)", None,
                                type(error).__name__, transient=True) from None
            if response.status_code >= 400:
                response.close()
                expired = response.status_code in (403, 404, 410)
                raise HttpError("Shopify", "GET", "(bulk result)", response.status_code,
                                "the result URL has expired; the next sync starts a new "
                                "bulk operation" if expired else None)
            return response

        return self.retry.call(attempt)

    def lines(self, url: str) -> Iterator[Any]:
        """Each line decoded; a line that is not JSON comes back as a `BadRecord`."""
        with self._open(url) as response:
            for raw in response.iter_lines(chunk_size=1 << 16):
                if not raw.strip():
                    continue
                try:
                    yield json.loads(raw)
                except ValueError as error:
                    text = raw.decode("utf-8", "replace")[:_RAW_LIMIT]
                    yield BadRecord(text, f"not valid JSON ({error})")


def reassemble(lines: Iterable[Any], child_field: str | None) -> Iterator[Any]:
    """Roots with their children (`child_field`: a list) back under them, one root at a time.

    A child whose parent is not the root being assembled cannot be placed
    without holding the whole file; it is handed on as a `BadRecord`, to be
    quarantined with the reason, rather than dropped in silence.
    """
    current: dict[str, Any] | None = None
    for line in lines:
        if not isinstance(line, dict):
            yield line
            continue
        parent = line.pop("__parentId", None)
        if parent is None:
            if current is not None:
                yield current
            current = {**line, child_field: []} if child_field else line
        elif child_field and current is not None and parent == current.get("id"):
            current[child_field].append(line)
        else:
            yield BadRecord(json.dumps({**line, "__parentId": parent})[:_RAW_LIMIT],
                            f"a nested record whose parent ({parent}) is not the line "
                            "before it")
    if current is not None:
        yield current
