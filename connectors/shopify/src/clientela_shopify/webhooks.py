"""Shopify webhook payloads (REST-shaped JSON) to the rows a GraphQL sync lands.

`clientela serve` verifies and spools a delivery, then asks this package's
`webhook_mapper` to turn it into rows. Webhooks carry REST shapes
(`total_price_set.shop_money`, `financial_status: "partially_refunded"`,
`line_items`) while the sync reads GraphQL (`totalPriceSet.shopMoney`,
`PARTIALLY_REFUNDED`, `lineItems`). Both go through the row builders in
`mapping`, so a delivery and a sync of the same order upsert one record
with one set of values: the same numeric id as key, shop-currency amounts,
the same folded status, channel and consent.

Where REST lacks a GraphQL field the closest equivalent is taken; the
differences that remain are listed in the README ("Webhooks").

Shopify's three mandatory privacy topics become privacy requests the core
carries out: `customers/redact` forgets the person (store and every
destination, as `clientela forget`), `shop/redact` (sent 48 hours after the
shop uninstalls the app) forgets every customer this source brought, and
`customers/data_request` exports what the store holds about the person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from clientela.sources.toolkit import Mapped, MappingError, money
from clientela.webhooks.declared import kind_of
from clientela.webhooks.mappers import EventMapper, EventResult, PayloadEvents, PrivacyRequest
from clientela.webhooks.spool import SpooledEvent
from clientela_shopify.mapping import (
    ShopifyMapper,
    consent_state,
    customer_row,
    gid_tail,
    line_row,
)

CENT = Decimal("0.01")
ORDER_TOPICS = frozenset({"create", "updated", "paid", "cancelled", "fulfilled",
                          "partially_fulfilled"})
"""`orders/*` topics whose body is the order itself. `orders/edited` (an order_edit),
`orders/delete` (an id only) and the risk topics carry something else."""
CUSTOMER_TOPICS = frozenset({"create", "update", "enable", "disable"})
"""`customers/*` topics whose body is the customer. The compliance topics
(`customers/redact`, `customers/data_request`) and `customers/delete` are not."""
PRIVACY_TOPICS: dict[str, Literal["forget", "export"]] = {
    "customers/redact": "forget", "customers/data_request": "export"}
"""With `shop/redact`, the privacy topics every Shopify app must answer."""


class WebhookSettings(BaseModel):
    """The `[sources.shopify]` keys mapping reads. Credentials are not needed (the body is the
    record), so a receiver configured with only a `webhook_secret` can still apply."""

    model_config = ConfigDict(extra="ignore")

    channel_map: dict[str, str] = Field(default_factory=dict)
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)
    store_ref: str | None = None
    source_name: str = "shopify"


def rest_money(raw: Mapping[str, Any], name: str) -> tuple[Decimal, str | None]:
    """`<name>_set.shop_money` when sent (explicitly the shop's currency), else `<name>`,
    which REST also gives in the shop's currency."""
    bag = raw.get(f"{name}_set")
    if isinstance(bag, Mapping) and isinstance(bag.get("shop_money"), Mapping):
        shop = bag["shop_money"]
        return money(shop.get("amount"), f"{name}_set.shop_money.amount"), \
            shop.get("currency_code")
    return money(raw.get(name), name), None


def _presentment_rate(raw: Mapping[str, Any]) -> Decimal | None:
    """Shop units per presentment unit, from the order's own total (for refund transactions,
    which REST gives in the buyer's currency)."""
    bag = raw.get("total_price_set")
    if not isinstance(bag, Mapping):
        return None
    shop, shown = bag.get("shop_money"), bag.get("presentment_money")
    if not isinstance(shop, Mapping) or not isinstance(shown, Mapping):
        return None
    shown_amount = money(shown.get("amount"), "total_price_set.presentment_money.amount")
    if shown_amount == 0:
        return None
    return money(shop.get("amount"), "total_price_set.shop_money.amount") / shown_amount


def refunded_total(raw: Mapping[str, Any], currency: str) -> Decimal:
    """What GraphQL calls `totalRefundedSet`: successful `refund` transactions, in shop money.

    A transaction in another currency (the buyer's) is converted at the order's own
    shop/presentment ratio and rounded to the cent.
    """
    refunds = raw.get("refunds") or []
    if not isinstance(refunds, list):
        raise MappingError("refunds", "expected a list of refunds", refunds)
    total = Decimal("0")
    rate: Decimal | None = None
    for refund in refunds:
        if not isinstance(refund, Mapping):
            raise MappingError("refunds", "expected refund objects", refund)
        for sent in refund.get("transactions") or []:
            if not isinstance(sent, Mapping):
                raise MappingError("refunds.transactions", "expected transaction objects", sent)
            if str(sent.get("kind") or "").lower() != "refund":
                continue
            if str(sent.get("status") or "success").lower() != "success":
                continue
            amount, shop_currency = rest_money(sent, "amount")
            given = str(sent.get("currency") or currency)
            if shop_currency is None and currency and given.upper() != currency.upper():
                rate = rate if rate is not None else _presentment_rate(raw)
                if rate is None:
                    raise MappingError("refunds.transactions.currency",
                                       f"an amount in {given} with no shop-money equivalent",
                                       sent)
                amount = (amount * rate).quantize(CENT)
            total += amount
    return total


def _shipping(raw: Mapping[str, Any]) -> Decimal:
    if isinstance(raw.get("total_shipping_price_set"), Mapping):
        return rest_money(raw, "total_shipping_price")[0]
    lines = raw.get("shipping_lines") or []
    if not isinstance(lines, list):
        raise MappingError("shipping_lines", "expected a list", lines)
    return sum((rest_money(s, "price")[0] for s in lines if isinstance(s, Mapping)),
               Decimal("0"))


def _line_level_discount(raw: Mapping[str, Any], applications: Sequence[Any]) -> Decimal:
    """The part of `discount_allocations` GraphQL's `discountedTotalSet` takes off: line-level
    discounts that do not come from a code (order-wide ones, `target_selection: all`, and
    `discount_code` ones are left to the order's `total_discounts`)."""
    taken = Decimal("0")
    for allocation in raw.get("discount_allocations") or []:
        if not isinstance(allocation, Mapping):
            continue
        index = allocation.get("discount_application_index")
        applied = applications[index] if isinstance(index, int) and \
            0 <= index < len(applications) else None
        if isinstance(applied, Mapping) and (
                applied.get("type") == "discount_code"
                or applied.get("target_selection") == "all"):
            continue
        taken += rest_money(allocation, "amount")[0]
    return taken


def _tags(value: Any) -> list[str]:
    """REST sends tags as one comma-separated string; GraphQL as a list."""
    if isinstance(value, list):
        return [str(t) for t in value]
    if not isinstance(value, str):
        return []
    return [tag.strip() for tag in value.split(",") if tag.strip()]


class RestMapper:
    """Order and customer webhooks through the GraphQL mapper's row builders."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.rows = ShopifyMapper(settings)

    def _line(self, order_id: str, raw: Any, applications: Sequence[Any]) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise MappingError("line_items", "expected line item objects", raw)
        quantity = int(raw.get("quantity") or 0)
        unit, _ = rest_money(raw, "price")
        return line_row(
            order_id, gid_tail(raw.get("id")), sku=raw.get("sku"),
            product_id=raw.get("product_id"), name=raw.get("name") or raw.get("title"),
            quantity=quantity, unit=unit,
            net=unit * quantity - _line_level_discount(raw, applications))

    def order(self, raw: Mapping[str, Any]) -> Mapped:
        order_id = gid_tail(raw.get("id"))
        if order_id is None:
            raise MappingError("id", "a value is required")
        total, currency = rest_money(raw, "total_price")
        currency = str(currency or raw.get("currency") or "")
        after_discounts, _ = rest_money(raw, "subtotal_price")
        discount, _ = rest_money(raw, "total_discounts")
        tax, _ = rest_money(raw, "total_tax")
        lines = raw.get("line_items")
        if not isinstance(lines, list):
            raise MappingError("line_items", "expected the order's line items", lines)
        applications = raw.get("discount_applications") or []
        applications = applications if isinstance(applications, list) else []
        customer = raw.get("customer")
        codes = raw.get("discount_codes") or []
        first_code = codes[0] if isinstance(codes, list) and codes else None
        return Mapped(self.rows.order_row(
            order_id,
            customer_id=gid_tail(customer.get("id")) if isinstance(customer, Mapping) else None,
            financial=raw.get("financial_status"),
            fulfillment=raw.get("fulfillment_status"),
            cancelled=bool(raw.get("cancelled_at")),
            placed_at=raw.get("created_at"), updated_at=raw.get("updated_at"),
            placed_field="created_at",
            currency=currency, after_discounts=after_discounts, discount=discount,
            shipping=_shipping(raw), tax=tax, total=total,
            refunded=refunded_total(raw, currency),
            channel=self.rows.channel_for(raw.get("source_name"), None),
            location_id=gid_tail(raw.get("location_id")),
            coupon=first_code.get("code") if isinstance(first_code, Mapping) else first_code,
        ), {"order_lines": [self._line(order_id, line, applications) for line in lines]})

    def customer(self, raw: Mapping[str, Any]) -> Mapped:
        address = raw.get("default_address")
        address = address if isinstance(address, Mapping) else {}
        email = raw.get("email_marketing_consent")
        sms = raw.get("sms_marketing_consent")
        return Mapped(customer_row(
            gid_tail(raw.get("id")), email=raw.get("email"), phone=raw.get("phone"),
            first_name=raw.get("first_name"), last_name=raw.get("last_name"),
            created_at=raw.get("created_at"), updated_at=raw.get("updated_at"),
            city=address.get("city"), region=address.get("province_code"),
            country=address.get("country_code"),
            consent_email=consent_state(email.get("state")) if isinstance(email, Mapping)
            else "unknown",
            consent_sms=consent_state(sms.get("state")) if isinstance(sms, Mapping)
            else "unknown",
            tags=_tags(raw.get("tags"))))


def privacy_request(topic: str, payload: Any) -> PrivacyRequest | None:
    """The request a privacy topic carries: `{shop_id, shop_domain, customer: {id, email,
    phone}, ...}` for the two customer topics, `{shop_id, shop_domain}` for `shop/redact`."""
    topic = topic.lower()
    if topic == "shop/redact":
        return PrivacyRequest("forget", everyone=True)
    if topic not in PRIVACY_TOPICS or not isinstance(payload, Mapping):
        return None
    person = payload.get("customer")
    person = person if isinstance(person, Mapping) else {}
    email = person.get("email")
    email = email.strip() if isinstance(email, str) and email.strip() else None
    customer_id = gid_tail(person.get("id"))
    if email is None and customer_id is None:
        return None
    return PrivacyRequest(PRIVACY_TOPICS[topic], email=email, customer_id=customer_id)


class ShopifyEvents:
    """Only topics whose body is an order or a customer are mapped, and the privacy topics
    become requests; the rest are ignored (not quarantined: an app subscribed to more topics
    is not an error)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.source_name = settings.source_name
        mapper = RestMapper(settings)
        self.payloads = PayloadEvents(settings.source_name, mapper.order, mapper.customer,
                                      ignore_actions=())

    @staticmethod
    def wanted(topic: str) -> bool:
        kind, action = kind_of(topic)
        return (kind == "order" and action in ORDER_TOPICS) or \
            (kind == "customer" and action in CUSTOMER_TOPICS)

    def map_events(self, events: Sequence[SpooledEvent]) -> list[EventResult]:
        mapped = {r.seq: r for r in self.payloads.map_events(
            [e for e in events if self.wanted(e.topic)])}
        for event in events:
            if event.topic.lower() in PRIVACY_TOPICS or event.topic.lower() == "shop/redact":
                try:
                    request = privacy_request(event.topic, event.payload())
                except ValueError:
                    request = None
                mapped[event.seq] = EventResult(event.seq, privacy=request) if request else \
                    EventResult(event.seq, ignored=f"topic {event.topic}: no customer named")
        return [mapped.get(e.seq) or EventResult(e.seq, ignored=f"topic {e.topic}")
                for e in events]


def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    """Declared in the package's `WebhookSpec`; built by `clientela serve`."""
    return ShopifyEvents(WebhookSettings.model_validate(dict(section)))
