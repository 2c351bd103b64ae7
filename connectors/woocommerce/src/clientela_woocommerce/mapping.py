"""WooCommerce REST v3 records to canonical rows.

Money comes as strings. Times are read from the `*_gmt` fields only: the
others are in the site's time zone without an offset. Refunds are embedded
in the order as negative totals; their sum becomes `refunded_amount` and a
partial refund turns a paid order into `partially_refunded`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from clientela.sources.toolkit import (
    Mapped,
    MappingError,
    id_or_none,
    money,
    optional_timestamp,
    required,
    text_or_none,
    timestamp,
)
from clientela_woocommerce.config import WooCommerceConfig

STATUSES = {
    "pending": "pending",
    "on-hold": "pending",
    "checkout-draft": "pending",
    "processing": "paid",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "failed": "cancelled",
    "trash": "cancelled",
    "refunded": "refunded",
}
YES = {"1", "yes", "true", "subscribed", "on"}
NO = {"0", "no", "false", "unsubscribed", "off", ""}


class WooMapper:
    def __init__(self, config: WooCommerceConfig) -> None:
        self.config = config
        self.statuses = {**STATUSES, **config.status_map}

    # -- orders ---------------------------------------------------------------------

    def _status(self, raw: Mapping[str, Any], total: Decimal, refunded: Decimal) -> str:
        status = str(required(raw, "status"))
        found = self.statuses.get(status) or self.statuses.get(status.removeprefix("wc-"))
        if found is None:
            raise MappingError("status", "a known order status; map plugin statuses with "
                               "status_map in [sources.woocommerce]", status)
        if refunded > 0 and found in ("paid", "fulfilled"):
            return "refunded" if refunded >= total else "partially_refunded"
        return found

    def _line(self, order_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        quantity = int(item.get("quantity") or 0)
        before = money(item.get("subtotal"), "line_items.subtotal")
        after = money(item.get("total"), "line_items.total")
        return {
            "order_id": order_id,
            "line_id": str(required(item, "id")),
            "sku": text_or_none(item.get("sku")),
            "product_id": id_or_none(item.get("product_id")),
            "product_name": text_or_none(item.get("name")),
            "quantity": quantity,
            "unit_price": before / quantity if quantity > 0 else before,
            "discount": before - after,
            "total": after,
        }

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = str(required(raw, "id"))
        items = raw.get("line_items") or []
        lines = [self._line(order_id, item) for item in items]
        total = money(raw.get("total"), "total")
        refunded = sum((abs(money(r.get("total"), "refunds.total"))
                        for r in raw.get("refunds") or []), Decimal("0"))
        currency = str(raw.get("currency") or "")
        coupons = raw.get("coupon_lines") or []
        row = {
            "order_id": order_id,
            "customer_id": id_or_none(raw.get("customer_id")),
            "status": self._status(raw, total, refunded),
            "placed_at": timestamp(raw.get("date_created_gmt"), "date_created_gmt"),
            "updated_at": optional_timestamp(raw.get("date_modified_gmt")),
            "currency": currency,
            "fx_rate": self.config.fx_rates.get(currency.upper()),
            "subtotal": sum((money(item.get("subtotal"), "line_items.subtotal")
                             for item in items), Decimal("0")),
            "discount": money(raw.get("discount_total"), "discount_total"),
            "shipping": money(raw.get("shipping_total"), "shipping_total"),
            "tax": money(raw.get("total_tax"), "total_tax"),
            "total": total,
            "refunded_amount": refunded,
            "channel": "store" if raw.get("created_via") == "pos" else "online",
            "store_id": self.config.store_id,
            "coupon": text_or_none(coupons[0].get("code")) if coupons else None,
        }
        return Mapped(row, {"order_lines": lines})

    # -- customers ------------------------------------------------------------------

    def _consent(self, raw: Mapping[str, Any]) -> str:
        key = self.config.consent_meta_key
        if not key:
            return "unknown"
        for meta in raw.get("meta_data") or []:
            if isinstance(meta, Mapping) and meta.get("key") == key:
                value = str(meta.get("value") if meta.get("value") is not None else "").lower()
                if value in YES:
                    return "subscribed"
                if value in NO:
                    return "unsubscribed"
        return "unknown"

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        billing = raw.get("billing") or {}
        country = text_or_none(billing.get("country"))
        return Mapped({
            "customer_id": str(required(raw, "id")),
            "email": text_or_none(raw.get("email")),
            "phone": text_or_none(billing.get("phone")),
            "first_name": text_or_none(raw.get("first_name")),
            "last_name": text_or_none(raw.get("last_name")),
            "created_at": optional_timestamp(raw.get("date_created_gmt")),
            "updated_at": optional_timestamp(raw.get("date_modified_gmt")),
            "city": text_or_none(billing.get("city")),
            "region": text_or_none(billing.get("state")),
            "country": country if country and len(country) == 2 else None,
            "consent_email": self._consent(raw),
            "attributes": {"role": text_or_none(raw.get("role")),
                           "is_paying_customer": bool(raw.get("is_paying_customer"))},
        })
