"""The `[sources.vtex]` section."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from clientela.sources.toolkit import ConnectorConfig

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CUSTOMER_FIELDS = ("id", "userId", "email", "firstName", "lastName", "phone", "homePhone",
                   "isNewsletterOptIn", "createdIn", "updatedIn")


class VtexConfig(ConnectorConfig):
    base_url: str = Field(description="The account host, e.g. https://mystore.vtexcommercestable.com.br")
    app_key: SecretStr
    app_token: SecretStr
    per_page: int = Field(default=100, ge=1, le=100, description="OMS list page size (max 100).")
    max_pages: int = Field(
        default=30, ge=1, le=30,
        description="The OMS list serves at most 30 pages per query; larger ranges are split.")
    scroll_size: int = Field(default=1_000, ge=1, le=1_000,
                             description="Master Data scroll page size (max 1000).")
    start_date: datetime = Field(
        default=datetime(2000, 1, 1, tzinfo=UTC),
        description="Earliest creation date listed by a full sync (the list reaches ~2 years).")
    change_horizon_days: float = Field(
        default=730, gt=0,
        description="Incremental syncs re-list orders created this many days back and fetch the "
                    "detail only of those whose lastChange is new; older orders' edits are missed.")
    requests_per_second: float = Field(
        default=95.0, ge=0,
        description="Pace calls below OMS's 6000/min; 0 turns pacing off (429s still wait).")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="Extra VTEX order statuses -> canonical statuses.")
    fx_rates: dict[str, Decimal] = Field(default_factory=dict)
    store_id: str | None = None
    source_name: str = "vtex"

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected the account host, e.g. https://mystore.vtexcommercestable.com.br")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK:
            raise ValueError("the app key and token travel only over HTTPS; use an https:// address")
        return value.strip().rstrip("/")

    @field_validator("start_date")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
