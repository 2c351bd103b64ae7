"""The canonical model: what every source produces and every metric reads."""

from clientela.model.base import Record
from clientela.model.entities import (
    ENTITIES,
    Campaign,
    Customer,
    LoyaltyEvent,
    MarketingSpend,
    NpsResponse,
    Opportunity,
    Order,
    OrderLine,
    Touch,
    Traffic,
    entity_for,
)
from clientela.model.types import (
    INVALID_ORDER_STATUSES,
    CampaignKind,
    Consent,
    LoyaltyEventKind,
    OpportunityStatus,
    OrderStatus,
)
from clientela.model.validation import (
    RecordValidationError,
    Rejection,
    validate_one,
    validate_rows,
)

__all__ = [
    "ENTITIES",
    "INVALID_ORDER_STATUSES",
    "Campaign",
    "CampaignKind",
    "Consent",
    "Customer",
    "LoyaltyEvent",
    "LoyaltyEventKind",
    "MarketingSpend",
    "NpsResponse",
    "Opportunity",
    "OpportunityStatus",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Record",
    "RecordValidationError",
    "Rejection",
    "Touch",
    "Traffic",
    "entity_for",
    "validate_one",
    "validate_rows",
]
