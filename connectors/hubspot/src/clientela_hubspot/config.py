"""`[destinations.hubspot]`: the private-app token, property names, the subscription types
that stand for clientela's purposes, and the limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from clientela.consent import PURPOSES

MAX_BATCH = 100
"""Inputs per CRM v3 batch call."""


class HubSpotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr = Field(description="Private-app token with crm.objects.contacts "
                                    "read/write and crm.schemas.contacts read/write.")
    base_url: str | None = Field(default=None, description="API host override, e.g. "
                                 "http://127.0.0.1:8080 for a fake (default https://api.hubapi.com).")
    property_prefix: str = Field(default="clientela_",
                                 description="Contact properties are this prefix plus the field.")
    group_name: str = Field(default="clientela", description="The property group they live in.")
    group_label: str = Field(default="clientela")
    double_opt_in: bool = Field(
        default=False, description="Also create contacts whose store consent is pending/unknown "
        "(they get no subscription; HubSpot's own double opt-in decides that).")
    batch_size: int = Field(default=MAX_BATCH, ge=1, le=MAX_BATCH)
    max_connections: int = Field(default=4, ge=1, le=10,
                                 description="Concurrent calls (HubSpot allows 100-190 per 10 s).")
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=1, description="Tries per call on 5xx and resets.")
    throttle_attempts: int = Field(default=30, ge=1, description="Tries per call on 429.")
    subscription_types: dict[str, str] = Field(
        default_factory=dict,
        description="HubSpot subscription type id -> clientela e-mail purpose (`marketing` or "
        "`relationship`), e.g. {\"1234567\" = \"marketing\"}. An unsubscribe from a mapped "
        "type is read back as an opt-out of e-mail for that purpose, and an opt-out of e-mail "
        "for a purpose in the store unsubscribes the contact from every type mapped to that "
        "purpose (never a resubscribe). Unmapped types are ignored. Needs the "
        "communication_preferences.read and communication_preferences.write scopes.")
    legal_basis: Literal["LEGITIMATE_INTEREST_PQL", "LEGITIMATE_INTEREST_CLIENT",
                         "PERFORMANCE_OF_CONTRACT", "CONSENT_WITH_NOTICE", "NON_GDPR",
                         "PROCESS_AND_STORE", "LEGITIMATE_INTEREST_OTHER"] | None = Field(
        default=None, description="Sent with each unsubscribe, as accounts with HubSpot's "
        "data-privacy settings turned on require (with `legal_basis_explanation`).")
    legal_basis_explanation: str = Field(
        default="The person opted out of this kind of e-mail; recorded by clientela.",
        max_length=500)

    @field_validator("subscription_types")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for type_id, purpose in value.items():
            if not str(type_id).isdigit():
                raise ValueError(f"subscription type id {type_id!r}: expected HubSpot's numeric "
                                 "id (Settings > Marketing > Email > Subscriptions, or "
                                 "GET /communication-preferences/v3/definitions)")
            if purpose not in PURPOSES:
                raise ValueError(f"subscription type {type_id}: purpose {purpose!r}, expected "
                                 f"one of {', '.join(PURPOSES)}")
        return {str(k): v for k, v in value.items()}

    @field_validator("property_prefix", "group_name")
    @classmethod
    def _internal(cls, value: str) -> str:
        if value != value.lower() or not value.replace("_", "").isalnum() or not value[:1].isalpha():
            raise ValueError("HubSpot internal names are lower-case letters, digits and "
                             "underscores, starting with a letter")
        return value

    def property_name(self, field: str) -> str:
        return f"{self.property_prefix}{field}"

    def segment_property(self, segmentation: str) -> str:
        """One enumeration property per segmentation: `clientela_segment_rfm`."""
        safe = "".join(ch if ch.isalnum() else "_" for ch in segmentation.lower())
        return f"{self.property_prefix}segment_{safe}"

    def purpose_of(self, type_id: str) -> str | None:
        """The clientela purpose a subscription type stands for; None when it is not mapped."""
        return self.subscription_types.get(str(type_id))

    def types_for(self, purpose: str) -> list[str]:
        """The subscription type ids mapped to `purpose`, in id order."""
        return sorted((t for t, p in self.subscription_types.items() if p == purpose), key=int)
