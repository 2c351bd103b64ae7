"""The programme's rules: the `[loyalty]` section of clientela.toml, validated once at load.

Every field has a default that makes a working programme (1 point per currency
unit, 500 points to redeem, lots expiring after 12 months), so a store turns
the engine on with an empty section and changes only what differs. A rule
that cannot be right (a negative lock, tiers out of order, a misspelt key) is
refused when the file is read, with the field's name and what was expected,
never halfway through a run.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clientela.config import (
    ConfigError,
    Settings,
    config_path,
    describe_validation_error,
    load_settings,
)


class Tier(BaseModel):
    """A tier reached by rolling 12-month spend; its multiplier scales every point earned."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_ -]+$")
    min_spend: Decimal = Field(ge=0, description="Rolling 12-month net paid value to reach it.")
    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=100)


class LoyaltyRules(BaseModel):
    """What a programme decides. Amounts are in the workspace's reporting currency."""

    model_config = ConfigDict(extra="forbid")

    earn_rate: Decimal = Field(
        default=Decimal(1), gt=0, le=10_000,
        description="Points per currency unit of an order's net paid value (total less "
        "shipping), rounded down per order.")
    exclude_channels: list[str] = Field(default_factory=list,
                                        description="Orders on these channels earn nothing.")
    exclude_stores: list[str] = Field(default_factory=list,
                                      description="Orders from these store_ids earn nothing.")
    exclude_skus: list[str] = Field(
        default_factory=list,
        description="These SKUs' share of an order's line totals earns nothing.")
    lock_days: int = Field(default=0, ge=0, le=366,
                           description="Points become available this many days after the order.")
    redemption_threshold: int = Field(default=500, ge=1,
                                      description="Fewest points a member may redeem.")
    min_purchase: Decimal = Field(default=Decimal(0), ge=0,
                                  description="Least order value on which points may be redeemed.")
    point_value: Decimal = Field(default=Decimal("0.05"), gt=0,
                                 description="What one point is worth when redeemed.")
    expiry: Literal["lot", "last_purchase"] = Field(
        default="lot",
        description="'lot': each lot expires expiry_months after it was earned; "
        "'last_purchase': every point expires expiry_months after the last purchase.")
    expiry_months: int = Field(default=12, ge=1, le=120)
    expiry_days: int | None = Field(
        default=None, ge=1, le=3660,
        description="When set, a lot (or every point) expires this many days (of 24 hours) "
        "after instead of expiry_months calendar months.")
    expire_at_month_end: bool = Field(
        default=False, description="Move each expiry to the end of its (local) month.")
    reversal_overdraw: bool = Field(
        default=False,
        description="A refund after the points were spent takes the rest back from the other "
        "lots and, beyond the balance, leaves a negative balance that later points pay off "
        "(default: never more than is left of the order's own lot).")
    tiers: list[Tier] = Field(default_factory=list,
                              description="Optional tiers, lowest threshold first.")
    tier_review_months: int = Field(
        default=12, ge=1, le=60,
        description="A downgrade happens only at a review, every this many months "
        "(reviews fall on the first local day of January and every N months after).")

    @model_validator(mode="after")
    def _tiers_in_order(self) -> LoyaltyRules:
        spends = [tier.min_spend for tier in self.tiers]
        if spends != sorted(spends) or len(set(spends)) != len(spends):
            raise ValueError("tiers: expected strictly increasing min_spend, lowest first")
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: every tier needs its own name")
        return self

    @property
    def rate(self) -> Fraction:
        return Fraction(self.earn_rate)

    def multipliers(self) -> list[Fraction]:
        """Index 0 is 'no tier' (1); index i is tiers[i - 1]."""
        return [Fraction(1), *(Fraction(tier.multiplier) for tier in self.tiers)]

    def fingerprint(self) -> str:
        """Changes whenever a rule does: the engine then rebuilds the whole ledger."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_rules(section: dict[str, Any], origin: str = "clientela.toml") -> LoyaltyRules:
    """Validate a `[loyalty]` section; a problem becomes a ConfigError naming the field
    (`clientela.toml: loyalty.lock_days: ...`)."""
    try:
        return LoyaltyRules.model_validate(section)
    except ValidationError as error:
        lines = describe_validation_error(error, origin).splitlines()
        prefix = f"{origin}: "
        raise ConfigError("\n".join(
            prefix + "loyalty." + line.removeprefix(prefix) if line.startswith(prefix) else line
            for line in lines)) from None


def rules_from_settings(settings: Settings, origin: str = "clientela.toml") -> LoyaltyRules:
    """The rules of already-loaded settings (the core keeps `[loyalty]`'s unknown keys)."""
    section = settings.loyalty.model_dump()
    return parse_rules(section, origin)


def load_rules(config_file: Path | None = None) -> LoyaltyRules:
    """The rules of the workspace's configuration file (defaults when it has none)."""
    return rules_from_settings(load_settings(config_file), str(config_path(config_file)))
