"""A fake VTEX account: the OMS order list and detail, and Master Data CL with scroll.

As documented by the platform: `X-VTEX-API-AppKey` and `X-VTEX-API-AppToken`
(401 otherwise); the list filters on `f_creationDate=creationDate:[A TO B]`,
sorts by `orderBy=creationDate,asc|desc`, serves `per_page` up to 100 and
no page past 30 (400), answers `{list, paging}` rows without items or
money; the detail has money in integer cents, `lastChange` and return
invoices (packages of type Input) for refunds; the scroll takes `_size` up
to 1000, `_fields` and `_where`, returns the token in `X-VTEX-MD-TOKEN`
and moves that server-side cursor on every call. Error bodies are VTEX's:
`{"error": {"code", "message"}}` for OMS, `{"Message"}` for Master Data.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from clientela.testing.fake_server import FakeServer, Reply, Request, render_list

from .data import StoreCustomer, StoreData, StoreOrder

STATUS = {"pending": "payment-pending", "paid": "ready-for-handling", "fulfilled": "invoiced",
          "cancelled": "canceled"}
RANGE = re.compile(r"^creationDate:\[(\S+) TO (\S+)\]$")


def order_key(order_id: int) -> str:
    return f"{order_id}-01"


def vtex_time(when: datetime) -> str:
    """VTEX writes seven fractional digits and a +00:00 offset."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cents(amount: Any) -> int:
    return int((amount * 100).to_integral_value())


def _oms_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "exception": None}})


def _md_error(status: int, message: str) -> Reply:
    return Reply(status, {"Message": message})


class FakeVtex(FakeServer):
    def __init__(self, data: StoreData, *, app_key: str = "vtexappkey-store-ABCDEF",
                 app_token: str = "TOKENSECRET0123456789abcdefXYZ") -> None:
        super().__init__()
        self.data, self.app_key, self.app_token = data, app_key, app_token
        self.scrolls: dict[str, tuple[list[int], int, int, list[str] | None]] = {}
        """token -> (customer ids, position, size, fields)."""
        self.malformed_customers: set[str] = set()
        self.missing: dict[str, list[str]] = {}
        """order key -> fields left out of its detail."""
        self.broken: dict[str, dict[str, Any]] = {}
        """order key -> fields overridden in its detail (bad values)."""
        self.gone: set[str] = set()
        """order keys still listed whose detail answers 404."""

    # -- edits ----------------------------------------------------------------------

    def refund(self, order_id: int, amount: Any = None) -> None:
        with self.lock:
            order = self.data.orders[order_id]
            order.refunds.append((self.data.next_id(),
                                  amount if amount is not None else order.total - order.refunded))
            order.updated = datetime.now(UTC)

    def set_subscribed(self, customer_id: int, subscribed: bool) -> None:
        with self.lock:
            person = self.data.customers[customer_id]
            person.subscribed = subscribed
            person.updated = datetime.now(UTC)

    def expire_scrolls(self) -> None:
        with self.lock:
            self.scrolls.clear()

    # -- rendering ------------------------------------------------------------------

    def list_row(self, order: StoreOrder) -> dict[str, Any]:
        return {"orderId": order_key(order.id), "creationDate": vtex_time(order.created),
                "lastChange": vtex_time(order.updated), "status": STATUS[order.status],
                "clientName": "", "totalValue": _cents(order.total), "origin": "Marketplace",
                "currencyCode": order.currency}

    def detail(self, order: StoreOrder) -> dict[str, Any]:
        key = order_key(order.id)
        body: dict[str, Any] = {
            "orderId": key, "sequence": str(order.id), "status": STATUS[order.status],
            "value": _cents(order.total), "creationDate": vtex_time(order.created),
            "lastChange": vtex_time(order.updated), "origin": "Marketplace",
            "isCheckedIn": False,
            "totals": [{"id": "Items", "name": "Total dos Itens", "value": _cents(order.subtotal)},
                       {"id": "Discounts", "name": "Total dos Descontos",
                        "value": -_cents(order.discount)},
                       {"id": "Shipping", "name": "Total do Frete", "value": _cents(order.shipping)},
                       {"id": "Tax", "name": "Total da Taxa", "value": 0}],
            "items": [{"uniqueId": f"U{line.id}", "id": str(line.product_id * 10),
                       "productId": str(line.product_id), "refId": line.sku, "name": line.name,
                       "quantity": line.quantity, "price": _cents(line.price),
                       "listPrice": _cents(line.price), "sellingPrice": _cents(line.price)}
                      for line in order.lines],
            "clientProfileData": {"userProfileId": str(order.customer_id)
                                  if order.customer_id else None,
                                  "email": f"person{order.customer_id}@example.com"},
            "storePreferencesData": {"currencyCode": order.currency,
                                     "countryCode": "BRA"},
            "marketingData": {"coupon": "PROMO10"} if order.discount else None,
            "packageAttachment": {"packages": [
                {"type": "Input", "invoiceNumber": f"R{rid}", "invoiceValue": _cents(amount)}
                for rid, amount in order.refunds]},
        }
        for name in self.missing.get(key, []):
            body.pop(name, None)
        body.update(self.broken.get(key, {}))
        return body

    def document(self, person: StoreCustomer) -> dict[str, Any]:
        return {"id": f"doc-{person.id}", "userId": str(person.id), "email": person.email,
                "firstName": person.first_name, "lastName": person.last_name,
                "phone": "+5511999990000", "homePhone": None,
                "isNewsletterOptIn": person.subscribed,
                "createdIn": vtex_time(person.created), "updatedIn": vtex_time(person.updated),
                "document": "12345678909"}

    # -- serving --------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        if (request.header("X-VTEX-API-AppKey") != self.app_key
                or request.header("X-VTEX-API-AppToken") != self.app_token):
            return _oms_error(401, "1", "Unauthorized: the app key or token is invalid")
        path = request.path.rstrip("/")
        if path == "/api/oms/pvt/orders":
            return self._list(request)
        if path.startswith("/api/oms/pvt/orders/"):
            return self._detail(path.rsplit("/", 1)[1])
        if path == "/api/dataentities/CL/scroll":
            return self._scroll(request)
        return _oms_error(404, "404", f"Resource {path} not found")

    def _list(self, request: Request) -> Reply:
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "15"))
        except ValueError:
            return _oms_error(400, "1", "page and per_page must be numbers")
        if not 1 <= per_page <= 100:
            return _oms_error(400, "1", "per_page must be between 1 and 100")
        if page > 30:
            return _oms_error(400, "1", "Max page exceed ( 30 ), refine filter")
        orders = list(self.data.orders.values())
        wanted = request.query.get("f_creationDate")
        if wanted:
            found = RANGE.match(wanted)
            if not found:
                return _oms_error(400, "1", "invalid f_creationDate")
            low, high = _parse(found.group(1)), _parse(found.group(2))
            orders = [o for o in orders if low <= o.created <= high]
        field, _, direction = request.query.get("orderBy", "creationDate,desc").partition(",")
        if field != "creationDate":
            return _oms_error(400, "1", "orderBy: unsupported field in this fake")
        orders.sort(key=lambda o: (o.created, o.id), reverse=direction != "asc")
        pages = math.ceil(len(orders) / per_page)
        chunk = orders[(page - 1) * per_page: page * per_page]
        return Reply(200, {"list": [self.list_row(o) for o in chunk], "facets": [],
                           "paging": {"total": len(orders), "pages": pages,
                                      "currentPage": page, "perPage": per_page},
                           "stats": {"stats": {}}})

    def _detail(self, key: str) -> Reply:
        number = key.removesuffix("-01")
        order = self.data.orders.get(int(number)) if number.isdigit() else None
        if order is None or key in self.gone:
            return _oms_error(404, "OMS003", "Order not found")
        return Reply(200, self.detail(order))

    def _scroll(self, request: Request) -> Reply:
        token = request.query.get("_token")
        if token is None:
            size = int(request.query.get("_size", "100"))
            if not 1 <= size <= 1000:
                return _md_error(400, "_size must be between 1 and 1000")
            fields = request.query.get("_fields")
            people = sorted(self.data.customers.values(), key=lambda p: p.id)
            where = request.query.get("_where")
            if where:
                if not where.startswith("updatedIn>"):
                    return _md_error(400, "unsupported _where in this fake")
                since = _parse(where.removeprefix("updatedIn>"))
                people = [p for p in people if p.updated > since]
            token = uuid.uuid4().hex
            self.scrolls[token] = ([p.id for p in people], 0, size,
                                   fields.split(",") if fields else None)
        if token not in self.scrolls:
            return _md_error(400, "The scroll token is invalid or has expired")
        ids, position, size, fields = self.scrolls[token]
        chunk = ids[position: position + size]
        self.scrolls[token] = (ids, position + len(chunk), size, fields)
        items = []
        for cid in chunk:
            document = self.document(self.data.customers[cid])
            if fields is not None:  # Master Data returns only what _fields names (id otherwise)
                document = {k: v for k, v in document.items() if k in fields}
            else:
                document = {"id": document["id"]}
            items.append((str(cid), document))
        return Reply(200, render_list(items, self.malformed_customers),
                     {"X-VTEX-MD-TOKEN": token, "REST-Content-Range":
                      f"resources {position}-{position + len(chunk)}/{len(ids)}"})
