"""Journeys declared as data: `[[journeys]]` in clientela.toml or files `journeys/*.toml`.

```toml
[[journeys]]
name = "lembrete_resgate"
trigger = "monthly_redeemable"     # see TRIGGERS
day_of_month = 5
minimum_purchase = 100             # the {minimum_purchase} variable
purpose = "relationship"           # or marketing
channels = ["whatsapp", "sms"]     # in order: the first that can reach the person
audience = "total_spent > 200"     # optional, in the segment rule language

[[journeys.steps]]
name = "lembrete"
wait_days = 0
sms = { text = { pt_BR = "{first_name}, você tem {points} pontos ..." } }
whatsapp = { template = "lembrete_resgate", variables = ["first_name", "points"] }
```

Everything is checked when the file is loaded: the trigger and its
parameters, the audience rule, and every template against the variables
the trigger provides (and, for WhatsApp, the approved template names).
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clientela.config import ConfigError, describe_validation_error
from clientela.destinations.rules import RuleError, compile_rule
from clientela.journeys.templates import ChannelTemplate, TemplateError, check

TriggerName = Literal["first_order", "first_points", "monthly_redeemable", "points_expiring",
                      "birthday", "lapsed", "post_purchase"]
COMMON_VARIABLES = ("first_name", "store")
TRIGGER_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "first_order": ("order_id", "order_total"),
    "first_points": ("points",),
    "monthly_redeemable": ("points", "minimum_purchase"),
    "points_expiring": ("points", "expiry_date"),
    "birthday": (),
    "lapsed": ("days",),
    "post_purchase": ("order_id", "order_total", "days"),
}
AUDIENCE_COLUMNS = ("orders", "total_spent", "days_since_last_order", "loyalty_points", "city",
                    "region", "country", "acquisition_channel", "home_store_id")
"""What an audience rule may name (computed as of the moment a run plans)."""
MEDIA = ("whatsapp", "sms", "email")


class JourneyStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    wait_days: int = Field(default=0, ge=0, le=3650,
                           description="Days after the trigger (or after the previous step).")
    sms: ChannelTemplate | None = None
    whatsapp: ChannelTemplate | None = None
    email: ChannelTemplate | None = None

    def templates(self) -> dict[str, ChannelTemplate]:
        return {m: t for m in MEDIA if (t := getattr(self, m)) is not None}


class Journey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    trigger: TriggerName
    purpose: Literal["marketing", "relationship"] = "relationship"
    channels: list[Literal["whatsapp", "sms", "email"]] = Field(min_length=1)
    steps: list[JourneyStep] = Field(min_length=1)
    audience: str | None = None
    days: int | None = Field(default=None, ge=1, le=3650, description=(
        "points_expiring: days before the expiry (default 15); lapsed: days without an order "
        "(default 90); post_purchase: days after the order (default 7)"))
    day_of_month: int = Field(default=1, ge=1, le=28, description="monthly_redeemable's day")
    send_hour: int = Field(default=10, ge=0, le=23, description=(
        "Local hour of the workspace at which date-based triggers (monthly, birthday, expiry) "
        "are due"))
    minimum_points: int | None = Field(default=None, ge=1, description=(
        "monthly_redeemable: points needed (default [loyalty] redemption_threshold)"))
    minimum_purchase: float | None = Field(default=None, ge=0)
    exit_on_order: bool = Field(default=False, description=(
        "Later steps are not sent to a customer who ordered after the trigger"))
    enabled: bool = True

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each channel at most once")
        return value

    @model_validator(mode="after")
    def _names(self) -> Journey:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a journey")
        return self

    @property
    def variables(self) -> tuple[str, ...]:
        return (*COMMON_VARIABLES, *TRIGGER_VARIABLES[self.trigger])

    @property
    def trigger_days(self) -> int:
        defaults = {"points_expiring": 15, "lapsed": 90, "post_purchase": 7}
        return self.days or defaults.get(self.trigger, 0)

    def check(self, approved: Collection[str] | None = None) -> None:
        """Templates and audience, before anything runs."""
        if self.audience:
            try:
                compile_rule(self.audience, AUDIENCE_COLUMNS)
            except RuleError as error:
                raise ConfigError(f"journey {self.name!r}: audience: {error}") from None
        for step in self.steps:
            templates = step.templates()
            for medium in self.channels:
                if medium not in templates:
                    raise ConfigError(f"journey {self.name!r}, step {step.name!r}: no template "
                                      f"for channel {medium!r}")
                try:
                    check(templates[medium], medium, self.variables,
                          f"journey {self.name!r}, step {step.name!r}, {medium}", approved)
                except TemplateError as error:
                    raise ConfigError(str(error)) from None


def parse_journeys(items: Sequence[Mapping[str, Any]], origin: str,
                   approved: Collection[str] | None = None) -> list[Journey]:
    journeys: list[Journey] = []
    for index, item in enumerate(items):
        try:
            journey = Journey.model_validate(item)
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error, f"{origin} journeys[{index}]")
                              ) from None
        journey.check(approved)
        journeys.append(journey)
    names = [j.name for j in journeys]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(f"{origin}: journey name(s) used twice: {', '.join(clash)}")
    return journeys


def load_journeys(raw: Mapping[str, Any], directory: Path | None,
                  approved: Collection[str] | None = None) -> list[Journey]:
    """`[[journeys]]` of the configuration plus every `journeys/*.toml` (each a `[[journeys]]`
    list or one journey at the top level)."""
    items: list[Mapping[str, Any]] = list(raw.get("journeys") or [])
    if directory is not None and directory.is_dir():
        for file in sorted(directory.glob("*.toml")):
            try:
                data = tomllib.loads(file.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as error:
                raise ConfigError(f"{file}: not valid TOML: {error}") from None
            items.extend(data.get("journeys", [data]))
    return parse_journeys(items, "journeys", approved)
