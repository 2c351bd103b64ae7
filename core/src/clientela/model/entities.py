"""The canonical entities of retail CRM (see docs/design.md).

Fields are what the KPI catalogue needs plus what stores commonly export;
anything else a source knows goes into a customer's free `attributes`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from clientela.errors import NotFound
from clientela.model.base import Record
from clientela.model.types import (
    BirthDate,
    CampaignKind,
    Consent,
    Key,
    Label,
    LoyaltyEventKind,
    Money,
    OpportunityStatus,
    OrderStatus,
    PlannedDatetime,
    Rate,
    StoreDate,
    StoreInt,
    UtcDatetime,
)

ZERO = Decimal("0.00")
AttributeValue = str | int | float | bool | None


class Customer(Record):
    entity: ClassVar[str] = "Customer"
    table: ClassVar[str] = "customers"
    key_fields: ClassVar[tuple[str, ...]] = ("customer_id",)

    customer_id: Key
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    cpf: str | None = Field(
        default=None, max_length=32,
        description="Brazilian taxpayer number as the source gave it; `clientela.identity` "
        "normalises and validates it.",
    )
    first_name: str | None = None
    last_name: str | None = None
    birth_date: BirthDate | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    acquisition_channel: Label | None = None
    home_store_id: Key | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = Field(default=None, min_length=2, max_length=2)
    consent_email: Consent = Consent.UNKNOWN
    consent_sms: Consent = Consent.UNKNOWN
    consent_whatsapp: Consent = Consent.UNKNOWN
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip().lower()
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError("expected an e-mail address like name@example.com")
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> object:
        """Files carry tags as 'vip;newsletter' (or comma-separated)."""
        if isinstance(value, str):
            separator = ";" if ";" in value else ","
            return [tag.strip() for tag in value.split(separator) if tag.strip()]
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attributes(cls, value: object) -> object:
        """Files carry free attributes as a JSON object in one cell."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("expected a JSON object such as {\"size\": \"M\"}") from None
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class Order(Record):
    entity: ClassVar[str] = "Order"
    table: ClassVar[str] = "orders"
    key_fields: ClassVar[tuple[str, ...]] = ("order_id",)

    order_id: Key
    customer_id: Key | None = Field(default=None, description="None for a guest checkout.")
    status: OrderStatus
    placed_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    currency: str = Field(default="", description="ISO 4217; empty means the reporting currency.")
    fx_rate: Rate | None = Field(
        default=None, description="Reporting-currency units per unit of `currency`."
    )
    subtotal: Money = Field(description="Gross sales: line totals before any discount.")
    discount: Money = ZERO
    shipping: Money = ZERO
    tax: Money = ZERO
    total: Money
    refunded_amount: Money = ZERO
    channel: Label
    store_id: Key | None = None
    salesperson_id: Key | None = None
    coupon: str | None = None
    loyalty_points_earned: StoreInt = Field(default=0, ge=0)
    loyalty_points_redeemed: StoreInt = Field(default=0, ge=0)
    loyalty_discount: Money = ZERO

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if value and (len(value) != 3 or not value.isalpha()):
            raise ValueError("expected a three-letter ISO 4217 code such as BRL")
        return value

    @model_validator(mode="after")
    def _amounts(self, info: ValidationInfo) -> Order:
        if (self.subtotal < 0 or self.discount < 0 or self.shipping < 0 or self.tax < 0
                or self.total < 0 or self.refunded_amount < 0 or self.loyalty_discount < 0):
            # the rare path names the field; the common one is seven comparisons
            for name in ("subtotal", "discount", "shipping", "tax", "total", "refunded_amount",
                         "loyalty_discount"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must not be negative")
        if self.refunded_amount > self.total:
            raise ValueError("refunded_amount must not exceed total")
        reporting = (info.context or {}).get("reporting_currency")
        if reporting and self.currency and self.currency != reporting and self.fx_rate is None:
            raise ValueError(
                f"fx_rate is required for an order in {self.currency} "
                f"(the reporting currency is {reporting})"
            )
        return self


class OrderLine(Record):
    entity: ClassVar[str] = "OrderLine"
    table: ClassVar[str] = "order_lines"
    key_fields: ClassVar[tuple[str, ...]] = ("order_id", "line_id")
    version_field: ClassVar[str | None] = None

    order_id: Key
    line_id: Key
    sku: str | None = None
    product_id: Key | None = None
    product_name: str | None = None
    category: str | None = None
    quantity: StoreInt = Field(gt=0)
    unit_price: Money
    discount: Money = ZERO
    total: Money


class Campaign(Record):
    entity: ClassVar[str] = "Campaign"
    table: ClassVar[str] = "campaigns"
    key_fields: ClassVar[tuple[str, ...]] = ("campaign_id",)
    version_field: ClassVar[str | None] = None

    campaign_id: Key
    name: str
    channel: Label = Field(description="email, sms, whatsapp, push, call, ...")
    kind: CampaignKind = CampaignKind.MARKETING
    started_at: PlannedDatetime = Field(description=(
        "May lie ahead: a campaign is scheduled (`campaign send --at`), a journey's first "
        "message is planned for later"))
    ended_at: PlannedDatetime | None = None
    cost: Money = ZERO
    control_share: float = Field(default=0.0, ge=0.0, lt=1.0)


class Touch(Record):
    """One contact of a customer by a campaign or a salesperson.

    A control-group member (selected, deliberately not contacted) is a touch
    with `is_control`, so lift compares like with like.
    """

    entity: ClassVar[str] = "Touch"
    table: ClassVar[str] = "touches"
    key_fields: ClassVar[tuple[str, ...]] = ("touch_id",)
    version_field: ClassVar[str | None] = None

    touch_id: Key
    customer_id: Key
    campaign_id: Key | None = None
    salesperson_id: Key | None = None
    channel: Label
    occurred_at: UtcDatetime
    is_control: bool = False
    logged: bool = Field(default=True, description="The contact was recorded (call or message).")


class LoyaltyEvent(Record):
    """A change of a customer's points balance; `points` is signed (earn > 0, redeem < 0)."""

    entity: ClassVar[str] = "LoyaltyEvent"
    table: ClassVar[str] = "loyalty_events"
    key_fields: ClassVar[tuple[str, ...]] = ("event_id",)
    version_field: ClassVar[str | None] = None

    event_id: Key
    customer_id: Key
    kind: LoyaltyEventKind
    points: StoreInt
    occurred_at: UtcDatetime
    order_id: Key | None = None
    expires_at: PlannedDatetime | None = None
    discount_value: Money | None = None
    order_source: Key | None = None
    """The source of the order `order_id` names (an order's key is its source and id); None
    means the event's own `source`. Set by a ledger kept apart from the orders, such as
    the `clientela-loyalty` engine's (source `loyalty`)."""

    @model_validator(mode="after")
    def _sign(self) -> LoyaltyEvent:
        if self.kind == LoyaltyEventKind.EARN and self.points <= 0:
            raise ValueError("points must be positive for an 'earn' event")
        if self.kind in (LoyaltyEventKind.REDEEM, LoyaltyEventKind.EXPIRE,
                         LoyaltyEventKind.REVERSE) and self.points >= 0:
            raise ValueError(f"points must be negative for a '{self.kind}' event")
        return self


class Opportunity(Record):
    entity: ClassVar[str] = "Opportunity"
    table: ClassVar[str] = "opportunities"
    key_fields: ClassVar[tuple[str, ...]] = ("opportunity_id",)

    opportunity_id: Key
    customer_id: Key | None = None
    channel: Label
    salesperson_id: Key | None = None
    status: OpportunityStatus = OpportunityStatus.OPEN
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    value: Money | None = None

    @model_validator(mode="after")
    def _closed(self) -> Opportunity:
        if self.status != OpportunityStatus.OPEN and self.closed_at is None:
            raise ValueError(f"closed_at is required for a '{self.status}' opportunity")
        if self.closed_at is not None and self.closed_at < self.opened_at:
            raise ValueError("closed_at must not be before opened_at")
        return self


class NpsResponse(Record):
    entity: ClassVar[str] = "NpsResponse"
    table: ClassVar[str] = "nps_responses"
    key_fields: ClassVar[tuple[str, ...]] = ("response_id",)
    version_field: ClassVar[str | None] = None

    response_id: Key
    customer_id: Key | None = None
    score: StoreInt = Field(ge=0, le=10)
    responded_at: UtcDatetime
    channel: Label | None = None
    comment: str | None = None


class MarketingSpend(Record):
    """Spend on one channel on one day, so any period's CAC is a plain sum."""

    entity: ClassVar[str] = "MarketingSpend"
    table: ClassVar[str] = "marketing_spend"
    key_fields: ClassVar[tuple[str, ...]] = ("day", "channel")
    version_field: ClassVar[str | None] = None

    day: StoreDate
    channel: Label
    amount: Money = Field(ge=0)
    campaign_id: Key | None = None


class Traffic(Record):
    entity: ClassVar[str] = "Traffic"
    table: ClassVar[str] = "traffic"
    key_fields: ClassVar[tuple[str, ...]] = ("day", "channel")
    version_field: ClassVar[str | None] = None

    day: StoreDate
    channel: Label
    sessions: StoreInt = Field(ge=0)
    visitors: StoreInt | None = Field(default=None, ge=0)


ENTITIES: tuple[type[Record], ...] = (
    Customer,
    Order,
    OrderLine,
    Campaign,
    Touch,
    LoyaltyEvent,
    Opportunity,
    NpsResponse,
    MarketingSpend,
    Traffic,
)
"""Every entity, in load order (parents before children)."""


def entity_for(name: str) -> type[Record]:
    """Find an entity by table name ('orders') or entity name ('Order'), for CLI flags."""
    wanted = name.strip().lower().replace("-", "_")
    for model in ENTITIES:
        if wanted in (model.table, model.entity.lower()):
            return model
    choices = ", ".join(model.table for model in ENTITIES)
    raise NotFound(f"unknown entity {name!r}; expected one of: {choices}")
