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
from typing import Any, Protocol

from clientela.sources.toolkit import (
    Mapped,
    MappingError,
    money,
    optional_timestamp,
    text_or_none,
    timestamp,
)

ZERO = Decimal("0")
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
    """Ten of these per order: shapes are checked by trying (isinstance against the Mapping
    ABC was a quarter of the mapping time), only objects have both ['shopMoney'] and .get."""
    bag = raw.get(name)
    if bag is None:
        return ZERO, None
    try:
        shop = bag["shopMoney"]
        amount, currency = shop.get("amount"), shop.get("currencyCode")
    except (TypeError, KeyError, AttributeError):
        raise MappingError(name, "expected a money bag with shopMoney", bag) from None
    try:
        return money(amount), currency
    except MappingError as error:
        raise MappingError(f"{name}.shopMoney.amount", error.expected, amount) from None


def consent_state(state: Any) -> str:
    """GraphQL says SUBSCRIBED, REST webhooks say subscribed: one table for both."""
    return CONSENT.get(str(state or "").strip().upper(), "unknown")


def _consent(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "unknown"
    return consent_state(value.get("marketingState"))


def fold_status(financial: Any, fulfillment: Any, cancelled: bool, total: Decimal,
                refunded: Decimal) -> str:
    """One canonical status from Shopify's separate financial, fulfilment and cancel facts.

    `financial` and `fulfillment` are compared upper-cased, so GraphQL's enums
    (PARTIALLY_REFUNDED) and REST's snake case (partially_refunded) fold alike.
    """
    financial = str(financial or "").upper()
    if financial == "REFUNDED" or (refunded > 0 and refunded >= total):
        return "refunded"
    if cancelled or financial in ("VOIDED", "EXPIRED"):
        return "cancelled"
    if financial == "PARTIALLY_REFUNDED" or refunded > 0:
        return "partially_refunded"
    if financial == "PAID":
        return "fulfilled" if str(fulfillment or "").upper() == "FULFILLED" else "paid"
    return "pending"


def order_status(raw: Mapping[str, Any], total: Decimal, refunded: Decimal) -> str:
    return fold_status(raw.get("displayFinancialStatus"), raw.get("displayFulfillmentStatus"),
                       bool(raw.get("cancelledAt")), total, refunded)


def line_row(order_id: str, line_id: str | None, *, sku: Any, product_id: Any, name: Any,
             quantity: int, unit: Decimal, net: Decimal | None) -> dict[str, Any]:
    """An order line; `net` is the line total after line-level discounts, None if unknown.

    Shared by the GraphQL sync and the REST-shaped webhooks, so both land the same row.
    """
    if line_id is None:
        raise MappingError("lineItems.id", "a value is required")
    gross = unit * quantity
    return {
        "order_id": order_id, "line_id": line_id,
        "sku": text_or_none(sku),
        "product_id": gid_tail(product_id),
        "product_name": text_or_none(name),
        "quantity": quantity, "unit_price": unit,
        "discount": max(ZERO, gross - net) if net is not None else ZERO,
        "total": gross,
    }


def customer_row(customer_id: str | None, *, email: Any, phone: Any, first_name: Any,
                 last_name: Any, created_at: Any, updated_at: Any, city: Any, region: Any,
                 country: Any, consent_email: str, consent_sms: str,
                 tags: list[str]) -> dict[str, Any]:
    """A customer row from either API's fields (timestamps as ISO 8601 text)."""
    if customer_id is None:
        raise MappingError("id", "a value is required")
    code = text_or_none(country)
    return {
        "customer_id": customer_id,
        "email": text_or_none(email),
        "phone": text_or_none(phone),
        "first_name": text_or_none(first_name),
        "last_name": text_or_none(last_name),
        "created_at": optional_timestamp(created_at),
        "updated_at": optional_timestamp(updated_at),
        "city": text_or_none(city),
        "region": text_or_none(region),
        "country": code if code and len(code) == 2 else None,
        "consent_email": consent_email,
        "consent_sms": consent_sms,
        "tags": tags,
    }


class MappingOptions(Protocol):
    """What mapping needs from the config: no credentials, so webhooks can map without them."""

    @property
    def channel_map(self) -> Mapping[str, str]: ...

    @property
    def fx_rates(self) -> Mapping[str, Decimal]: ...

    @property
    def store_ref(self) -> str | None: ...


class ShopifyMapper:
    def __init__(self, config: MappingOptions) -> None:
        self.config = config
        self.channels = {**CHANNELS, **{k.lower(): v for k, v in config.channel_map.items()}}

    def channel_for(self, source_name: Any, handle: Any) -> str:
        """`sourceName` (REST: `source_name`) first; an app's channel handle, if known, next."""
        source = str(source_name or "").strip().lower()
        if source in self.channels:
            return self.channels[source]
        if handle:
            return str(handle).lower()[:64]
        return "online" if not source else "other"

    def channel(self, raw: Mapping[str, Any]) -> str:
        info = raw.get("channelInformation")
        definition = info.get("channelDefinition") if isinstance(info, Mapping) else None
        handle = definition.get("handle") if isinstance(definition, Mapping) else None
        return self.channel_for(raw.get("sourceName"), handle)

    def order_row(self, order_id: str | None, *, customer_id: str | None, financial: Any,
                  fulfillment: Any, cancelled: bool, placed_at: Any, updated_at: Any,
                  currency: str, after_discounts: Decimal, discount: Decimal,
                  shipping: Decimal, tax: Decimal, total: Decimal, refunded: Decimal,
                  channel: str, location_id: str | None, coupon: Any,
                  placed_field: str = "createdAt") -> dict[str, Any]:
        """The order row from figures either API provides; the derivations live only here."""
        if order_id is None:
            raise MappingError("id", "a value is required")
        return {
            "order_id": order_id,
            "customer_id": customer_id,
            "status": fold_status(financial, fulfillment, cancelled, total, refunded),
            "placed_at": timestamp(placed_at, placed_field),
            "updated_at": optional_timestamp(updated_at),
            "currency": currency,
            "fx_rate": self.config.fx_rates.get(currency.upper()),
            "subtotal": after_discounts + discount,
            "discount": discount,
            "shipping": shipping,
            "tax": tax,
            "total": total,
            "refunded_amount": min(refunded, total),
            "channel": channel,
            "store_id": location_id or self.config.store_ref,
            "coupon": text_or_none(coupon),
        }

    def _line(self, order_id: str, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise MappingError("lineItems", "expected line item objects", raw)
        unit, _ = shop_money(raw, "originalUnitPriceSet")
        product = raw.get("product")
        return line_row(
            order_id, gid_tail(raw.get("id")), sku=raw.get("sku"),
            product_id=product.get("id") if isinstance(product, Mapping) else None,
            name=raw.get("name"), quantity=int(raw.get("quantity") or 0), unit=unit,
            net=shop_money(raw, "discountedTotalSet")[0] if raw.get("discountedTotalSet")
            else None)

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = record_key(raw)
        if order_id is None:
            raise MappingError("id", "a value is required")
        total, currency = shop_money(raw, "totalPriceSet")
        refunded, _ = shop_money(raw, "totalRefundedSet")
        if raw.get("totalRefundedSet") is None and isinstance(raw.get("refunds"), list):
            refunded = sum((shop_money(r, "totalRefundedSet")[0] for r in raw["refunds"]
                            if isinstance(r, Mapping)), ZERO)
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
        return Mapped(self.order_row(
            order_id,
            customer_id=gid_tail(customer.get("id")) if isinstance(customer, Mapping) else None,
            financial=raw.get("displayFinancialStatus"),
            fulfillment=raw.get("displayFulfillmentStatus"),
            cancelled=bool(raw.get("cancelledAt")),
            placed_at=raw.get("createdAt"), updated_at=raw.get("updatedAt"),
            currency=currency, after_discounts=after_discounts, discount=discount,
            shipping=shipping, tax=tax, total=total, refunded=refunded,
            channel=self.channel(raw),
            location_id=gid_tail(location.get("id")) if isinstance(location, Mapping) else None,
            coupon=codes[0] if isinstance(codes, list) and codes else None,
        ), {"order_lines": [self._line(order_id, line) for line in lines]})

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        address = raw.get("defaultAddress")
        address = address if isinstance(address, Mapping) else {}
        tags = raw.get("tags")
        return Mapped(customer_row(
            record_key(raw), email=raw.get("email"), phone=raw.get("phone"),
            first_name=raw.get("firstName"), last_name=raw.get("lastName"),
            created_at=raw.get("createdAt"), updated_at=raw.get("updatedAt"),
            city=address.get("city"), region=address.get("provinceCode"),
            country=address.get("countryCodeV2"),
            consent_email=_consent(raw.get("emailMarketingConsent")),
            consent_sms=_consent(raw.get("smsMarketingConsent")),
            tags=[str(t) for t in tags] if isinstance(tags, list) else []))
