"""The `[messaging]` and `[channels.<name>]` sections of clientela.toml.

`[messaging]` says which channel sends each medium and the house rules
(quiet hours, frequency cap, what becomes of marketing in quiet hours);
each `[channels.<name>]` is validated by that channel plugin's own model.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clientela.config import ConfigError, describe_validation_error

SECTIONS = ("messaging", "channels", "journeys")
"""Top-level keys of clientela.toml that belong to this package."""


class MessagingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send: dict[str, str] = Field(
        default_factory=dict,
        description="medium -> channel that sends it, e.g. {sms = \"twilio_sms\", "
                    "whatsapp = \"meta_whatsapp\", email = \"sendgrid_mail\"}")
    quiet_start: time = Field(default=time(9, 0), description="First local time to send.")
    quiet_end: time = Field(default=time(21, 0), description="First local time not to send.")
    quiet_marketing: Literal["defer", "drop"] = Field(
        default="defer", description="A marketing message due in quiet hours waits (defer) or "
                                     "is suppressed (drop); relationship messages always wait.")
    frequency_cap_hours: int = Field(default=24, ge=0, description=(
        "At most one marketing message per person per medium in this many hours (0: no cap)."))
    whatsapp_window_hours: int = Field(default=24, ge=1)
    store_name: str = Field(default="", description="The {store} variable of templates.")
    language: str = Field(default="pt_BR", description="Templates' language when the customer's "
                                                       "is unknown.")
    approved_whatsapp_templates: list[str] | None = Field(
        default=None, description="When set, a WhatsApp template must be one of these names.")
    batch_size: int = Field(default=500, ge=1, le=5000, description=(
        "Messages marked `calling` together; after a crash at most this many are settled by "
        "asking the provider."))
    public_url: str | None = Field(default=None, description=(
        "The URL providers call for channel webhooks, up to /channels (e.g. "
        "https://crm.example.com/channels), when a proxy rewrites it on the way in"))
    max_retries: int = Field(default=5, ge=0, description="429s and 5xx retried per message per "
                                                           "run before it waits for the next run.")

    @field_validator("send")
    @classmethod
    def _media(cls, value: dict[str, str]) -> dict[str, str]:
        for medium in value:
            if medium not in ("sms", "whatsapp", "email"):
                raise ValueError(f"send.{medium}: expected sms, whatsapp or email")
        return value


def raw_sections(path: Path | None) -> dict[str, Any]:
    """This package's sections of the configuration file, `${ENV}` references resolved."""
    from clientela.config import _resolve, config_path

    file = config_path(path)
    if not file.exists():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None
    resolved: dict[str, Any] = _resolve({k: v for k, v in data.items() if k in SECTIONS}, "")
    return resolved


def messaging_config(raw: dict[str, Any], origin: str = "clientela.toml") -> MessagingConfig:
    try:
        return MessagingConfig.model_validate(raw.get("messaging") or {})
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, f"{origin} [messaging]")) from None
