"""A fake Nuvemshop / Tiendanube API (`/v1/{store_id}`): orders and customers.

As documented: `Authentication: bearer <token>` (401 otherwise) and a
required User-Agent (400 without); `page` and `per_page` (default 30, at
most 200); `Link` URLs to follow and `X-Total-Count`; `updated_at_min`;
the default `payment_status` listing holds only authorized, pending and
paid orders; a page past the end answers 404 "Last page is N"; a leaky
bucket of 40 requests leaking 2 per second per store, with the
`X-Rate-Limit-Limit/Remaining/Reset` (milliseconds) headers and 429s.
The bucket runs on an injectable clock, so tests never wait for real.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from clientela.testing.fake_server import FakeServer, Reply, Request, render_list

from .data import StoreCustomer, StoreData, StoreOrder

DEFAULT_PAYMENT = {"authorized", "pending", "paid"}


def _time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _error(status: int, message: str, description: str) -> Reply:
    return Reply(status, {"code": status, "message": message, "description": description})


class Bucket:
    def __init__(self, size: int, leak_per_second: float, clock: Callable[[], float]) -> None:
        self.size, self.leak, self.clock = size, leak_per_second, clock
        self.level, self.at = 0.0, clock()

    def _drain(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self.at) * self.leak)
        self.at = now

    def take(self) -> bool:
        self._drain()
        if self.level + 1 > self.size + 1e-9:
            return False
        self.level += 1
        return True

    def headers(self) -> dict[str, str]:
        self._drain()
        return {"X-Rate-Limit-Limit": str(self.size),
                "X-Rate-Limit-Remaining": str(max(0, int(self.size - math.ceil(self.level)))),
                "X-Rate-Limit-Reset": str(int(self.level / self.leak * 1000))}


class FakeNuvemshop(FakeServer):
    def __init__(self, data: StoreData, *, store_id: str = "123456",
                 token: str = "tok_live_0123456789abcdef", bucket_size: int = 40,
                 leak_per_second: float = 2.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        super().__init__()
        self.api_prefix = f"/v1/{store_id}"
        self.data, self.store_id, self.token = data, store_id, token
        self.bucket = Bucket(bucket_size, leak_per_second, clock)
        self.malformed: set[str] = set()
        self.missing: dict[str, list[str]] = {}

    # -- edits ----------------------------------------------------------------------

    def refund(self, order_id: int) -> None:
        with self.lock:
            order = self.data.orders[order_id]
            order.refunds.append((self.data.next_id(), order.total - order.refunded))
            order.updated = datetime.now(UTC).replace(microsecond=0)

    def set_subscribed(self, customer_id: int, subscribed: bool) -> None:
        with self.lock:
            person = self.data.customers[customer_id]
            person.subscribed = subscribed
            person.updated = datetime.now(UTC).replace(microsecond=0)

    # -- rendering ------------------------------------------------------------------

    @staticmethod
    def payment_status(order: StoreOrder) -> str:
        if order.refunds:
            return "refunded"
        return {"pending": "pending", "paid": "paid", "fulfilled": "paid",
                "cancelled": "voided"}[order.status]

    def order_json(self, order: StoreOrder) -> dict[str, Any]:
        status = {"cancelled": "cancelled", "fulfilled": "closed"}.get(order.status, "open")
        return {
            "id": order.id, "number": order.id - 19_900, "token": f"t{order.id}",
            "status": status, "payment_status": self.payment_status(order),
            "shipping_status": "shipped" if order.status == "fulfilled" else "unpacked",
            "currency": order.currency, "created_at": _time(order.created),
            "updated_at": _time(order.updated),
            "customer": {"id": order.customer_id} if order.customer_id else None,
            "subtotal": f"{order.subtotal:.2f}", "discount": f"{order.discount:.2f}",
            "shipping_cost_customer": f"{order.shipping:.2f}",
            "shipping_cost_owner": f"{order.shipping:.2f}", "total": f"{order.total:.2f}",
            "coupon": [{"code": "promo10"}] if order.discount else [],
            "products": [{"id": line.id, "product_id": line.product_id, "variant_id": 1,
                          "name": line.name, "price": f"{line.price:.2f}",
                          "quantity": str(line.quantity), "sku": line.sku}
                         for line in order.lines],
        }

    def customer_json(self, person: StoreCustomer) -> dict[str, Any]:
        return {
            "id": person.id, "name": f"{person.first_name} {person.last_name}",
            "email": person.email, "phone": "+5511999990000",
            "created_at": _time(person.created), "updated_at": _time(person.updated),
            "accepts_marketing": bool(person.subscribed),
            "accepts_marketing_updated_at": None if person.subscribed is None
            else _time(person.updated),
            "default_address": {"city": person.city, "province": person.region,
                                "country": person.country},
        }

    # -- serving --------------------------------------------------------------------

    def throttled(self, retry_after: str | None) -> Reply:
        return Reply(429, {"code": 429, "message": "Too Many Requests",
                           "description": "Too many requests, slow down"},
                     self.bucket.headers())

    def route(self, request: Request) -> Reply:
        if not (request.header("User-Agent") or "").strip():
            return _error(400, "Bad Request", "A User-Agent header is required")
        given = request.header("Authentication") or ""
        if given.lower() != f"bearer {self.token}".lower() or not given:
            return _error(401, "Unauthorized", "Invalid access token")
        if not self.bucket.take():
            return self.throttled(None)
        reply = self._resource(request)
        reply.headers.update(self.bucket.headers())
        return reply

    def _resource(self, request: Request) -> Reply:
        if not request.path.startswith(self.api_prefix + "/"):
            return _error(404, "Not Found", "Store not found")
        resource = request.path[len(self.api_prefix) + 1:].strip("/")
        since = None
        if "updated_at_min" in request.query:
            since = datetime.fromisoformat(request.query["updated_at_min"].replace("Z", "+00:00"))
        if resource == "orders":
            wanted = request.query.get("payment_status")
            orders = [o for o in self.data.orders.values()
                      if (self.payment_status(o) == wanted if wanted
                          else self.payment_status(o) in DEFAULT_PAYMENT)
                      and (since is None or o.updated >= since)]
            orders.sort(key=lambda o: o.created, reverse=True)
            return self._list(request, [(str(o.id), o) for o in orders], self.order_json,
                              "orders")
        if resource == "customers":
            people = sorted((p for p in self.data.customers.values()
                             if since is None or p.updated >= since), key=lambda p: -p.id)
            return self._list(request, [(str(p.id), p) for p in people], self.customer_json,
                              "customers")
        return _error(404, "Not Found", f"Resource {resource} not found")

    def _list(self, request: Request, items: list[tuple[str, Any]],
              render: Callable[[Any], dict[str, Any]], name: str) -> Reply:
        per_page = int(request.query.get("per_page", "30"))
        page = int(request.query.get("page", "1"))
        if not 1 <= per_page <= 200:
            return _error(422, "Unprocessable Entity", "per_page must be between 1 and 200")
        pages = math.ceil(len(items) / per_page)
        if page > pages:
            return _error(404, "Not Found", f"Last page is {pages}")
        chunk = [(key, {k: v for k, v in render(obj).items()
                        if k not in self.missing.get(key, [])})
                 for key, obj in items[(page - 1) * per_page: page * per_page]]
        base = f"{self.url}/{name}"
        query = {k: v for k, v in request.query.items() if k != "page"}
        links = [f'<{base}?{urlencode({**query, "page": n})}>; rel="{rel}"'
                 for rel, n in (("next", page + 1), ("last", pages)) if n <= pages and
                 (rel == "last" or page < pages)]
        headers = {"X-Total-Count": str(len(items))}
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(200, render_list(chunk, self.malformed), headers)


