"""Field types shared by every entity.

Money is exact: amounts are Decimal in Python and DECIMAL in the store, so
sums and RFM ranks never depend on float rounding. Timestamps are stored as
UTC; a naive timestamp from a file is read in the workspace's time zone
(passed as validation context), because that is what a store's export means.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from clientela.model.moments import parse_day, parse_moment, time_bounds

MONEY_SCALE = 2
RATE_SCALE = 8
_CENT = Decimal(1).scaleb(-MONEY_SCALE)
MONEY_LIMIT = Decimal(10) ** (18 - MONEY_SCALE)
"""DECIMAL(18,2) holds 16 digits before the point: a larger amount cannot be stored."""
RATE_LIMIT = Decimal(10) ** (18 - RATE_SCALE)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _to_decimal(value: Any, info: ValidationInfo) -> Any:
    """Plain numbers ('1234.56'), or '1.234,56' when the context says `decimal_comma`;
    floats go through their shortest repr so binary noise never becomes cents."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if info.context and info.context.get("decimal_comma"):
            text = text.replace(".", "").replace(",", ".")
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(_decimal_hint(info)) from None
    return value


def _decimal_hint(info: ValidationInfo) -> str:
    if info.context and info.context.get("decimal_comma"):
        return "expected a decimal number such as 1.234,56"
    return "expected a decimal number such as 1234.56 (add --decimal-comma for 1.234,56)"


def _money(value: Any, info: ValidationInfo) -> Any:
    """Parse, round to cents and bound an amount in one call (the hot path of every import:
    an order has up to seven amounts); anything else is left to pydantic to refuse."""
    if type(value) is str and not (info.context and info.context.get("decimal_comma")):
        try:
            value = Decimal(value)  # surrounding blanks are fine
        except InvalidOperation:
            if not value.strip():
                return None
            raise ValueError(_decimal_hint(info)) from None
    else:
        value = _to_decimal(value, info)
        if type(value) is int:
            value = Decimal(value)
    if not isinstance(value, Decimal):
        return value
    if not value.is_finite():
        raise ValueError("expected a finite amount")
    if -MONEY_LIMIT < value < MONEY_LIMIT:  # checked first: 1E+100 cannot even be rounded
        value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
        if -MONEY_LIMIT < value < MONEY_LIMIT:
            return value
    raise ValueError("expected an amount below 10,000,000,000,000,000 (16 digits before "
                     "the decimal point is what the store holds)")


def _check_rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value >= RATE_LIMIT:
        raise ValueError("expected a finite rate below 10,000,000,000")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    Field(json_schema_extra={"x-store-type": f"DECIMAL(18,{MONEY_SCALE})"}),
]
"""An amount in the record's currency, rounded to cents."""

Rate = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    AfterValidator(_check_rate),
    Field(gt=0, json_schema_extra={"x-store-type": f"DECIMAL(18,{RATE_SCALE})"}),
]
"""A conversion rate: units of the reporting currency per unit of the order's currency."""

StoreInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A whole number the store's BIGINT can hold (2**70 is refused, not overflowed)."""


def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def _utc(value: datetime, info: ValidationInfo, *, ahead: timedelta | None = None
         ) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone((info.context or {}).get("timezone", "UTC")))
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("expected a date-time between 1900 and now") from None
    earliest, latest = time_bounds(info.context)
    if ahead is not None:
        latest = datetime.now(UTC) + ahead
    if value < earliest:
        raise ValueError(f"{value.date().isoformat()} is before {earliest.date().isoformat()}: "
                         "expected a date-time from then on (see --not-before)")
    if value > latest:
        raise ValueError(f"{_minute(value)} is in the future (after {_minute(latest)} UTC; "
                         "see --max-future-days)")
    return value


def _minute(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(" ", "minutes")


def _date_bounds(value: date, info: ValidationInfo) -> date:
    earliest, latest = time_bounds(info.context)
    if value < earliest.date():
        raise ValueError(f"{value.isoformat()} is before {earliest.date()}: expected a date "
                         "from then on (see --not-before)")
    if value > latest.date():
        raise ValueError(f"{value} is in the future (see --max-future-days)")
    return value


def _birth_date_bounds(value: date, info: ValidationInfo) -> date:
    earliest, _ = time_bounds(info.context)
    if value < earliest.date() or value > datetime.now(UTC).date():
        raise ValueError(f"{value} is not a plausible birth date: expected one between "
                         f"{earliest.date()} and today")
    return value


def _moment(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
            ) -> datetime:
    """One Python call per moment: ISO text is parsed by `datetime.fromisoformat` (C), the
    rest by `parse_moment` and pydantic; then the zone and the bounds."""
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = handler(parse_moment(value, info))
    elif type(value) is datetime:
        parsed = value
    else:
        parsed = handler(parse_moment(value, info))
    return _utc(parsed, info)


UtcDatetime = Annotated[datetime, WrapValidator(_moment)]
"""A moment in time, normalised to UTC (naive input is read in the workspace time zone);
between `not_before` (1900) and `max_future_days` (1) from now."""

PLANNED_AHEAD = timedelta(days=366 * 100)


def _planned(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
             ) -> datetime:
    parsed = handler(parse_moment(value, info))
    return _utc(parsed, info, ahead=PLANNED_AHEAD)


PlannedDatetime = Annotated[datetime, WrapValidator(_planned)]
"""A moment that may lie ahead (points expire, a campaign ends): up to a century from now."""

StoreDate = Annotated[date, BeforeValidator(parse_day), AfterValidator(_date_bounds)]
"""A calendar day within the same bounds as a moment."""

BirthDate = Annotated[date, BeforeValidator(parse_day), AfterValidator(_birth_date_bounds)]
"""A birth date: from `not_before` (1900) to today."""


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
