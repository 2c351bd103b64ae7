"""Field types shared by every entity.

Money is exact: amounts are Decimal in Python and DECIMAL in the store, so
sums and RFM ranks never depend on float rounding. Timestamps are stored as
UTC; a naive timestamp from a file is read in the workspace's time zone
(passed as validation context), because that is what a store's export means.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo

MONEY_SCALE = 2
RATE_SCALE = 8
_CENT = Decimal(1).scaleb(-MONEY_SCALE)


def _to_decimal(value: Any) -> Any:
    """Accept '1.234,56'-free plain numbers; refuse floats' binary noise by going through str."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError("expected a decimal number such as 123.45") from None
    return value


def _round_money(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("expected a finite amount")
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


Money = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_round_money),
    Field(json_schema_extra={"x-store-type": f"DECIMAL(18,{MONEY_SCALE})"}),
]
"""An amount in the record's currency, rounded to cents."""

Rate = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    Field(gt=0, json_schema_extra={"x-store-type": f"DECIMAL(18,{RATE_SCALE})"}),
]
"""A conversion rate: units of the reporting currency per unit of the order's currency."""


def _utc(value: datetime, info: ValidationInfo) -> datetime:
    if value.tzinfo is None:
        zone = (info.context or {}).get("timezone", "UTC")
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A moment in time, normalised to UTC (naive input is read in the workspace time zone)."""


# Constraints are written before any function validator so that pydantic checks them in
# its core: after one, each becomes a Python call per field per row (a sync validates
# millions of keys).

Label = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1,
                                         max_length=64)]
"""A lowercase code such as a channel name ('online', 'store', 'whatsapp')."""

Key = Annotated[str, Field(min_length=1, max_length=256),
                BeforeValidator(lambda v: str(v).strip() if isinstance(v, int) else v)]
"""A natural key in the source system. Integers are accepted and kept as text."""


class Consent(StrEnum):
    """Marketing consent for one channel.

    `unknown` is distinct from `unsubscribed`: a destination may add an
    unknown contact as pending (double opt-in) but must never subscribe one
    who said no.
    """

    SUBSCRIBED = "subscribed"
    PENDING = "pending"
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown"


class OrderStatus(StrEnum):
    """Only `cancelled` and `refunded` (fully refunded) make an order invalid for KPIs."""

    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


INVALID_ORDER_STATUSES: frozenset[str] = frozenset(
    {OrderStatus.CANCELLED.value, OrderStatus.REFUNDED.value}
)


class CampaignKind(StrEnum):
    MARKETING = "marketing"
    RELATIONSHIP = "relationship"


class LoyaltyEventKind(StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    """Points an order earned, taken back after a refund or cancellation."""
    ADJUST = "adjust"


class OpportunityStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
