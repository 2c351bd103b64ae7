"""`[destinations.mailchimp]`: the audience, the key, and the consent option."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_MERGE_TAGS: dict[str, str] = {
    "rfm_segment": "SEGMENT",
    "r": "RFM_R",
    "f": "RFM_F",
    "m": "RFM_M",
    "clv": "CLV",
    "p_alive": "P_ALIVE",
    "last_order": "LAST_ORDER",
    "orders": "ORDERS",
    "total_spent": "SPENT",
    "avg_ticket": "TICKET",
    "loyalty_points": "POINTS",
}


class MailchimpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="Marketing API key; its -usN suffix is the data centre.")
    list_id: str = Field(min_length=1, description="The audience (list) id.")
    server: str | None = Field(default=None, description="Data centre (us21); default: from the key.")
    base_url: str | None = Field(
        default=None, description="API root override, e.g. http://127.0.0.1:8080/3.0 for a fake.")
    double_opt_in: bool = Field(
        default=False, description="Add contacts with pending/unknown consent as `pending` "
        "(Mailchimp sends them a confirmation) instead of skipping them.")
    unsubscribe_as: Literal["unsubscribed", "archived"] = Field(
        default="unsubscribed", description="What happens to a member whose consent the store "
        "lost: `unsubscribed` (kept, unsubscribed) or `archived` (DELETE, which archives).")
    max_connections: int = Field(default=10, ge=1, le=10,
                                 description="Concurrent calls; Mailchimp allows 10 per key.")
    batch_size: int = Field(default=500, ge=1, le=500)
    tag_format: str = Field(default="{segmentation}: {segment}",
                            description="How a segment is named as a Mailchimp tag.")
    merge_tags: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MERGE_TAGS))
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=10, ge=1, description="Tries per call on 5xx and resets.")
    throttle_attempts: int = Field(default=30, ge=1, description="Tries per call on 429.")

    @field_validator("merge_tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for tag in value.values():
            if not (1 <= len(tag) <= 10 and tag.replace("_", "").isalnum() and tag.isupper()):
                raise ValueError("merge tags are 1-10 upper-case letters, digits or underscores")
        return value

    def tag(self, segmentation: str, segment: str) -> str:
        """A rule's one segment carries the rule's name alone (`win_back`, not `win_back: win_back`)."""
        if segment == segmentation:
            return segment
        return self.tag_format.format(segmentation=segmentation, segment=segment)
