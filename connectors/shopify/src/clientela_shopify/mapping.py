"""Shopify GraphQL records to canonical rows.

Ids are GraphQL global ids (`gid://shopify/Order/123`); the numeric tail
is the key, the one the admin and the webhooks show. Amounts are the
`shopMoney` of each money bag: the shop's currency, whatever the buyer paid
in. The status folds the financial status, cancellation, fulfilment and the
refunded amount into one; the channel comes from `sourceName` (web, pos,
shopify_draft_order, iphone, android) or, for an app's orders, the
channel definition's handle.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from clientela.connectors import (
    Mapped,
    MappingError,
    money,
    optional_timestamp,
    text_or_none,
    timestamp,
)
from clientela_shopify.config import ShopifyConfig

CHANNELS = {"web": "online", "pos": "store", "shopify_draft_order": "draft_order",
            "iphone": "mobile_app", "android": "mobile_app"}
CONSENT = {"SUBSCRIBED": "subscribed", "PENDING": "pending", "UNSUBSCRIBED": "unsubscribed",
           "NOT_SUBSCRIBED": "unknown", "REDACTED": "unsubscribed", "INVALID": "unsubscribed"}
"""REDACTED (data erased) and INVALID (bouncing address) must never be mailed: unsubscribed."""


def gid_tail(value: Any) -> str | None:
    """'gid://shopify/Order/123' -> '123' (plain ids pass through)."""
    if value is None or value == "":
        return None
    text = str(value)
    return text.rsplit("/", 1)[-1].split("?", 1)[0] or None


def record_key(raw: Mapping[str, Any]) -> str | None:
    return gid_tail(raw.get("id"))


def shop_money(raw: Mapping[str, Any], name: str) -> tuple[Decimal, str | None]:
    bag = raw.get(name)
    if bag is None:
        return Decimal("0"), None
    if not isinstance(bag, Mapping) or not isinstance(bag.get("shopMoney"), Mapping):
        raise MappingError(name, "expected a money bag with shopMoney", bag)
    shop = bag["shopMoney"]
    return money(shop.get("amount"), f"{name}.shopMoney.amount"), shop.get("currencyCode")


def _consent(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "unknown"
    return CONSENT.get(str(value.get("marketingState") or ""), "unknown")


def order_status(raw: Mapping[str, Any], total: Decimal, refunded: Decimal) -> str:
    financial = raw.get("displayFinancialStatus")
    if financial == "REFUNDED" or (refunded > 0 and refunded >= total):
        return "refunded"
    if raw.get("cancelledAt") or financial in ("VOIDED", "EXPIRED"):
        return "cancelled"
    if financial == "PARTIALLY_REFUNDED" or refunded > 0:
        return "partially_refunded"
    if financial == "PAID":
        return "fulfilled" if raw.get("displayFulfillmentStatus") == "FULFILLED" else "paid"
    return "pending"


class ShopifyMapper:
    def __init__(self, config: ShopifyConfig) -> None:
        self.config = config
        self.channels = {**CHANNELS, **{k.lower(): v for k, v in config.channel_map.items()}}

    def channel(self, raw: Mapping[str, Any]) -> str:
        source = str(raw.get("sourceName") or "").strip().lower()
        if source in self.channels:
            return self.channels[source]
        info = raw.get("channelInformation")
        definition = info.get("channelDefinition") if isinstance(info, Mapping) else None
        handle = definition.get("handle") if isinstance(definition, Mapping) else None
        if handle:
            return str(handle).lower()[:64]
        return "online" if not source else "other"

    def _line(self, order_id: str, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise MappingError("lineItems", "expected line item objects", raw)
        line_id = gid_tail(raw.get("id"))
        if line_id is None:
            raise MappingError("lineItems.id", "a value is required")
        quantity = int(raw.get("quantity") or 0)
        unit, _ = shop_money(raw, "originalUnitPriceSet")
        gross = unit * quantity
        net, _ = shop_money(raw, "discountedTotalSet")
        product = raw.get("product")
        return {
            "order_id": order_id, "line_id": line_id,
            "sku": text_or_none(raw.get("sku")),
            "product_id": gid_tail(product.get("id")) if isinstance(product, Mapping) else None,
            "product_name": text_or_none(raw.get("name")),
            "quantity": quantity, "unit_price": unit,
            "discount": max(Decimal("0"), gross - net) if raw.get("discountedTotalSet") else
            Decimal("0"),
            "total": gross,
        }

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = record_key(raw)
        if order_id is None:
            raise MappingError("id", "a value is required")
        total, currency = shop_money(raw, "totalPriceSet")
        refunded, _ = shop_money(raw, "totalRefundedSet")
        if raw.get("totalRefundedSet") is None and isinstance(raw.get("refunds"), list):
            refunded = sum((shop_money(r, "totalRefundedSet")[0] for r in raw["refunds"]
                            if isinstance(r, Mapping)), Decimal("0"))
        after_discounts, _ = shop_money(raw, "subtotalPriceSet")
        discount, _ = shop_money(raw, "totalDiscountsSet")
        shipping, _ = shop_money(raw, "totalShippingPriceSet")
        tax, _ = shop_money(raw, "totalTaxSet")
        currency = str(currency or raw.get("currencyCode") or "")
        lines = raw.get("lineItems")
        if not isinstance(lines, list):
            raise MappingError("lineItems", "expected the order's line items", lines)
        customer = raw.get("customer")
        location = raw.get("retailLocation")
        codes = raw.get("discountCodes") or []
        return Mapped({
            "order_id": order_id,
            "customer_id": gid_tail(customer.get("id")) if isinstance(customer, Mapping)
            else None,
            "status": order_status(raw, total, refunded),
            "placed_at": timestamp(raw.get("createdAt"), "createdAt"),
            "updated_at": optional_timestamp(raw.get("updatedAt")),
            "currency": currency,
            "fx_rate": self.config.fx_rates.get(currency.upper()),
            "subtotal": after_discounts + discount,
            "discount": discount,
            "shipping": shipping,
            "tax": tax,
            "total": total,
            "refunded_amount": min(refunded, total),
            "channel": self.channel(raw),
            "store_id": (gid_tail(location.get("id")) if isinstance(location, Mapping)
                         else None) or self.config.store_ref,
            "coupon": text_or_none(codes[0]) if isinstance(codes, list) and codes else None,
        }, {"order_lines": [self._line(order_id, line) for line in lines]})

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        customer_id = record_key(raw)
        if customer_id is None:
            raise MappingError("id", "a value is required")
        address = raw.get("defaultAddress")
        address = address if isinstance(address, Mapping) else {}
        country = text_or_none(address.get("countryCodeV2"))
        tags = raw.get("tags")
        return Mapped({
            "customer_id": customer_id,
            "email": text_or_none(raw.get("email")),
            "phone": text_or_none(raw.get("phone")),
            "first_name": text_or_none(raw.get("firstName")),
            "last_name": text_or_none(raw.get("lastName")),
            "created_at": optional_timestamp(raw.get("createdAt")),
            "updated_at": optional_timestamp(raw.get("updatedAt")),
            "city": text_or_none(address.get("city")),
            "region": text_or_none(address.get("provinceCode")),
            "country": country if country and len(country) == 2 else None,
            "consent_email": _consent(raw.get("emailMarketingConsent")),
            "consent_sms": _consent(raw.get("smsMarketingConsent")),
            "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        })
