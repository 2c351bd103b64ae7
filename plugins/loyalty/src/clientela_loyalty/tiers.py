"""Tiers by rolling 12-month spend: up at once, down only at a review.

A customer moves up the moment an order takes their spend over the last 12
months past a tier's threshold (that order still earns at the tier it was
placed in), and moves down only at a review (see `calendar.review_instants`),
to the tier their spend supports then, so a downgrade happens at most once
per review period. Spend is the net paid value (total less shipping, less
refunds) of valid orders; an order counts for 12 local calendar months.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np

from clientela_loyalty.calendar import Micros, add_months, review_instants
from clientela_loyalty.history import Orders
from clientela_loyalty.rules import LoyaltyRules


@dataclass(frozen=True)
class TierChange:
    customer_id: str
    at_us: int
    before: int
    after: int
    """Tier indices: 0 is no tier, i is the rules' tiers[i - 1]."""


def customer_tiers(customer_id: str, placed: Micros, window_end: Micros, spend: Micros,
                   valid: np.ndarray, thresholds: list[int], reviews: Micros, until_us: int,
                   changes: list[TierChange]) -> list[int]:
    """The tier each order was placed in (appending every change before `until` to
    `changes`)."""
    current = 0
    held: deque[tuple[int, int]] = deque()  # (end of the 12 months, spend), by end
    total = 0
    review = bisect_right(reviews, int(placed[0])) if len(placed) else len(reviews)
    before: list[int] = []

    def drop(at: int) -> None:
        nonlocal total
        while held and held[0][0] <= at:
            total -= held.popleft()[1]

    def review_until(at: int) -> None:
        nonlocal current, review
        while review < len(reviews) and reviews[review] <= at:
            moment = int(reviews[review])
            drop(moment)
            level = bisect_right(thresholds, total)
            if level < current:
                changes.append(TierChange(customer_id, moment, current, level))
                current = level
            review += 1

    for i in range(len(placed)):
        moment = int(placed[i])
        review_until(moment)
        drop(moment)
        before.append(current)
        if valid[i] and spend[i] > 0:
            end = int(window_end[i])
            held.insert(bisect_left([h[0] for h in held], end), (end, int(spend[i])))
            total += int(spend[i])
        level = bisect_right(thresholds, total)
        if level > current:
            changes.append(TierChange(customer_id, moment, current, level))
            current = level
    review_until(until_us - 1)
    return before


def tiers_of(orders: Orders, rules: LoyaltyRules, timezone: str,
             until_us: int) -> list[TierChange]:
    """Every tier change before `until` of every customer of `orders`."""
    changes: list[TierChange] = []
    if not rules.tiers or not len(orders.placed):
        return changes
    window_end = add_months(orders.placed, 12, timezone)
    reviews = review_instants(int(orders.placed.min()) - 1, until_us - 1,
                              rules.tier_review_months, timezone)
    thresholds = [int(tier.min_spend * 100) for tier in rules.tiers]
    customers = orders.customer.to_pylist()
    start = 0
    for end in range(1, len(customers) + 1):
        if end == len(customers) or customers[end] != customers[start]:
            customer_tiers(customers[start], orders.placed[start:end], window_end[start:end],
                           orders.spend_cents[start:end], orders.valid[start:end], thresholds,
                           reviews, until_us, changes)
            start = end
    return changes
