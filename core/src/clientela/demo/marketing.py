"""Money spent to win customers and the visits they make: CAC and conversion ground truth.

Paid acquisition spend is proportional to the buyers each channel is
expected to bring that day (with day-to-day noise of mean one), so spend /
new customers recovers the true CAC of `truth.cac`. Sessions are derived
from the day's orders at a known conversion rate, so orders / sessions
recovers `truth.conversion_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from clientela.demo import arrays
from clientela.demo.calendar import SECONDS_PER_DAY, IntArray, Seasonality, Window
from clientela.demo.campaigns import CampaignPlan, campaign_ids
from clientela.demo.customers import ACQUISITION_CHANNELS, APP, ONLINE, Customers
from clientela.demo.orders import OrderBook
from clientela.model.entities import MarketingSpend, Traffic

CAC_CENTS = {"paid_search": 5_500, "social": 4_200, "referral": 2_000}
"""Spend per buying customer acquired, by acquisition channel."""
CONVERSION_RATE = {"online": 0.021, "app": 0.034}
"""Orders per session, by channel."""
SPEND_NOISE = 0.2
SESSION_NOISE = 0.1


def _mean_one(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(-sigma * sigma / 2, sigma, n)


def buyers_by_acquisition(customers: Customers) -> IntArray:
    """Buying customers per acquisition channel (index into ACQUISITION_CHANNELS)."""
    counts: IntArray = np.bincount(customers.acquisition[customers.buyer].astype(np.int64),
                                   minlength=len(ACQUISITION_CHANNELS))
    return counts


def spend_table(
    rng: np.random.Generator,
    buyers_per_channel: IntArray,
    seasonality: Seasonality,
    plans: Sequence[CampaignPlan],
    campaign_cost_cents: np.ndarray,
    window: Window,
) -> pa.Table:
    n_days = window.n_days
    density = np.linspace(0.6, 1.4, n_days) * seasonality.intensity
    density /= density.sum()
    days: list[np.ndarray] = []
    channels: list[np.ndarray] = []
    amounts: list[np.ndarray] = []
    campaigns: list[np.ndarray] = []
    labels = [*CAC_CENTS, "email", "sms", "whatsapp"]
    for number, (label, cac) in enumerate(CAC_CENTS.items()):
        buyers = int(buyers_per_channel[ACQUISITION_CHANNELS.index(label)])
        expected = buyers * density
        amounts.append(np.round(cac * expected * _mean_one(rng, SPEND_NOISE, n_days)))
        days.append(np.arange(n_days))
        channels.append(np.full(n_days, number))
        campaigns.append(np.full(n_days, -1))
    if plans:
        days.append(np.array([plan.day for plan in plans]))
        channels.append(np.array([labels.index(plan.channel) for plan in plans]))
        amounts.append(np.asarray(campaign_cost_cents[: len(plans)], dtype=np.float64))
        campaigns.append(np.arange(len(plans)))
    day = np.concatenate(days).astype(np.int64)
    channel = np.concatenate(channels).astype(np.int64)
    amount = np.concatenate(amounts).astype(np.int64)
    campaign = np.concatenate(campaigns).astype(np.int64)
    order = np.lexsort((channel, day))
    return arrays.table(MarketingSpend, {
        "day": arrays.dates(window.epoch_days(day[order])),
        "channel": arrays.pick(labels, channel[order]),
        "amount": arrays.decimal(amount[order]),
        "campaign_id": arrays.pick(campaign_ids(len(plans)) or ["-"],
                                   np.maximum(campaign[order], 0), mask=campaign[order] < 0),
    }, len(order))


TRAFFIC_CHANNELS = ((ONLINE, CONVERSION_RATE["online"]), (APP, CONVERSION_RATE["app"]))


def daily_orders(book: OrderBook, window: Window) -> IntArray:
    """Orders per day (columns) online and in the app (rows): what sessions are drawn from."""
    day = book.time_s // SECONDS_PER_DAY
    return np.stack([np.bincount(day[book.channel == code], minlength=window.n_days)
                     for code, _ in TRAFFIC_CHANNELS]).astype(np.int64)


def traffic_table(rng: np.random.Generator, orders_per_day: IntArray, window: Window
                  ) -> pa.Table:
    """`orders_per_day`: `daily_orders` of the whole store."""
    n_days = window.n_days
    parts_day, parts_channel, parts_sessions, parts_visitors = [], [], [], []
    for number, (_, rate) in enumerate(TRAFFIC_CHANNELS):
        orders = orders_per_day[number]
        sessions = np.round(orders / rate * _mean_one(rng, SESSION_NOISE, n_days))
        sessions = np.maximum(sessions, orders).astype(np.int64)
        visitors = np.round(sessions * rng.uniform(0.68, 0.8, n_days)).astype(np.int64)
        parts_day.append(np.arange(n_days))
        parts_channel.append(np.full(n_days, number))
        parts_sessions.append(sessions)
        parts_visitors.append(visitors)
    days = np.concatenate(parts_day)
    channel = np.concatenate(parts_channel)
    order = np.lexsort((channel, days))
    return arrays.table(Traffic, {
        "day": arrays.dates(window.epoch_days(days[order])),
        "channel": arrays.pick(("online", "app"), channel[order]),
        "sessions": arrays.integers(np.concatenate(parts_sessions)[order]),
        "visitors": arrays.integers(np.concatenate(parts_visitors)[order]),
    }, len(order))
