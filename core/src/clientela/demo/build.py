"""The demo store, end to end: one seeded call, one Arrow table per entity, and the truth.

Each part of the store draws from its own random stream (derived from the
seed and the part's name), so changing how, say, NPS answers are drawn does
not reshuffle every order. The window ends on a fixed date by default
(`DEFAULT_END`, 2025-12-31), so a seed always gives the same store whatever
the date it runs on.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa

from clientela.demo import arrays
from clientela.demo.calendar import (
    DEFAULT_END,
    SECONDS_PER_DAY,
    UTC_OFFSET_HOURS,
    Seasonality,
    TimeWarp,
    Window,
)
from clientela.demo.campaigns import (
    ATTRIBUTION_DAYS,
    SEASONAL_UPLIFT_FACTOR,
    UPLIFT,
    Audience,
    CampaignPlan,
    campaign_costs,
    campaign_ids,
    campaigns_table,
    plan_campaigns,
    pull_forward,
    select_audiences,
)
from clientela.demo.catalog import build_catalogue
from clientela.demo.customers import Customers, customers_table, draw_customers
from clientela.demo.engagement import nps_table, opportunities_table
from clientela.demo.loyalty import LoyaltyRules
from clientela.demo.marketing import CAC_CENTS, CONVERSION_RATE, spend_table, traffic_table
from clientela.demo.orders import (
    CAMPAIGN,
    CANCELLED_SHARE,
    FIRST,
    FULL_REFUND_SHARE,
    ORIGINS,
    REPEAT,
    OrderBook,
    Purchases,
    build_orders,
)
from clientela.demo.pricing import COUPONS, fx_series
from clientela.demo.purchases import (
    DROPOUT_A,
    R_SHAPE,
    Latent,
    dropout_b,
    one_a_day,
    solve_alpha,
)
from clientela.demo.touches import touches_table
from clientela.demo.truth import CampaignTruth, Truth
from clientela.model.entities import ENTITIES

BUYER_SHARE = 0.95
"""The rest of the customers signed up (newsletter, Wi-Fi) and never bought."""


@dataclass(frozen=True)
class DemoData:
    """One Arrow table per entity, keyed by the entity's store table name, plus the truth."""

    tables: dict[str, pa.Table]
    truth: Truth

    def __getitem__(self, table: str) -> pa.Table:
        return self.tables[table]

    def counts(self) -> dict[str, int]:
        return {name: table.num_rows for name, table in self.tables.items()}


def random_stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one part of the store (see the module's docstring)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


_stream = random_stream


def generate(
    customers: int = 20_000,
    orders: int = 100_000,
    seed: int = 42,
    years: int = 3,
    end: date | None = None,
) -> DemoData:
    """A realistic, deterministic retail store: same arguments, same tables, byte for byte."""
    if customers < 10:
        raise ValueError("customers must be at least 10")
    if orders < 10:
        raise ValueError("orders must be at least 10")
    if years < 1:
        raise ValueError("years must be at least 1")
    if seed < 0:
        raise ValueError("seed must not be negative")
    window = Window.ending(end or DEFAULT_END, years)
    season = Seasonality.retail(window)
    warp = TimeWarp.of(season)

    n_invalid = round((CANCELLED_SHARE + FULL_REFUND_SHARE) * orders)
    buyers = max(1, min(round(BUYER_SHARE * customers), round(0.55 * orders)))
    people = draw_customers(_stream(seed, "customers"), customers, buyers, window, season)
    plans = plan_campaigns(_stream(seed, "campaigns"), window)
    audience = select_audiences(_stream(seed, "audiences"), people, plans, window)

    buyer_index = np.flatnonzero(people.buyer)
    position = np.full(customers, -1, dtype=np.int64)
    position[buyer_index] = np.arange(len(buyer_index))
    acquired_op = warp.to_operational(people.acquired[buyer_index])
    wanted = max(orders - len(buyer_index) - n_invalid, 0)
    b = dropout_b(wanted / len(buyer_index))
    # one purchase a local day at most: the days after the acquisition day cap the repeats
    days_left = window.n_days - 1 - np.floor(people.acquired[buyer_index]).astype(np.int64)
    latent = Latent.draw(_stream(seed, "process"), acquired_op, warp.total, R_SHAPE,
                         DROPOUT_A, b, max_repeats=days_left)

    alpha = solve_alpha(latent, wanted)
    buyer_of, op_time = latent.purchases(alpha)
    dropout_age = latent.dropout_age(alpha)
    repeat_time = warp.to_calendar(op_time)
    moved, extra = pull_forward(audience, buyer_of, repeat_time, len(buyer_index), position)
    origin = np.full(len(buyer_of), REPEAT, dtype=np.int8)
    origin[moved] = CAMPAIGN
    campaign = np.full(len(buyer_of), -1, dtype=np.int64)
    campaign[moved] = audience.campaign[extra]
    plan_coupon = np.array([COUPONS.index(p.coupon) if p.coupon else -1 for p in plans] + [-1])
    customer = np.concatenate([buyer_index, buyer_index[buyer_of]])
    purchases = Purchases(
        customer=customer,
        time=one_a_day(customer, np.concatenate([people.acquired[buyer_index], repeat_time]),
                       window.n_days),
        origin=np.concatenate([np.full(len(buyer_index), FIRST, dtype=np.int8), origin]),
        campaign=np.concatenate([np.full(len(buyer_index), -1), campaign]),
        campaign_coupon=np.concatenate([np.full(len(buyer_index), -1),
                                        np.where(campaign >= 0, plan_coupon[campaign], -1)]),
    )
    fx = fx_series(_stream(seed, "fx"), window.n_days)
    catalogue = build_catalogue(_stream(seed, "catalogue"))
    built = build_orders(_stream(seed, "orders"), people, purchases, n_invalid, window,
                         catalogue, fx)
    book = built.book
    ids = people.ids

    created, updated, vip = _customer_dates(_stream(seed, "signup"), people, book)
    tables = {
        "customers": customers_table(_stream(seed, "contacts"), people, window.utc_us(created),
                                     window.utc_us(updated), vip),
        "orders": built.orders,
        "order_lines": built.lines,
        "campaigns": campaigns_table(plans, audience, window),
        "touches": touches_table(_stream(seed, "touches"), plans, audience, book, ids, window),
        "loyalty_events": built.loyalty,
        "opportunities": opportunities_table(_stream(seed, "opportunities"), people, ids,
                                             window, season),
        "nps_responses": nps_table(_stream(seed, "nps"), book, ids, window),
        "marketing_spend": spend_table(_stream(seed, "spend"), people, season, plans,
                                       campaign_costs(plans, audience), window),
        "traffic": traffic_table(_stream(seed, "traffic"), book, window),
    }
    tables = {model.table: tables[model.table] for model in ENTITIES}

    per_customer = _per_customer(latent, alpha, dropout_age, buyer_index, buyer_of, people,
                                 warp, window)
    truth = Truth(
        seed=seed,
        start=window.start,
        end=window.end,
        utc_offset_hours=UTC_OFFSET_HOURS,
        time_unit="day",
        r=R_SHAPE,
        alpha=alpha,
        a=DROPOUT_A,
        b=b,
        customers=customers,
        buyers=len(buyer_index),
        orders_by_origin=_origins(book),
        seasonality=dict(season.multipliers),
        attribution_days=ATTRIBUTION_DAYS,
        campaign_uplift=dict(UPLIFT),
        seasonal_uplift_factor=SEASONAL_UPLIFT_FACTOR,
        campaigns=_campaign_truth(plans, audience, extra, book),
        cac={channel: _brl(cents) for channel, cents in CAC_CENTS.items()},
        conversion_rate=dict(CONVERSION_RATE),
        loyalty=LoyaltyRules(),
        tax_included=True,
        reporting_currency="BRL",
        per_customer=per_customer,
    )
    return DemoData(tables=tables, truth=truth)


def _customer_dates(
    rng: np.random.Generator, people: Customers, book: OrderBook
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """created_at just before the first order (in a shop, at it); updated_at at the last order."""
    n = people.n
    lead = np.where(rng.random(n) < 0.5, rng.integers(60, 1800, n), 0)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, book.customer, book.time_s)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, book.customer, book.time_s)
    signup = np.floor(people.acquired * SECONDS_PER_DAY).astype(np.int64)
    created = np.where(people.buyer, np.maximum(first - lead, 0), signup)
    updated = np.maximum(created, last)
    revenue = np.bincount(book.customer, weights=book.revenue_brl_cents(), minlength=n)
    cut = np.quantile(revenue[people.buyer], 0.95) if people.buyer.any() else np.inf
    return created, updated, people.buyer & (revenue >= cut) & (revenue > 0)


def _brl(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _origins(book: OrderBook) -> dict[str, int]:
    counts = {name: int((book.origin == code).sum()) for code, name in enumerate(ORIGINS)}
    counts["cancelled"] = int((book.status == 5).sum())
    counts["refunded"] = int((book.status == 4).sum())
    counts["partially_refunded"] = int((book.status == 3).sum())
    counts.pop("invalid")
    return counts


def _campaign_truth(
    plans: list[CampaignPlan], audience: Audience, extra: np.ndarray, book: OrderBook
) -> tuple[CampaignTruth, ...]:
    n = len(plans)
    contacted = np.bincount(audience.campaign[~audience.control], minlength=n)
    control = np.bincount(audience.campaign[audience.control], minlength=n)
    from_campaign = (book.origin == CAMPAIGN) & book.valid
    incremental = np.bincount(book.campaign[from_campaign], minlength=n)
    revenue = np.bincount(book.campaign[from_campaign],
                          weights=book.revenue_brl_cents()[from_campaign], minlength=n)
    # Which purchases brought forward turned a non-converter into a converter?
    valid = np.flatnonzero(book.valid)
    span = int(book.time_s.max(initial=0)) + 30 * SECONDS_PER_DAY
    keys = np.sort(book.customer[valid] * span + book.time_s[valid])
    touch_s = np.floor(audience.time[extra] * SECONDS_PER_DAY).astype(np.int64)
    base = audience.customer[extra] * span + touch_s
    in_window = np.searchsorted(keys, base + ATTRIBUTION_DAYS * SECONDS_PER_DAY, side="right") \
        - np.searchsorted(keys, base, side="right")
    converted = np.bincount(audience.campaign[extra][in_window <= 1], minlength=n)
    ids = campaign_ids(n)
    return tuple(
        CampaignTruth(
            campaign_id=ids[i],
            name=plan.name,
            channel=plan.channel,
            uplift=plan.uplift,
            control_share=plan.control_share,
            contacted=int(contacted[i]),
            control=int(control[i]),
            incremental_orders=int(incremental[i]),
            incremental_revenue=_brl(int(np.rint(revenue[i]))),
            conversion_lift=float(converted[i] / contacted[i]) if contacted[i] else 0.0,
        )
        for i, plan in enumerate(plans)
    )


def _per_customer(
    latent: Latent,
    alpha: float,
    dropout_age: np.ndarray,
    buyer_index: np.ndarray,
    buyer_of: np.ndarray,
    people: Customers,
    warp: TimeWarp,
    window: Window,
) -> pa.Table:
    dropout_op = latent.acquired_op + dropout_age
    alive = dropout_op >= warp.total
    dropout_day = warp.to_calendar(np.where(alive, 0.0, dropout_op))
    dropout_s = np.floor(dropout_day * SECONDS_PER_DAY).astype(np.int64)
    return pa.table({
        "customer_id": people.ids.take(pa.array(buyer_index)),
        "rate": pa.array(latent.rates(alpha), pa.float64()),
        "p": pa.array(latent.p, pa.float64()),
        "repeat_purchases": arrays.integers(np.bincount(buyer_of, minlength=latent.n)),
        "alive_at_end": pa.array(alive, pa.bool_()),
        "dropout_at": arrays.timestamps(window.utc_us(dropout_s), mask=alive),
        "spend_tier": pa.array(people.spend_tier[buyer_index], pa.float64()),
    })
