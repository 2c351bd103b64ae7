"""Nuvemshop records to canonical rows.

An order's state is spread over `status` (open, closed, cancelled),
`payment_status` (authorized, pending, paid, abandoned, refunded, voided)
and `shipping_status`; they fold into one canonical status. The order
resource says a refund happened but not how much when partial, so a
refunded order counts as refunded in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from clientela.sources.toolkit import (
    Mapped,
    id_or_none,
    money,
    optional_timestamp,
    required,
    text_or_none,
    timestamp,
)
from clientela_nuvemshop.config import NuvemshopConfig


def order_status(raw: Mapping[str, Any]) -> str:
    status, payment = raw.get("status"), raw.get("payment_status")
    if payment == "refunded":
        return "refunded"
    if status == "cancelled" or payment in ("voided", "abandoned"):
        return "cancelled"
    if payment == "paid":
        shipped = raw.get("shipping_status") in ("shipped", "delivered") or status == "closed"
        return "fulfilled" if shipped else "paid"
    return "pending"


class NuvemshopMapper:
    def __init__(self, config: NuvemshopConfig) -> None:
        self.config = config

    def _line(self, order_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        quantity = int(item.get("quantity") or 0)
        price = money(item.get("price"), "products.price")
        line_id = item.get("id") or f"{item.get('product_id')}-{item.get('variant_id')}"
        return {
            "order_id": order_id,
            "line_id": str(line_id),
            "sku": text_or_none(item.get("sku")),
            "product_id": id_or_none(item.get("product_id")),
            "product_name": text_or_none(item.get("name")),
            "quantity": quantity,
            "unit_price": price,
            "total": price * quantity,
        }

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = str(required(raw, "id"))
        lines = [self._line(order_id, item) for item in raw.get("products") or []]
        total = money(raw.get("total"), "total")
        status = order_status(raw)
        currency = str(raw.get("currency") or "")
        customer = raw.get("customer") or {}
        coupons = raw.get("coupon") or []
        first_coupon = coupons[0] if coupons and isinstance(coupons[0], Mapping) else {}
        return Mapped({
            "order_id": order_id,
            "customer_id": id_or_none(customer.get("id") if isinstance(customer, Mapping)
                                      else None),
            "status": status,
            "placed_at": timestamp(raw.get("created_at"), "created_at"),
            "updated_at": optional_timestamp(raw.get("updated_at")),
            "currency": currency,
            "fx_rate": self.config.fx_rates.get(currency.upper()),
            "subtotal": money(raw.get("subtotal"), "subtotal"),
            "discount": money(raw.get("discount"), "discount"),
            "shipping": money(raw.get("shipping_cost_customer"), "shipping_cost_customer"),
            "total": total,
            "refunded_amount": total if status == "refunded" else Decimal("0"),
            "channel": "online",
            "store_id": self.config.store_ref,
            "coupon": text_or_none(first_coupon.get("code")),
        }, {"order_lines": lines})

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        name = str(raw.get("name") or "").strip()
        first, _, last = name.partition(" ")
        address = raw.get("default_address") or {}
        country = text_or_none(address.get("country"))
        accepts = raw.get("accepts_marketing")
        if accepts is True:
            consent = "subscribed"
        elif accepts is False and raw.get("accepts_marketing_updated_at"):
            consent = "unsubscribed"
        else:
            consent = "unknown"
        return Mapped({
            "customer_id": str(required(raw, "id")),
            "email": text_or_none(raw.get("email")),
            "phone": text_or_none(raw.get("phone")),
            "first_name": first or None,
            "last_name": last.strip() or None,
            "created_at": optional_timestamp(raw.get("created_at")),
            "updated_at": optional_timestamp(raw.get("updated_at")),
            "city": text_or_none(address.get("city")),
            "region": text_or_none(address.get("province")),
            "country": country if country and len(country) == 2 else None,
            "consent_email": consent,
        })
