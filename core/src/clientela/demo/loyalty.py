"""The loyalty programme: points earned, redeemed at a threshold, expiring after a year.

A balance is inherently sequential, so the programme runs one step per
*order rank* (every customer's first eligible order, then every second
one...), vectorised over customers: as many steps as the busiest customer
has orders, never one per order or per customer.

Expiry is first-in first-out: each order's points expire EXPIRY_DAYS after
they were earned, unless spent first. Under FIFO the cumulative points
expired by time t is max(0, max over lots j expired by t of (E_j - R(tau_j))),
with E_j the points earned up to lot j and R(tau_j) the points redeemed before
lot j expires; that running maximum is what both the balance check at each
order and the expiry events use, so the two always agree and no balance is
ever negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from clientela.demo.calendar import SECONDS_PER_DAY, IntArray
from clientela.demo.pricing import Refunds, settle

POINTS_PER_BRL = 1
REDEEM_BLOCK_POINTS = 500
REDEEM_BLOCK_CENTS = 2_500
MIN_PURCHASE_CENTS = 10_000
MAX_REDEEM_SHARE = 0.5
REDEEM_PROPENSITY = 0.55
EXPIRY_DAYS = 365
EXPIRY_S = EXPIRY_DAYS * SECONDS_PER_DAY
REDEEM_BLOCK_VALUE = Decimal(REDEEM_BLOCK_CENTS).scaleb(-2)
MIN_PURCHASE = Decimal(MIN_PURCHASE_CENTS).scaleb(-2)

EARN, REDEEM, EXPIRE = 0, 1, 2
EVENT_KINDS = ("earn", "redeem", "expire")


@dataclass(frozen=True)
class LoyaltyRules:
    """The programme's rules, as `truth` reports them."""

    points_per_brl: int = POINTS_PER_BRL
    redeem_block_points: int = REDEEM_BLOCK_POINTS
    redeem_block_value: Decimal = REDEEM_BLOCK_VALUE
    min_purchase: Decimal = MIN_PURCHASE
    max_redeem_share: float = MAX_REDEEM_SHARE
    expiry_days: int = EXPIRY_DAYS
    earn_basis: str = "total - shipping - refunded_amount, whole BRL, valid orders only"
    members: str = "about 70% of customers in Brazil; marketplace and USD orders never take part"


@dataclass(frozen=True)
class Settlement:
    """Per eligible order (input order): what the programme did and the money that follows."""

    redeemed: IntArray
    loyalty_cents: IntArray
    earned: IntArray
    total: IntArray
    refunded: IntArray


@dataclass(frozen=True)
class Events:
    customer: IntArray
    time_s: IntArray
    kind: NDArray[np.int8]
    points: IntArray
    order: IntArray
    """Index into the eligible orders, -1 for expiries."""
    discount_cents: IntArray


def run_programme(
    customer: IntArray,
    time_s: IntArray,
    net: IntArray,
    shipping: IntArray,
    refunds: Refunds,
    draw: NDArray[np.float64],
    end_s: int,
) -> tuple[Settlement, Events]:
    """Settle the eligible orders of loyalty members and write the programme's ledger."""
    n = len(customer)
    order = np.lexsort((time_s, customer))
    c, t = customer[order], time_s[order]
    new = np.ones(n, dtype=bool)
    new[1:] = c[1:] != c[:-1]
    group_start = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    rank = np.arange(n) - group_start[group]
    span = end_s + 2 * EXPIRY_S
    key = group * span + EXPIRY_S + t
    lookback = np.searchsorted(key, group * span + t, side="right") - 1
    has_lookback = lookback >= group_start[group]

    earned_total = np.zeros(len(group_start), dtype=np.int64)
    redeemed_total = np.zeros_like(earned_total)
    expired_total = np.zeros_like(earned_total)
    cum_earned = np.zeros(n, dtype=np.int64)
    cum_redeemed = np.zeros(n, dtype=np.int64)
    out = {name: np.zeros(n, dtype=np.int64)
           for name in ("redeemed", "loyalty", "earned", "total", "refunded")}
    s_net, s_ship, s_draw = net[order], shipping[order], draw[order]
    s_refunds = Refunds(refunds.partial[order], refunds.full[order], refunds.fraction[order])

    by_rank = np.argsort(rank, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rank))]) if n else np.zeros(1, np.int64)
    for k in range(len(bounds) - 1):
        pos = by_rank[bounds[k]:bounds[k + 1]]
        g = group[pos]
        earned_back = np.where(has_lookback[pos], cum_earned[np.maximum(lookback[pos], 0)], 0)
        expired_total[g] = np.maximum(expired_total[g], earned_back - redeemed_total[g])
        balance = earned_total[g] - redeemed_total[g] - expired_total[g]
        order_net = s_net[pos]
        wants = (balance >= REDEEM_BLOCK_POINTS) & (order_net >= MIN_PURCHASE_CENTS) \
            & (s_draw[pos] < REDEEM_PROPENSITY)
        cap = (order_net * int(MAX_REDEEM_SHARE * 100) // 100) // REDEEM_BLOCK_CENTS
        blocks = np.where(wants, np.minimum(balance // REDEEM_BLOCK_POINTS, cap), 0)
        loyalty = blocks * REDEEM_BLOCK_CENTS
        refunds_k = Refunds(s_refunds.partial[pos], s_refunds.full[pos], s_refunds.fraction[pos])
        total, refunded = settle(order_net, loyalty, s_ship[pos], refunds_k)
        earned = np.maximum((total - s_ship[pos] - refunded) // 100, 0) * POINTS_PER_BRL
        redeemed_total[g] += blocks * REDEEM_BLOCK_POINTS
        earned_total[g] += earned
        cum_earned[pos] = earned_total[g]
        cum_redeemed[pos] = redeemed_total[g]
        out["redeemed"][pos] = blocks * REDEEM_BLOCK_POINTS
        out["loyalty"][pos] = loyalty
        out["earned"][pos] = earned
        out["total"][pos] = total
        out["refunded"][pos] = refunded

    expiry = _expiries(group, key, span, t, cum_earned, cum_redeemed, out["earned"], end_s)
    lots, amount = expiry
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    settlement = Settlement(
        redeemed=out["redeemed"][inverse],
        loyalty_cents=out["loyalty"][inverse],
        earned=out["earned"][inverse],
        total=out["total"][inverse],
        refunded=out["refunded"][inverse],
    )
    earns = np.flatnonzero(out["earned"] > 0)
    redeems = np.flatnonzero(out["redeemed"] > 0)
    events = Events(
        customer=np.concatenate([c[earns], c[redeems], c[lots]]),
        time_s=np.concatenate([t[earns], t[redeems], t[lots] + EXPIRY_S]),
        kind=np.concatenate([np.full(len(earns), EARN), np.full(len(redeems), REDEEM),
                             np.full(len(lots), EXPIRE)]).astype(np.int8),
        points=np.concatenate([out["earned"][earns], -out["redeemed"][redeems], -amount]),
        order=np.concatenate([order[earns], order[redeems], np.full(len(lots), -1)]),
        discount_cents=np.concatenate([np.zeros(len(earns), np.int64), out["loyalty"][redeems],
                                       np.zeros(len(lots), np.int64)]),
    )
    return settlement, events


def _expiries(
    group: IntArray,
    key: IntArray,
    span: int,
    t: IntArray,
    cum_earned: IntArray,
    cum_redeemed: IntArray,
    earned: IntArray,
    end_s: int,
) -> tuple[IntArray, IntArray]:
    """(sorted position of the earning order, points expiring) for lots that expire in the window."""
    lots = np.flatnonzero(earned > 0)
    g = group[lots]
    expires = t[lots] + EXPIRY_S
    before = np.searchsorted(key, g * span + EXPIRY_S + expires, side="left") - 1
    exposure = cum_earned[lots] - cum_redeemed[before]
    offset = (int(np.abs(exposure).max(initial=0)) * 2 + 1) * g
    running = np.maximum.accumulate(exposure + offset) - offset
    expired = np.maximum(running, 0)
    first = np.ones(len(lots), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    previous = np.where(first, 0, np.concatenate([[0], expired[:-1]]))
    amount = expired - previous
    keep = (amount > 0) & (expires < end_s)
    return lots[keep], amount[keep]
