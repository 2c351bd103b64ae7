"""What the generator put in, so tests and models can check what they get out.

A CLV fit, a lift estimate or a CAC figure on the demo store is only a test
if the right answer is known; `Truth` is that answer. Parameters are those
used to draw the data; realised figures (per campaign, per customer) are
exact counts on the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pyarrow as pa

from clientela.demo.loyalty import LoyaltyRules


@dataclass(frozen=True)
class CampaignTruth:
    """One marketing campaign's true effect and what it produced.

    `uplift` is the probability that a contacted customer whose next purchase
    is due after the attribution window (and is not their last one) makes it
    within the window instead. `incremental_orders` and `incremental_revenue`
    are exactly the purchases brought forward: incremental within the window,
    not over the customer's life, as a campaign changes when a customer buys.
    `conversion_lift` is the realised causal effect on conversion among the
    contacted: the share of them whose only valid order in the window is the
    one brought forward (they would not have converted otherwise); a randomised
    contacted-minus-control comparison estimates it.
    """

    campaign_id: str
    name: str
    channel: str
    uplift: float
    control_share: float
    contacted: int
    control: int
    incremental_orders: int
    incremental_revenue: Decimal
    conversion_lift: float


@dataclass(frozen=True)
class Truth:
    """The generator's true parameters and realised counts.

    Time: BG/NBD parameters are per *operational* day, a clock that runs at
    the store's seasonal intensity (mean 1 over the window), so they are per
    calendar day on average; a fit in days on valid orders should land near
    them. Purchases (lambda ~ Gamma(r, alpha) with alpha a rate, dropout
    p ~ Beta(a, b) after each repeat purchase) start at each buyer's first
    order, and every valid order after it is one of them, each on a local day
    of its own: `orders_by_origin['campaign']` counts those a campaign brought
    forward, `['repeat']` the rest. alpha is solved so the total order count
    is the one asked for.
    """

    seed: int
    start: date
    end: date
    utc_offset_hours: int
    time_unit: str
    r: float
    alpha: float
    a: float
    b: float
    customers: int
    buyers: int
    orders_by_origin: dict[str, int]
    seasonality: dict[str, float]
    attribution_days: int
    campaign_uplift: dict[str, float]
    seasonal_uplift_factor: float
    campaigns: tuple[CampaignTruth, ...]
    cac: dict[str, Decimal]
    conversion_rate: dict[str, float]
    loyalty: LoyaltyRules
    tax_included: bool
    reporting_currency: str
    per_customer: pa.Table = field(repr=False)
    """Per buyer: customer_id, rate (lambda per day), p, repeat_purchases (campaign-moved
    ones included),
    alive_at_end, dropout_at (UTC, null when still alive) and spend_tier."""

    @property
    def mean_rate(self) -> float:
        """E[lambda] = r / alpha purchases per day while alive."""
        return self.r / self.alpha

    @property
    def mean_dropout(self) -> float:
        """E[p] = a / (a + b)."""
        return self.a / (self.a + self.b)
