"""VTEX records to canonical rows.

OMS money is in integer cents (`value`, `totals`, item prices); dividing
by 100 as a Decimal keeps it exact. Refunds show up as *return invoices*
(packages of type `Input`); their sum is `refunded_amount`, and a partial
one turns a paid order into `partially_refunded`. Customers are Master
Data CL documents: orders point at them through `userProfileId`, which is
the document's `userId`, so that is the customer id on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from clientela.sources.toolkit import (
    Mapped,
    MappingError,
    id_or_none,
    optional_timestamp,
    required,
    text_or_none,
    timestamp,
)
from clientela_vtex.config import VtexConfig

HUNDRED = Decimal(100)

STATUSES: dict[str, str] = {
    **dict.fromkeys(
        ("order-created", "order-completed", "on-order-completed", "payment-pending",
         "waiting-for-order-authorization", "waiting-for-authorization", "approve-payment",
         "waiting-ffmt-authorization", "waiting-for-manual-authorization",
         "waiting-for-mkt-authorization", "waiting-for-seller-confirmation"), "pending"),
    **dict.fromkeys(
        ("payment-approved", "authorize-fulfillment", "window-to-cancel", "ready-for-handling",
         "start-handling", "handling", "order-accepted", "waiting-for-seller-decision",
         "invoice-after-cancellation-deny", "request-cancel", "cancellation-requested"), "paid"),
    "invoiced": "fulfilled",
    **dict.fromkeys(("canceled", "cancel", "canceling", "payment-denied",
                     "order-create-error", "order-creation-error"), "cancelled"),
}
"""`request-cancel` stays paid: a cancellation asked for may still be denied."""


def cents(value: Any, name: str) -> Decimal:
    """Integer cents to currency units; a float or text with a point is refused, not guessed."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MappingError(name, "expected an amount in integer cents", value)
    try:
        return Decimal(int(value)) / HUNDRED
    except ValueError:
        raise MappingError(name, "expected an amount in integer cents", value) from None


def _totals(raw: Mapping[str, Any]) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for entry in raw.get("totals") or []:
        if isinstance(entry, Mapping) and entry.get("id"):
            found[str(entry["id"])] = cents(entry.get("value"), f"totals.{entry['id']}")
    return found


def refunded(raw: Mapping[str, Any]) -> Decimal:
    attachment = raw.get("packageAttachment") or {}
    packages = attachment.get("packages") or [] if isinstance(attachment, Mapping) else []
    return sum((cents(p.get("invoiceValue"), "packages.invoiceValue") for p in packages
                if isinstance(p, Mapping) and str(p.get("type", "")).lower() == "input"),
               Decimal(0))


class VtexMapper:
    def __init__(self, config: VtexConfig) -> None:
        self.config = config
        self.statuses = {**STATUSES, **config.status_map}

    def _status(self, raw: Mapping[str, Any], total: Decimal, back: Decimal) -> str:
        status = str(required(raw, "status"))
        found = self.statuses.get(status)
        if found is None:
            raise MappingError("status", "a known VTEX order status; map others with status_map "
                               "in [sources.vtex]", status)
        if back > 0 and found in ("paid", "fulfilled"):
            return "refunded" if back >= total else "partially_refunded"
        return found

    def _line(self, order_id: str, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
        quantity = int(item.get("quantity") or 0)
        price = cents(item.get("price"), "items.price")
        selling = cents(item.get("sellingPrice", item.get("price")), "items.sellingPrice")
        return {
            "order_id": order_id,
            "line_id": str(item.get("uniqueId") or f"{index}-{item.get('id')}"),
            "sku": text_or_none(item.get("refId")) or text_or_none(item.get("id")),
            "product_id": id_or_none(item.get("productId")),
            "product_name": text_or_none(item.get("name")),
            "quantity": quantity,
            "unit_price": price,
            "discount": (price - selling) * quantity,
            "total": selling * quantity,
        }

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = str(required(raw, "orderId"))
        items = raw.get("items") or []
        lines = [self._line(order_id, n, item) for n, item in enumerate(items)]
        totals = _totals(raw)
        total = cents(required(raw, "value"), "value")
        back = refunded(raw)
        profile = raw.get("clientProfileData") or {}
        preferences = raw.get("storePreferencesData") or {}
        marketing = raw.get("marketingData") or {}
        currency = str(preferences.get("currencyCode") or "")
        return Mapped({
            "order_id": order_id,
            "customer_id": id_or_none(profile.get("userProfileId")),
            "status": self._status(raw, total, back),
            "placed_at": timestamp(raw.get("creationDate"), "creationDate"),
            "updated_at": optional_timestamp(raw.get("lastChange")),
            "currency": currency,
            "fx_rate": self.config.fx_rates.get(currency.upper()),
            "subtotal": totals.get("Items", Decimal(0)),
            "discount": abs(totals.get("Discounts", Decimal(0))),
            "shipping": totals.get("Shipping", Decimal(0)),
            "tax": totals.get("Tax", Decimal(0)),
            "total": total,
            "refunded_amount": back,
            "channel": "store" if raw.get("isCheckedIn") else "online",
            "store_id": self.config.store_id,
            "coupon": text_or_none(marketing.get("coupon")) if isinstance(marketing, Mapping)
            else None,
        }, {"order_lines": lines})

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        opt_in = raw.get("isNewsletterOptIn")
        consent = {True: "subscribed", False: "unsubscribed"}.get(opt_in, "unknown") \
            if isinstance(opt_in, bool) else "unknown"
        return Mapped({
            "customer_id": str(raw.get("userId") or required(raw, "id")),
            "email": text_or_none(raw.get("email")),
            "phone": text_or_none(raw.get("phone")) or text_or_none(raw.get("homePhone")),
            "first_name": text_or_none(raw.get("firstName")),
            "last_name": text_or_none(raw.get("lastName")),
            "created_at": optional_timestamp(raw.get("createdIn")),
            "updated_at": optional_timestamp(raw.get("updatedIn")),
            "consent_email": consent,
            "attributes": {"vtex_document_id": text_or_none(raw.get("id"))},
        })
