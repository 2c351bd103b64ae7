"""The `[sources.nuvemshop]` section."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from clientela.sources.toolkit import ConnectorConfig

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class NuvemshopConfig(ConnectorConfig):
    base_url: str = Field(
        default="https://api.nuvemshop.com.br/v1",
        description="API root without the store id (api.tiendanube.com for Spanish-speaking "
                    "stores; /2025-03 for the dated version).")
    store_id: str = Field(min_length=1, description="The store's id (`user_id` at install).")
    access_token: SecretStr
    user_agent: str = Field(
        min_length=3, description="Required by the API: 'App name (contact@email)'.")
    per_page: int = Field(default=200, ge=1, le=200)
    pace: bool = Field(default=True, description="Wait for the bucket instead of hitting 429s.")
    bucket_reserve: int = Field(default=2, ge=0, description="Requests kept free in the bucket.")
    extra_payment_statuses: list[str] = Field(
        default_factory=lambda: ["refunded", "voided"],
        description="Listed in their own passes: the default listing covers only "
                    "authorized, pending and paid orders.")
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)
    store_ref: str | None = Field(default=None, description="`store_id` written on orders.")
    source_name: str = "nuvemshop"

    @field_validator("user_agent", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected an address such as https://api.nuvemshop.com.br/v1")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError("the access token travels only over HTTPS; use an https:// address")
        return value.strip().rstrip("/")

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/{self.store_id}"
