"""`[destinations.sendgrid]`: the key, where lists and fields are named, and the limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

MAX_CONTACTS = 30_000
"""Contacts per `PUT /v3/marketing/contacts` (SendGrid's documented maximum)."""
MAX_BYTES = 6_000_000
"""Request body limit: SendGrid says 6 MB; counted in decimal bytes to keep a margin."""


class SendGridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="An API key with Marketing and Suppressions access.")
    base_url: str | None = Field(
        default=None, description="API host override, e.g. http://127.0.0.1:8080 for a fake "
        "(default https://api.sendgrid.com; https://api.eu.sendgrid.com for EU subusers).")
    list_format: str = Field(default="{segmentation}: {segment}",
                             description="How a segment is named as a SendGrid list.")
    field_prefix: str = Field(default="clientela_",
                              description="Custom field names are this prefix plus the field.")
    suppression_groups: list[int] | None = Field(
        default=None, description="Unsubscribe groups whose members are never added: None means "
        "every group (an unsubscribe from any group counts), [] means global unsubscribes only.")
    batch_size: int = Field(default=MAX_CONTACTS, ge=1, le=MAX_CONTACTS)
    max_request_bytes: int = Field(default=MAX_BYTES, ge=10_000, le=MAX_BYTES)
    lookup_size: int = Field(default=100, ge=1, le=100,
                             description="E-mails per contacts/search/emails call (SendGrid: 100).")
    remove_size: int = Field(default=100, ge=1, le=100,
                             description="Contact ids per list-removal DELETE (kept in the URL).")
    poll_interval: float = Field(default=2.0, gt=0, description="Seconds between job polls.")
    poll_timeout: float = Field(default=3600.0, gt=0,
                                description="Give up on an import job after this long; its "
                                "contacts are failed and resent next push (the upsert is idempotent).")
    max_connections: int = Field(default=4, ge=1, le=16)
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=1, description="Tries per call on 5xx and resets.")
    throttle_attempts: int = Field(default=30, ge=1, description="Tries per call on 429.")

    @field_validator("field_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or not value[:1].isalpha():
            raise ValueError("custom field names are letters, digits and underscores, "
                             "starting with a letter")
        return value

    def list_name(self, segmentation: str, segment: str) -> str:
        """A rule's one segment carries the rule's name alone (`win_back`, not `win_back: win_back`)."""
        if segment == segmentation:
            return segment
        return self.list_format.format(segmentation=segmentation, segment=segment)

    def field_name(self, name: str) -> str:
        return f"{self.field_prefix}{name}"
