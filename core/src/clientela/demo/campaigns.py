"""Marketing campaigns with control groups and an effect that is known exactly.

Each campaign selects part of the customers reachable on its channel
(subscribed, with the contact it needs), holds out a random control share
(a Touch with is_control=True, never contacted), and, with probability
`uplift`, brings a contacted customer's next purchase forward into the
attribution window. Controls are left alone, so contacted-minus-control
measures the effect, and `truth` keeps what was put in and what it produced.

The purchase brought forward is one the buy-till-you-die process had already
made, not one added on top: a campaign changes *when* a customer buys, never
how often. It only ever moves a purchase that is neither the customer's last
one inside the window nor already due within the attribution window, so each
customer's repeat count, last purchase and age, all that BG/NBD sees, are
exactly the process's, and the BG/NBD truth holds for the whole store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from clientela.demo import arrays
from clientela.demo.calendar import (
    SECONDS_PER_DAY,
    FloatArray,
    IntArray,
    Window,
    black_friday_week,
    mothers_day,
)
from clientela.demo.customers import Customers
from clientela.demo.vocabulary import MONTHS_PT
from clientela.model.entities import Campaign
from clientela.model.types import CampaignKind

ATTRIBUTION_DAYS = 7
UPLIFT = {"email": 0.06, "sms": 0.1, "whatsapp": 0.18}
"""Per contact whose next purchase is due later (and is not the last): probability of making
it within ATTRIBUTION_DAYS instead."""
SEASONAL_UPLIFT_FACTOR = 1.5
AUDIENCE_SHARE = {"email": 0.5, "sms": 0.25, "whatsapp": 0.2}
COST_PER_CONTACT_CENTS = {"email": 2, "sms": 9, "whatsapp": 40}
FIXED_COST_CENTS = {"email": 15_000, "sms": 5_000, "whatsapp": 10_000}
SEND_HOURS = {"email": (10.0, 2.0), "sms": (11.0, 1.0), "whatsapp": (9.0, 9.0)}
RELATIONSHIP_CAMPAIGN = "rel-pos-venda"


@dataclass(frozen=True)
class CampaignPlan:
    name: str
    channel: str
    day: int
    """Index of the send day in the window."""
    seasonal: bool
    coupon: str | None
    audience_share: float
    control_share: float

    @property
    def uplift(self) -> float:
        return UPLIFT[self.channel] * (SEASONAL_UPLIFT_FACTOR if self.seasonal else 1.0)


def plan_campaigns(rng: np.random.Generator, window: Window) -> list[CampaignPlan]:
    """The calendar a CRM team would run: a monthly rhythm plus the big dates."""
    taken: set[tuple[str, int]] = set()
    plans: list[CampaignPlan] = []

    def add(name: str, channel: str, day: date, seasonal: bool, coupon: str | None) -> None:
        index = window.day_index(day)
        while (channel, index) in taken:
            index += 1
        if index < 30 or index >= window.n_days:
            return  # the first month has too few customers to target
        taken.add((channel, index))
        share = AUDIENCE_SHARE[channel] * (1.6 if seasonal else 1.0)
        control = float(rng.choice([0.0, 0.1, 0.1, 0.1, 0.15, 0.2]))
        plans.append(CampaignPlan(name, channel, index, seasonal, coupon, min(share, 0.9),
                                  control))

    month = date(window.start.year, window.start.month, 1)
    while month <= window.end:
        label = f"{MONTHS_PT[month.month - 1]} {month.year}"
        add(f"Novidades de {label}", "email", month.replace(day=5), False, None)
        add(f"Cupom relâmpago {label}", "sms", month.replace(day=12), False, "RELAMPAGO10")
        add(f"Ofertas da quinzena {label}", "email", month.replace(day=20), False, None)
        add(f"Seleção da vendedora {label}", "whatsapp", month.replace(day=25), False, None)
        month = (month + timedelta(days=32)).replace(day=1)
    for year in range(window.start.year, window.end.year + 1):
        monday, _ = black_friday_week(year)
        for channel in ("email", "sms", "whatsapp"):
            add(f"Black Friday {year} ({channel})", channel, monday, True, "BLACK20")
        for channel in ("email", "whatsapp"):
            add(f"Natal {year} ({channel})", channel, date(year, 12, 15), True, "NATAL15")
        for channel in ("email", "sms"):
            add(f"Dia das Mães {year} ({channel})", channel,
                mothers_day(year) - timedelta(days=7), True, "MAES10")
    plans.sort(key=lambda plan: (plan.day, plan.channel))
    return plans


@dataclass(frozen=True)
class Audience:
    """One row per selected customer and campaign (contacted or held out)."""

    campaign: IntArray
    customer: IntArray
    time: FloatArray
    """Local calendar days (float) of the send."""
    control: NDArray[np.bool_]
    responds: NDArray[np.bool_]
    """Drawn for everyone; takes effect only where `pull_forward` finds a purchase to move."""
    extra_time: FloatArray
    """When a response would place the purchase it brings forward (local calendar days)."""


def select_audiences(
    rng: np.random.Generator, customers: Customers, plans: Sequence[CampaignPlan], window: Window
) -> Audience:
    acquired_day = np.floor(customers.acquired)
    parts: list[tuple[IntArray, IntArray, FloatArray, NDArray[np.bool_], FloatArray]] = []
    reachable = {channel: customers.reachable(channel) for channel in UPLIFT}
    for number, plan in enumerate(plans):
        eligible = reachable[plan.channel] & (acquired_day < plan.day)
        chosen = np.flatnonzero(eligible & (rng.random(customers.n) < plan.audience_share))
        first, spread = SEND_HOURS[plan.channel]
        time = plan.day + (first + spread * rng.random(len(chosen))) / 24.0
        draw = rng.random(len(chosen))
        control = draw < plan.control_share
        if plan.control_share > 0 and len(chosen) > 1 and not control.any():
            control[np.argmin(draw)] = True  # a held-out group of one beats none at all
        response = rng.random(len(chosen))
        parts.append((np.full(len(chosen), number), chosen, time, control, response))
    parts.append((np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0),
                  np.empty(0, bool), np.empty(0)))
    campaign, customer, time, control, response = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    uplift = np.array([plan.uplift for plan in plans] + [0.0])[campaign]
    extra_time = time + ATTRIBUTION_DAYS * rng.beta(1.0, 2.5, len(time))
    responds = (response < uplift) & ~control & customers.buyer[customer] \
        & (extra_time < window.n_days)
    return Audience(campaign.astype(np.int64), customer.astype(np.int64), time,
                    control.astype(bool), responds, extra_time)


def campaigns_table(
    plans: Sequence[CampaignPlan], cost: IntArray, window: Window
) -> pa.Table:
    """`cost`: per plan, in cents (`campaign_costs` of the whole store's audiences)."""
    n = len(plans)
    channel = [plan.channel for plan in plans]
    start_s = np.array(
        [plan.day * SECONDS_PER_DAY + int(SEND_HOURS[plan.channel][0] * 3600) for plan in plans],
        dtype=np.int64,
    )
    ids = [*campaign_ids(n), RELATIONSHIP_CAMPAIGN]
    columns = {
        "campaign_id": pa.array(ids, pa.string()),
        "name": pa.array([plan.name for plan in plans] + ["Pós-venda (vendedores)"], pa.string()),
        "channel": pa.array([*channel, "whatsapp"], pa.string()),
        "kind": pa.array([CampaignKind.MARKETING.value] * n + [CampaignKind.RELATIONSHIP.value]),
        "started_at": arrays.timestamps(window.utc_us(np.append(start_s, 0))),
        "ended_at": arrays.timestamps(
            window.utc_us(np.append(start_s + ATTRIBUTION_DAYS * SECONDS_PER_DAY, 0)),
            mask=np.append(np.zeros(n, dtype=bool), True),
        ),
        "cost": arrays.decimal(np.append(cost, 0)),
        "control_share": pa.array([plan.control_share for plan in plans] + [0.0], pa.float64()),
    }
    return arrays.table(Campaign, columns, n + 1)


def campaign_ids(n: int) -> list[str]:
    return [f"cmp-{number:04d}" for number in range(1, n + 1)]


def treated_counts(plans: Sequence[CampaignPlan], audience: Audience) -> IntArray:
    """Contacts actually sent per plan (controls are not)."""
    treated: IntArray = np.bincount(audience.campaign[~audience.control], minlength=len(plans))
    return treated[: len(plans)].astype(np.int64)


def campaign_costs(plans: Sequence[CampaignPlan], treated: IntArray) -> IntArray:
    """A fixed production cost plus a price per contact actually sent (controls cost nothing)."""
    channel = [plan.channel for plan in plans]
    fixed = np.array([FIXED_COST_CENTS[c] for c in channel], dtype=np.int64)
    per_contact = np.array([COST_PER_CONTACT_CENTS[c] for c in channel], dtype=np.int64)
    return fixed + treated[: len(plans)].astype(np.int64) * per_contact


def pull_forward(audience: Audience, buyer: IntArray, time: FloatArray, n_buyers: int,
                 buyer_of_customer: IntArray) -> tuple[IntArray, IntArray]:
    """Move the purchases campaigns bring forward; returns (purchase, audience row) pairs.

    `buyer` and `time` are the process's repeat purchases (local calendar days),
    sorted by buyer and then time; `time` is updated in place. A response
    takes the buyer's first purchase after the send and places it at the
    response's `extra_time`, provided that purchase would otherwise fall on a
    day wholly after the attribution window and is not the buyer's last
    purchase. The purchase lands between the same neighbours as before, so
    the order of every buyer's purchases, their number and the last one are
    unchanged. Campaigns go in send order, so a purchase an earlier campaign
    moved is seen where it now is.
    """
    ends = np.searchsorted(buyer, np.arange(n_buyers, dtype=np.int64), side="right")
    span = float(np.ceil(max(float(time.max(initial=0.0)),
                             float(audience.extra_time.max(initial=0.0))))) + 1.0
    keyed = buyer * span + time
    rows = np.flatnonzero(audience.responds)
    rows = rows[np.argsort(audience.campaign[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(audience.campaign[rows])) + 1
    moved: list[IntArray] = []
    by: list[IntArray] = []
    for chunk in np.split(rows, bounds):
        owner = buyer_of_customer[audience.customer[chunk]]
        sent = audience.time[chunk]
        after = np.searchsorted(keyed, owner * span + sent, side="right")
        last = ends[owner] - 1
        ok = after < last
        due = time[np.minimum(after, len(time) - 1)]
        ok &= np.floor(due) > sent + ATTRIBUTION_DAYS
        purchase, chunk = after[ok], chunk[ok]
        time[purchase] = audience.extra_time[chunk]
        keyed[purchase] = owner[ok] * span + time[purchase]
        moved.append(purchase)
        by.append(chunk)
    empty = np.empty(0, dtype=np.int64)
    return (np.concatenate([empty, *moved]).astype(np.int64),
            np.concatenate([empty, *by]).astype(np.int64))
