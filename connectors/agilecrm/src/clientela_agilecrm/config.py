"""`[destinations.agilecrm]`: the account, its REST key, property names and pacing."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DEFAULT_PROPERTIES: dict[str, str] = {
    "rfm_segment": "RFM segment",
    "r": "RFM R",
    "f": "RFM F",
    "m": "RFM M",
    "clv": "Predicted CLV",
    "p_alive": "P alive",
    "last_order": "Last order date",
    "orders": "Orders",
    "total_spent": "Total spent",
    "avg_ticket": "Average ticket",
    "loyalty_points": "Loyalty points",
}
"""clientela field -> the name of the Agile CRM custom field that receives it."""


class AgileCRMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(default=None, description="The account's subdomain: {domain}.agilecrm.com.")
    email: str = Field(min_length=3, description="The Agile CRM user's e-mail (basic-auth user).")
    api_key: SecretStr = Field(description="The REST API key (basic-auth password).")
    base_url: str | None = Field(
        default=None, description="API root override (…/dev/api); default from `domain`.")
    properties: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROPERTIES))
    tag_format: str = Field(default="{segmentation}_{segment}",
                            description="How a segment is named as an Agile CRM tag.")
    create_without_consent: bool = Field(
        default=False, description="Create contacts whose store consent is not `subscribed` "
        "(a CRM record is not a subscription, but Agile CRM campaigns can e-mail it).")
    requests_per_minute: int | None = Field(
        default=None, ge=1, description="Client-side pacing; Agile CRM documents no limit.")
    lookup_batch: int = Field(default=50, ge=1, le=100,
                              description="E-mails per `POST contacts/search/email` look-up.")
    consent_page_size: int = Field(
        default=100, ge=1, le=1000, description="Contacts per page when reading opt-outs back "
        "(`GET contacts`, every contact of the account on each push).")
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, description="Tries per call on 5xx and resets.")
    throttle_attempts: int = Field(default=30, ge=1, description="Tries per call on 429.")

    @model_validator(mode="after")
    def _where(self) -> AgileCRMConfig:
        if self.base_url is None and not self.domain:
            raise ValueError("give the account `domain` (or a `base_url`)")
        return self

    @property
    def api_root(self) -> str:
        return (self.base_url or f"https://{self.domain}.agilecrm.com/dev/api").rstrip("/")

    def tag(self, segmentation: str, segment: str) -> str:
        """Agile CRM tags start with a letter and hold only letters, digits, `_` and spaces."""
        name = segment if segment == segmentation else self.tag_format.format(
            segmentation=segmentation, segment=segment)
        name = re.sub(r"[^A-Za-z0-9_ ]+", "_", name).strip(" _")
        return name if name[:1].isalpha() else "s_" + name
