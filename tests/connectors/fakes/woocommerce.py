"""A fake WooCommerce REST v3 (`/wp-json/wc/v3`): orders and customers.

Follows the documented behaviour: Basic auth with the consumer key and
secret (or both as query parameters), `per_page` 1..100 (default 10),
`page`, `orderby`/`order`, `modified_after` on the modification date
(`dates_are_gmt=true` reads it as GMT, otherwise as the site's local time),
`X-WP-Total`/`X-WP-TotalPages`/`Link` headers, `{"code","message","data"}`
error bodies, money as strings and refunds embedded with negative totals.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from clientela.testing.fake_server import FakeServer, Reply, Request, render_list

from .data import StoreCustomer, StoreData, StoreOrder

ROLES = {"all", "administrator", "editor", "author", "contributor", "subscriber", "customer",
         "shop_manager"}
SITE_TZ = timezone(timedelta(hours=-3))
STATUS = {"pending": "pending", "paid": "processing", "fulfilled": "completed",
          "cancelled": "cancelled"}


def _gmt(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _local(when: datetime) -> str:
    return when.astimezone(SITE_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _error(status: int, code: str, message: str, **data: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


class FakeWooCommerce(FakeServer):
    api_prefix = "/wp-json/wc/v3"

    def __init__(self, data: StoreData, *, key: str = "ck_test_0123456789",
                 secret: str = "cs_test_abcdefghij") -> None:
        super().__init__()
        self.data = data
        self.key, self.secret = key, secret
        self.malformed: set[str] = set()
        self.missing: dict[str, list[str]] = {}
        """Record id -> fields left out of its JSON."""

    # -- edits a shop owner makes -------------------------------------------------------

    def refund(self, order_id: int, amount: Decimal, when: datetime | None = None) -> None:
        with self.lock:
            order = self.data.orders[order_id]
            order.refunds.append((self.data.next_id(), amount))
            order.updated = when or datetime.now(UTC).replace(microsecond=0)

    def set_subscribed(self, customer_id: int, subscribed: bool) -> None:
        with self.lock:
            person = self.data.customers[customer_id]
            person.subscribed = subscribed
            person.updated = datetime.now(UTC).replace(microsecond=0)

    def touch(self, order_id: int, when: datetime, *, shipping: Decimal | None = None) -> None:
        with self.lock:
            order = self.data.orders[order_id]
            order.updated = when
            if shipping is not None:
                order.shipping = shipping

    # -- rendering ------------------------------------------------------------------

    def order_json(self, order: StoreOrder) -> dict[str, Any]:
        status = STATUS[order.status]
        if order.refunds and order.refunded >= order.total:
            status = "refunded"
        doc: dict[str, Any] = {
            "id": order.id, "parent_id": 0, "number": str(order.id), "status": status,
            "currency": order.currency, "created_via": "checkout",
            "date_created": _local(order.created), "date_created_gmt": _gmt(order.created),
            "date_modified": _local(order.updated), "date_modified_gmt": _gmt(order.updated),
            "discount_total": _money(order.discount), "discount_tax": "0.00",
            "shipping_total": _money(order.shipping), "shipping_tax": "0.00",
            "cart_tax": "0.00", "total": _money(order.total), "total_tax": "0.00",
            "customer_id": order.customer_id or 0,
            "billing": {"email": f"person{order.customer_id}@example.com"
                        if order.customer_id else "guest@example.com"},
            "line_items": [
                {"id": line.id, "name": line.name, "product_id": line.product_id,
                 "variation_id": 0, "quantity": line.quantity, "tax_class": "",
                 "subtotal": _money(line.price * line.quantity),
                 "total": _money(line.price * line.quantity), "sku": line.sku,
                 "price": float(line.price)}
                for line in order.lines],
            "coupon_lines": [{"id": order.id * 10, "code": "promo10"}] if order.discount else [],
            "refunds": [{"id": rid, "reason": "", "total": "-" + _money(amount)}
                        for rid, amount in order.refunds],
        }
        return doc

    def customer_json(self, person: StoreCustomer) -> dict[str, Any]:
        meta = [] if person.subscribed is None else [
            {"id": person.id * 7, "key": "mailchimp_woocommerce_is_subscribed",
             "value": "1" if person.subscribed else "0"}]
        return {
            "id": person.id, "email": person.email, "first_name": person.first_name,
            "last_name": person.last_name, "role": "customer", "username": f"u{person.id}",
            "date_created": _local(person.created), "date_created_gmt": _gmt(person.created),
            "date_modified": _local(person.updated),
            "date_modified_gmt": _gmt(person.updated),
            "billing": {"first_name": person.first_name, "city": person.city,
                        "state": person.region, "country": person.country,
                        "email": person.email, "phone": "+55 11 99999-0000"},
            "is_paying_customer": True, "meta_data": meta,
        }

    def _shaped(self, key: str, doc: dict[str, Any]) -> dict[str, Any]:
        for name in self.missing.get(key, []):
            doc.pop(name, None)
        return doc

    # -- serving --------------------------------------------------------------------

    def _authorised(self, request: Request) -> Reply | None:
        given = request.header("Authorization")
        if given and given.startswith("Basic "):
            pair = base64.b64decode(given[6:]).decode(errors="replace")
        elif "consumer_key" in request.query:
            pair = f"{request.query['consumer_key']}:{request.query.get('consumer_secret', '')}"
        else:
            return _error(401, "woocommerce_rest_cannot_view",
                          "Sorry, you cannot list resources.")
        if pair != f"{self.key}:{self.secret}":
            return _error(401, "woocommerce_rest_authentication_error",
                          "Consumer secret is invalid.")
        return None

    def route(self, request: Request) -> Reply:
        if not request.path.startswith(self.api_prefix + "/"):
            return _error(404, "rest_no_route",
                          "No route was found matching the URL and request method.")
        denied = self._authorised(request)
        if denied is not None:
            return denied
        resource = request.path[len(self.api_prefix) + 1:].strip("/")
        if resource == "orders":
            return self._list(request, self._orders(request), self.order_json, "orders")
        if resource == "customers":
            people = sorted(self.data.customers.values(), key=lambda p: p.id)
            if request.query.get("role", "customer") not in ROLES:
                return _error(400, "rest_invalid_param", "Invalid parameter(s): role",
                              params={"role": "role is not one of " + ", ".join(sorted(ROLES))})
            if request.query.get("orderby", "name") not in ("id", "name", "registered_date"):
                return _error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
            return self._list(request, people, self.customer_json, "customers")
        return _error(404, "rest_no_route",
                      "No route was found matching the URL and request method.")

    def _orders(self, request: Request) -> list[StoreOrder]:
        orders = list(self.data.orders.values())
        if "modified_after" in request.query:
            bound = datetime.fromisoformat(request.query["modified_after"])
            tz = UTC if request.query.get("dates_are_gmt") == "true" else SITE_TZ
            bound = bound.replace(tzinfo=tz) if bound.tzinfo is None else bound
            orders = [o for o in orders if o.updated > bound]
        if "after" in request.query:
            bound = datetime.fromisoformat(request.query["after"]).replace(tzinfo=UTC)
            orders = [o for o in orders if o.created > bound]
        orderby = request.query.get("orderby", "date")
        field = {"id": lambda o: o.id, "date": lambda o: (o.created, o.id),
                 "modified": lambda o: (o.updated, o.id)}.get(orderby)
        if field is None:
            return []
        orders.sort(key=field, reverse=request.query.get("order", "desc") == "desc")
        return orders

    def _list(self, request: Request, rows: list[Any], render: Callable[[Any], dict[str, Any]],
              name: str) -> Reply:
        """Only the served page is rendered: a 100k-order store stays quick to page through."""
        try:
            per_page = int(request.query.get("per_page", "10"))
            page = int(request.query.get("page", "1"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page")
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page",
                          params={"per_page": "per_page must be between 1 (inclusive) "
                                              "and 100 (inclusive)"})
        total = len(rows)
        pages = math.ceil(total / per_page)
        chunk = rows[(page - 1) * per_page: page * per_page]
        items = [(str(obj.id), self._shaped(str(obj.id), render(obj))) for obj in chunk]
        base = f"{self.origin}{self.api_prefix}/{name}"
        query = {k: v for k, v in request.query.items()
                 if k not in ("page", "consumer_key", "consumer_secret")}
        links = []
        if page < pages:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(200, render_list(items, self.malformed), headers)
