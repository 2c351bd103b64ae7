"""`[destinations.hubspot]`: the private-app token, property names, and the limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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
