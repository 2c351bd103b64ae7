"""A fake Shopify Admin GraphQL API (`/admin/api/<version>/graphql.json`).

Not a GraphQL engine: it recognises the connector's operations by name,
checks that each document still selects the fields the connector relies on
(and answers a GraphQL error naming the missing ones otherwise), reads
`first`, `after` and `query: "updated_at:>='…'"` from the variables, and
answers in Shopify's shapes: edges/nodes with `pageInfo`, GIDs, money bags
with `shopMoney` and `presentmentMoney`, `extensions.cost` with a cost
bucket on an injectable clock (THROTTLED as a 200 with `errors`), 401 for a
wrong token, and bulk operations (CREATED -> RUNNING -> COMPLETED after a
number of polls, one at a time per shop, a JSONL result with `__parentId`
lines served from here).
"""

from __future__ import annotations

import base64
import json
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clientela.testing.fake_server import FakeServer, Reply, Request

from .data import Line, StoreCustomer, StoreData, StoreOrder

VERSION = "2025-01"
PRESENTMENT_RATE = Decimal("0.2")
"""Orders with id % 7 == 0 were paid in USD at this rate: amounts the connector must not use."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "ClientelaOrders": ("orders(first: $first, after: $after, query: $query, "
                        "sortKey: UPDATED_AT)", "lineItems(first: $lines)",
                        "pageInfo { hasNextPage endCursor }", "displayFinancialStatus",
                        "displayFulfillmentStatus", "cancelledAt", "totalPriceSet",
                        "totalRefundedSet", "subtotalPriceSet", "totalDiscountsSet",
                        "totalShippingPriceSet", "shopMoney { amount currencyCode }",
                        "sourceName", "channelInformation", "retailLocation { id }",
                        "customer { id }", "discountCodes", "updatedAt", "createdAt",
                        "originalUnitPriceSet", "quantity", "sku"),
    "ClientelaOrderLines": ("order(id: $id)", "lineItems(first: $first, after: $after)",
                            "pageInfo { hasNextPage endCursor }", "originalUnitPriceSet"),
    "ClientelaCustomers": ("customers(first: $first, after: $after, query: $query, "
                           "sortKey: UPDATED_AT)", "pageInfo { hasNextPage endCursor }",
                           "emailMarketingConsent { marketingState",
                           "smsMarketingConsent { marketingState", "updatedAt", "email",
                           "defaultAddress"),
    "ClientelaOrdersCount": ("ordersCount(limit: $limit)", "count"),
    "ClientelaCustomersCount": ("customersCount", "count"),
    "ClientelaBulkRun": ("bulkOperationRunQuery(query: $query)", "bulkOperation { id status }",
                         "userErrors { field message }"),
    "ClientelaBulkPoll": ("node(id: $id)", "... on BulkOperation", "status", "url",
                          "errorCode"),
    "ClientelaBulkCurrent": ("currentBulkOperation(type: QUERY)", "status", "query"),
}
BULK_REQUIRED = {"orders": ("lineItems { edges { node {", "totalRefundedSet", "updatedAt"),
                 "customers": ("emailMarketingConsent", "updatedAt")}


def _time(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _money(value: Decimal, presentment: str = "BRL") -> dict[str, Any]:
    shown = value if presentment == "BRL" else (value * PRESENTMENT_RATE).quantize(
        Decimal("0.01"))
    return {"shopMoney": {"amount": f"{value:.2f}", "currencyCode": "BRL"},
            "presentmentMoney": {"amount": f"{shown:.2f}", "currencyCode": presentment}}


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _cursor(updated: datetime, key: int) -> str:
    return base64.b64encode(json.dumps([_time(updated), key]).encode()).decode()


def _uncursor(text: str) -> tuple[datetime, int]:
    when, key = json.loads(base64.b64decode(text))
    return datetime.fromisoformat(when.replace("Z", "+00:00")), int(key)


class CostBucket:
    def __init__(self, size: float, restore: float, clock: Callable[[], float]) -> None:
        self.size, self.restore, self.clock = size, restore, clock
        self.available, self.at = size, clock()

    def _refill(self) -> None:
        now = self.clock()
        self.available = min(self.size, self.available + (now - self.at) * self.restore)
        self.at = now

    def take(self, cost: float) -> bool:
        self._refill()
        if cost > self.available + 1e-9:
            return False
        self.available -= cost
        return True

    def refund(self, points: float) -> None:
        self.available = min(self.size, self.available + points)

    def status(self) -> dict[str, float]:
        self._refill()
        return {"maximumAvailable": self.size, "currentlyAvailable": round(self.available, 3),
                "restoreRate": self.restore}


@dataclass
class FakeBulk:
    id: str
    root: str
    query: str
    status: str = "CREATED"
    polls: int = 0
    result: bytes | None = None
    objects: int = 0
    expired: bool = False

    @property
    def number(self) -> str:
        return self.id.rsplit("/", 1)[-1]


class FakeShopify(FakeServer):
    def __init__(self, data: StoreData, *, token: str = "shpat_test_0123456789abcdef",
                 version: str = VERSION, bucket_size: float = 1000, restore_rate: float = 50,
                 max_query_cost: float = 1000, bulk_polls: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.api_prefix = f"/admin/api/{version}"
        self.data, self.token, self.version = data, token, version
        self.bucket = CostBucket(bucket_size, restore_rate, clock)
        self.max_query_cost = max_query_cost
        self.bulk_polls = bulk_polls
        self.hold_bulk = False
        """While True, bulk operations stay RUNNING however often they are polled."""
        self.bulk_ops: dict[str, FakeBulk] = {}
        self.bulk_runs: dict[str, int] = {}
        self.operations: list[str] = []
        self.variables: list[dict[str, Any]] = []
        """The variables of each operation in `operations`, in step."""
        self.throttled_answers = 0
        self.broken: dict[int, dict[str, Any]] = {}
        """Record id -> fields replaced in its JSON (a null createdAt, an amount '12,50')."""
        self.garbled: set[int] = set()
        """Order ids whose line in a bulk result is not valid JSON."""
        self._sorted: dict[str, list[tuple[datetime, int]]] = {}

    def reset_log(self) -> None:
        """The request log and the GraphQL operations and variables seen, all cleared."""
        super().reset_log()
        self.operations.clear()
        self.variables.clear()

    @property
    def graphql_url(self) -> str:
        return f"{self.origin}{self.api_prefix}/graphql.json"

    # -- edits a merchant makes ---------------------------------------------------------

    def refund(self, order_id: int, amount: Decimal | None = None) -> None:
        with self.lock:
            order = self.data.orders[order_id]
            order.refunds.append((self.data.next_id(), amount if amount is not None
                                  else order.total - order.refunded))
            order.updated = datetime.now(UTC).replace(microsecond=0)
            self._sorted.clear()

    def set_subscribed(self, customer_id: int, subscribed: bool | None) -> None:
        with self.lock:
            person = self.data.customers[customer_id]
            person.subscribed = subscribed
            person.updated = datetime.now(UTC).replace(microsecond=0)
            self._sorted.clear()

    # -- rendering ------------------------------------------------------------------

    @staticmethod
    def financial_status(order: StoreOrder) -> str:
        if order.refunds:
            return "REFUNDED" if order.refunded >= order.total else "PARTIALLY_REFUNDED"
        return {"pending": "PENDING", "paid": "PAID", "fulfilled": "PAID",
                "cancelled": "VOIDED"}[order.status]

    @staticmethod
    def channel_of(order_id: int) -> tuple[str, str | None]:
        """(expected channel, expected store_id): the test's truth, kept with the fake."""
        if order_id % 10 == 0:
            return "store", f"70{order_id % 3}"
        if order_id % 10 == 1:
            return "instagram", None
        return "online", None

    @staticmethod
    def presentment_of(order_id: int) -> str:
        return "USD" if order_id % 7 == 0 else "BRL"

    def order_node(self, order: StoreOrder) -> dict[str, Any]:
        shown = self.presentment_of(order.id)
        channel, location = self.channel_of(order.id)
        source, handle = {"store": ("pos", "pos"), "instagram": ("2329312", "instagram")}.get(
            channel, ("web", "online_store"))
        node = {
            "id": f"gid://shopify/Order/{order.id}",
            "createdAt": _time(order.created), "updatedAt": _time(order.updated),
            "cancelledAt": _time(order.updated) if order.status == "cancelled" else None,
            "displayFinancialStatus": self.financial_status(order),
            "displayFulfillmentStatus": "FULFILLED" if order.status == "fulfilled"
            else "UNFULFILLED",
            "currencyCode": "BRL", "presentmentCurrencyCode": shown,
            "sourceName": source,
            "channelInformation": {"channelDefinition": {"handle": handle}},
            "retailLocation": {"id": f"gid://shopify/Location/{location}"} if location
            else None,
            "customer": {"id": f"gid://shopify/Customer/{order.customer_id}"}
            if order.customer_id else None,
            "discountCodes": ["PROMO10"] if order.discount else [],
            "subtotalPriceSet": _money(order.subtotal - order.discount, shown),
            "totalDiscountsSet": _money(order.discount, shown),
            "totalShippingPriceSet": _money(order.shipping, shown),
            "totalTaxSet": _money(Decimal("0"), shown),
            "totalPriceSet": _money(order.total, shown),
            "totalRefundedSet": _money(order.refunded, shown),
            "refunds": [{"id": f"gid://shopify/Refund/{rid}", "createdAt": _time(order.updated),
                         "totalRefundedSet": _money(amount, shown)}
                        for rid, amount in order.refunds],
        }
        node.update(self.broken.get(order.id, {}))
        return node

    def line_node(self, line: Line, shown: str) -> dict[str, Any]:
        return {"id": f"gid://shopify/LineItem/{line.id}", "sku": line.sku, "name": line.name,
                "quantity": line.quantity,
                "originalUnitPriceSet": _money(line.price, shown),
                "discountedTotalSet": _money(line.price * line.quantity, shown),
                "product": {"id": f"gid://shopify/Product/{line.product_id}"}}

    def customer_node(self, person: StoreCustomer) -> dict[str, Any]:
        state = {True: "SUBSCRIBED", False: "UNSUBSCRIBED", None: "NOT_SUBSCRIBED"}[
            person.subscribed]
        node = {
            "id": f"gid://shopify/Customer/{person.id}", "email": person.email,
            "phone": f"+55119{person.id:08d}", "firstName": person.first_name,
            "lastName": person.last_name, "createdAt": _time(person.created),
            "updatedAt": _time(person.updated), "tags": ["vip"] if person.id % 5 == 0 else [],
            "defaultAddress": {"city": person.city, "provinceCode": person.region,
                               "countryCodeV2": person.country},
            "emailMarketingConsent": {"marketingState": state,
                                      "marketingOptInLevel": "SINGLE_OPT_IN",
                                      "consentUpdatedAt": _time(person.updated)},
            "smsMarketingConsent": {"marketingState": "SUBSCRIBED",
                                    "marketingOptInLevel": "SINGLE_OPT_IN",
                                    "consentUpdatedAt": None} if person.id % 4 == 0 else None,
        }
        node.update(self.broken.get(person.id, {}))
        return node

    # -- listing --------------------------------------------------------------------

    def _index(self, root: str) -> list[tuple[datetime, int]]:
        if root not in self._sorted:
            records = self.data.orders if root == "orders" else self.data.customers
            self._sorted[root] = sorted((r.updated, key) for key, r in records.items())
        return self._sorted[root]

    def _select(self, root: str, first: int, after: str | None, search: str | None
                ) -> tuple[list[int], str | None, bool]:
        index = self._index(root)
        start = 0
        if search:
            found = re.fullmatch(r"updated_at:>='?([0-9T:\-+Z.]+)'?", search.strip())
            if found is None:
                raise ValueError(f"unsupported search syntax: {search}")
            since = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
            start = bisect_left(index, (since, -1))
        if after:
            start = max(start, bisect_left(index, _uncursor(after)) + 1)
        chunk = index[start:start + first]
        more = start + first < len(index)
        end = _cursor(*chunk[-1]) if chunk else None
        return [key for _, key in chunk], end, more

    # -- serving --------------------------------------------------------------------

    def throttled(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(429, {"errors": "Exceeded 2 calls per second for api client. Reduce "
                                     "request rates to resume uninterrupted service."}, headers)

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.startswith("/bulk-results/"):
            return self._result(request.path.rsplit("/", 1)[-1].split(".")[0])
        if request.header("X-Shopify-Access-Token") != self.token:
            return Reply(401, {"errors": "[API] Invalid API key or access token "
                                         "(unrecognized login or wrong password)"})
        if request.path != f"{self.api_prefix}/graphql.json" or request.method != "POST":
            return Reply(404, {"errors": "Not Found"})
        body = request.body if request.body is not None else {}
        if not isinstance(body, dict):
            return Reply(400, {"errors": "Bad Request: the body is not JSON"})
        name = str(body.get("operationName") or "")
        text = str(body.get("query") or "")
        variables = body.get("variables") or {}
        self.operations.append(name)
        self.variables.append(dict(variables))
        missing = [f for f in REQUIRED.get(name, ("(unknown operation)",)) if f not in text]
        if missing or not text.startswith(("query " + name, "mutation " + name)):
            return Reply(200, {"errors": [_error(
                f"{name or 'anonymous'}: the fake needs {missing or 'a named operation'}",
                "FAKE_QUERY_CHECK")]})
        requested = self._requested(name, variables)
        if requested > self.max_query_cost:
            return Reply(200, {"errors": [_error(
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({self.max_query_cost}).", "MAX_COST_EXCEEDED")]})
        if not self.bucket.take(requested):
            self.throttled_answers += 1
            return Reply(200, {"errors": [_error("Throttled", "THROTTLED")], "extensions": {
                "cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                         "throttleStatus": self.bucket.status()}}})
        data, actual = self._answer(name, variables)
        self.bucket.refund(max(0.0, requested - actual))
        return Reply(200, {"data": data, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": actual,
            "throttleStatus": self.bucket.status()}}})

    @staticmethod
    def _requested(name: str, variables: dict[str, Any]) -> float:
        first = int(variables.get("first") or 0)
        return {"ClientelaOrders": 2 + first * (3 + int(variables.get("lines") or 0)),
                "ClientelaOrderLines": 2 + first, "ClientelaCustomers": 2 + first * 2,
                "ClientelaBulkRun": 10}.get(name, 1)

    def _answer(self, name: str, variables: dict[str, Any]) -> tuple[dict[str, Any], float]:
        if name == "ClientelaOrders":
            return self._orders(variables)
        if name == "ClientelaOrderLines":
            order = self.data.orders[int(str(variables["id"]).rsplit("/", 1)[-1])]
            start = int(variables.get("after") or 0)
            first = int(variables["first"])
            chunk = order.lines[start:start + first]
            shown = self.presentment_of(order.id)
            more = start + first < len(order.lines)
            return {"order": {"lineItems": {
                "edges": [{"node": self.line_node(line, shown)} for line in chunk],
                "pageInfo": {"hasNextPage": more, "endCursor": str(start + len(chunk))}}}}, \
                2 + len(chunk)
        if name == "ClientelaCustomers":
            keys, end, more = self._select("customers", int(variables["first"]),
                                           variables.get("after"), variables.get("query"))
            return {"customers": {
                "edges": [{"node": self.customer_node(self.data.customers[k])} for k in keys],
                "pageInfo": {"hasNextPage": more, "endCursor": end}}}, 2 + 2 * len(keys)
        if name == "ClientelaOrdersCount":
            limit = variables.get("limit") or 10_000
            count = len(self.data.orders)
            return {"ordersCount": {"count": min(count, limit),
                                    "precision": "AT_LEAST" if count > limit else "EXACT"}}, 1
        if name == "ClientelaCustomersCount":
            return {"customersCount": {"count": len(self.data.customers),
                                       "precision": "EXACT"}}, 1
        if name == "ClientelaBulkRun":
            return self._bulk_run(str(variables.get("query") or "")), 10
        if name == "ClientelaBulkPoll":
            return {"node": self._bulk_poll(str(variables.get("id")))}, 1
        current = list(self.bulk_ops.values())[-1] if self.bulk_ops else None
        return {"currentBulkOperation": None if current is None else {
            "id": current.id, "status": current.status, "query": current.query}}, 1

    def _orders(self, variables: dict[str, Any]) -> tuple[dict[str, Any], float]:
        lines_first = int(variables["lines"])
        keys, end, more = self._select("orders", int(variables["first"]),
                                       variables.get("after"), variables.get("query"))
        edges, actual = [], 2.0
        for key in keys:
            order = self.data.orders[key]
            shown = self.presentment_of(order.id)
            node = self.order_node(order)
            node["lineItems"] = {
                "edges": [{"node": self.line_node(line, shown)}
                          for line in order.lines[:lines_first]],
                "pageInfo": {"hasNextPage": len(order.lines) > lines_first,
                             "endCursor": str(min(lines_first, len(order.lines)))}}
            node.update(self.broken.get(key, {}))
            edges.append({"node": node})
            actual += 3 + min(lines_first, len(order.lines))
        return {"orders": {"edges": edges, "pageInfo": {"hasNextPage": more,
                                                        "endCursor": end}}}, actual

    # -- bulk operations ------------------------------------------------------------

    def _bulk_run(self, query: str) -> dict[str, Any]:
        found = re.match(r"\s*\{\s*(orders|customers)\b", query)
        running = [op for op in self.bulk_ops.values() if op.status in ("CREATED", "RUNNING")]
        problems: list[dict[str, Any]] = []
        if found is None:
            problems.append({"field": ["query"], "message": "Invalid bulk query: the fake "
                                                            "knows orders and customers"})
        elif running:
            problems.append({"field": None, "message": "A bulk query operation for this app "
                             f"and shop is already in progress: {running[0].id}."})
        elif any(f not in query for f in BULK_REQUIRED[found.group(1)]):
            problems.append({"field": ["query"], "message": "the fake needs "
                             f"{BULK_REQUIRED[found.group(1)]} in the bulk query"})
        if problems:
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": problems}}
        assert found is not None
        root = found.group(1)
        operation = FakeBulk(f"gid://shopify/BulkOperation/{len(self.bulk_ops) + 1}", root,
                             query)
        self.bulk_ops[operation.id] = operation
        self.bulk_runs[root] = self.bulk_runs.get(root, 0) + 1
        return {"bulkOperationRunQuery": {
            "bulkOperation": {"id": operation.id, "status": operation.status},
            "userErrors": []}}

    def _bulk_poll(self, operation_id: str) -> dict[str, Any] | None:
        operation = self.bulk_ops.get(operation_id)
        if operation is None:
            return None
        operation.polls += 1
        if operation.status == "CREATED":
            operation.status = "RUNNING"
        elif operation.status == "RUNNING" and operation.polls >= self.bulk_polls \
                and not self.hold_bulk:
            operation.result = b"".join(self._jsonl(operation.root))
            operation.status = "COMPLETED"
        done = operation.status == "COMPLETED"
        url = f"{self.origin}/bulk-results/{operation.number}.jsonl" \
            if done and operation.result else None
        return {"id": operation.id, "status": operation.status, "errorCode": None,
                "objectCount": str(operation.objects), "rootObjectCount": "0", "url": url,
                "partialDataUrl": None}

    def _jsonl(self, root: str) -> Iterator[bytes]:
        for _, key in self._index(root):
            if root == "customers":
                yield json.dumps(self.customer_node(self.data.customers[key])).encode() + b"\n"
                continue
            order = self.data.orders[key]
            if key in self.garbled:
                yield b'{"id": "gid://shopify/Order/%d", "note": "tab\there"}\n' % key
            else:
                yield json.dumps(self.order_node(order)).encode() + b"\n"
            shown = self.presentment_of(order.id)
            for line in order.lines:
                yield json.dumps({**self.line_node(line, shown),
                                  "__parentId": f"gid://shopify/Order/{key}"}).encode() + b"\n"

    def _result(self, number: str) -> Reply:
        operation = self.bulk_ops.get(f"gid://shopify/BulkOperation/{number}")
        if operation is None or operation.result is None or operation.expired:
            return Reply(403, "<?xml version='1.0'?><Error><Code>ExpiredToken</Code></Error>",
                         content_type="application/xml")
        return Reply(200, operation.result, content_type="application/jsonl")
