"""`[destinations.rdstation]`: the OAuth credentials, field naming and pacing."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

API_ROOT = "https://api.rd.services"


class RDStationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: SecretStr | None = Field(
        default=None, description="OAuth access token; fetched with the refresh token when absent.")
    refresh_token: SecretStr | None = Field(
        default=None, description="OAuth refresh token, used when a 401 says the token expired.")
    client_id: str | None = Field(default=None, description="The app's client id (for refreshing).")
    client_secret: SecretStr | None = Field(default=None, description="The app's client secret.")
    base_url: str = Field(default=API_ROOT, description="API root; a fake's URL in tests.")
    field_prefix: str = Field(
        default="cf_clientela_",
        description="Custom field identifiers are this prefix plus the clientela field name.")
    tag_format: str = Field(default="{segmentation}-{segment}",
                            description="How a segment is named as an RD Station tag.")
    requests_per_minute: int = Field(
        default=120, ge=1, le=120, description="RD Station allows 120 calls a minute per account.")
    propagate_opt_out: bool = Field(
        default=True, description="Send a `declined` communications consent for contacts the "
        "store records as unsubscribed (an opt-in is never sent to an existing contact).")
    opt_out_segmentation: int | None = Field(
        default=None, ge=1, description="Id of an RD Station segmentation of the contacts who "
        "must not be e-mailed (communications legal basis declined, unsubscribed, bounced): its "
        "members are read back as opt-outs before each push. Unset: none are read back.")
    segmentation_page_size: int = Field(
        default=125, ge=1, le=125, description="Members per page when listing it (RD Station "
        "allows up to 125).")
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, description="Tries per call on 5xx and resets.")
    throttle_attempts: int = Field(default=30, ge=1, description="Tries per call on 429.")

    @field_validator("field_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"cf_[a-z0-9_]*", value):
            raise ValueError("RD Station custom fields start with cf_ and use a-z, 0-9 and _")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> RDStationConfig:
        refreshable = self.refresh_token and self.client_id and self.client_secret
        if self.access_token is None and not refreshable:
            raise ValueError("give an access_token, or a refresh_token with client_id and "
                             "client_secret")
        return self

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.client_id and self.client_secret)

    def field_id(self, name: str) -> str:
        return self.field_prefix + re.sub(r"[^a-z0-9_]", "_", name.lower())

    def segment_field(self, segmentation: str) -> str:
        """The custom field holding the current segment: RD Station cannot take a tag away, so
        this field (overwritten on every upsert) is what segmentations should filter on."""
        return self.field_id(f"segment_{segmentation}")

    def tag(self, segmentation: str, segment: str) -> str:
        name = segment if segment == segmentation else self.tag_format.format(
            segmentation=segmentation, segment=segment)
        return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
