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


@dataclass(frozen=True)
class ResolutionTruth:
    """Who is who across the demo's two sources, and the KPIs counted by person.

    `records` has one row per customer record of either source: customer_id, source
    ("demo" or "demo-pos"), person_id (a linked person is named by the e-commerce
    customer_id, a POS-only person by their first POS record) and kind ("ecommerce",
    "linked", "pos_only", "cpf_only", "mistyped_cpf"). Valid orders are those not
    cancelled or refunded; months are local (UTC-3).

    `active_by_month` counts persons with a valid order in the month (both sources),
    `active_records_by_month` the customer records (what a store without resolution
    reports). `omnichannel_by_month` is, per month, (persons bought in 2+ channels,
    persons active) over the 12 local months ending with it; `omnichannel_share` is
    their ratio. `mistyped_cpfs` are the invalid CPFs (digits only) the export holds;
    each is shared by two different persons and must never join them.
    """

    records: pa.Table = field(repr=False)
    persons: int
    active_by_month: dict[str, int]
    active_records_by_month: dict[str, int]
    omnichannel_by_month: dict[str, tuple[int, int]]
    mistyped_cpfs: tuple[str, ...]

    def omnichannel_share(self, month: str) -> float:
        omni, active = self.omnichannel_by_month[month]
        return omni / active if active else 0.0

    def person_of(self) -> dict[str, str]:
        """customer_id -> person_id, for every record of both sources."""
        return dict(zip(self.records.column("customer_id").to_pylist(),
                        self.records.column("person_id").to_pylist(), strict=True))
