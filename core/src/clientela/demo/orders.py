"""Purchases become orders: when, where, by whom, what was bought and what was paid.

The buy-till-you-die process and the campaigns decide *that* a customer buys
on a given day; this module decides the rest. Valid purchases keep the
process's timing exactly (to the day); cancelled and fully refunded orders
are extra orders placed shortly after a valid one, so the valid orders the
KPIs and CLV models read are the process itself and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from clientela.demo import arrays
from clientela.demo.calendar import SECONDS_PER_DAY, FloatArray, IntArray, Window, seconds_of_day
from clientela.demo.catalog import Catalogue, draw_lines
from clientela.demo.customers import (
    ACQUISITION_CHANNELS,
    MARKETPLACE,
    ONLINE,
    ORDER_CHANNELS,
    STORE,
    WHATSAPP,
    Customers,
)
from clientela.demo.loyalty import EARN, EVENT_KINDS, EXPIRY_S, REDEEM, Events, run_programme
from clientela.demo.pricing import (
    COUPONS,
    Refunds,
    allocate,
    choose_coupons,
    discount_cents,
    settle,
    shipping_cents,
    to_usd_cents,
)
from clientela.demo.vocabulary import ECOMMERCE_STORE, SALESPEOPLE_PER_STORE, STORES
from clientela.model.entities import LoyaltyEvent, Order, OrderLine
from clientela.model.types import OrderStatus

FIRST, REPEAT, CAMPAIGN, INVALID = 0, 1, 2, 3
ORIGINS = ("first", "repeat", "campaign", "invalid")
STATUSES = tuple(status.value for status in OrderStatus)
PENDING, PAID, FULFILLED, PARTIALLY_REFUNDED, REFUNDED, CANCELLED = range(6)
CHANNEL_MIX = np.array([0.40, 0.25, 0.18, 0.07, 0.10])
HABIT = 0.7
"""Share of a customer's orders placed in their habitual channel."""
CANCELLED_SHARE = 0.03
FULL_REFUND_SHARE = 0.01
PARTIAL_REFUND_SHARE = 0.04
ECOMMERCE = len(STORES)
STORE_IDS = (*STORES, ECOMMERCE_STORE)
SALESPEOPLE = tuple(
    f"{store.split('-')[0]}-vend-{k + 1:02d}" for store in STORES
    for k in range(SALESPEOPLE_PER_STORE)
)


@dataclass(frozen=True)
class Purchases:
    """Valid purchases before they are orders: who, when (local calendar days) and why."""

    customer: IntArray
    time: FloatArray
    origin: NDArray[np.int8]
    campaign: IntArray
    campaign_coupon: IntArray
    """Index into COUPONS of the campaign's coupon, -1 for none."""


@dataclass(frozen=True)
class OrderBook:
    """Every order as numpy columns, in key order (which is time order)."""

    ids: pa.Array
    customer: IntArray
    time_s: IntArray
    """Local seconds since the window's start."""
    channel: NDArray[np.int8]
    store: IntArray
    salesperson: IntArray
    status: IntArray
    origin: NDArray[np.int8]
    campaign: IntArray
    usd: NDArray[np.bool_]
    total: IntArray
    refunded: IntArray
    shipping: IntArray
    fx_units: IntArray

    @property
    def valid(self) -> NDArray[np.bool_]:
        valid: NDArray[np.bool_] = (self.status != CANCELLED) & (self.status != REFUNDED)
        return valid

    def revenue_brl_cents(self) -> IntArray:
        """Revenue in the reporting currency, as docs/metrics.md defines it (0 for invalid orders)."""
        revenue = self.total - self.refunded
        brl = np.where(self.usd, (revenue * self.fx_units + 50_000_000) // 100_000_000, revenue)
        return np.where(self.valid, brl, 0)


def _segmented_strict(group: IntArray, t: IntArray) -> IntArray:
    """Make times strictly increasing inside each group (a second apart at least)."""
    n = len(t)
    index = np.arange(n, dtype=np.int64)
    value = t - index
    big = int(t.max(initial=0)) + n + 1
    shifted = np.maximum.accumulate(value + group * big) - group * big
    return shifted + index


def _place(
    rng: np.random.Generator, customers: Customers, purchases: Purchases, window: Window
) -> tuple[IntArray, IntArray, NDArray[np.int8], NDArray[np.int8], IntArray, IntArray]:
    n = len(purchases.customer)
    cust = purchases.customer
    cdf = np.cumsum(CHANNEL_MIX)
    mixed = np.searchsorted(cdf / cdf[-1], rng.random(n), side="right")
    channel = np.where(rng.random(n) < HABIT, customers.primary_channel[cust], mixed)
    first = purchases.origin == FIRST
    acquisition = customers.acquisition[cust]
    channel = np.where(first & (acquisition == ACQUISITION_CHANNELS.index("store")), STORE,
                       channel)
    channel = np.where(first & (acquisition == ACQUISITION_CHANNELS.index("marketplace")),
                       MARKETPLACE, channel)
    far = (customers.home_store[cust] < 0) & (channel == STORE) & (rng.random(n) < 0.8)
    channel = np.where(far | customers.foreign[cust], ONLINE, channel).astype(np.int8)

    day = np.floor(purchases.time).astype(np.int64)
    clock = day * SECONDS_PER_DAY + seconds_of_day(rng, channel, ORDER_CHANNELS)
    exact = np.floor(purchases.time * SECONDS_PER_DAY).astype(np.int64)
    time_s = np.where(purchases.origin == CAMPAIGN, exact, clock)
    time_s = np.minimum(time_s, window.end_s - 1)
    order = np.lexsort((time_s, ~first, cust))
    cust, time_s = cust[order], time_s[order]
    new = np.ones(n, dtype=bool)
    new[1:] = cust[1:] != cust[:-1]
    time_s = np.minimum(_segmented_strict(np.cumsum(new) - 1, time_s), window.end_s - 1)
    return (cust, time_s, channel[order], purchases.origin[order], purchases.campaign[order],
            purchases.campaign_coupon[order])


@dataclass(frozen=True)
class OrderTables:
    book: OrderBook
    orders: pa.Table
    lines: pa.Table
    loyalty: pa.Table


def build_orders(
    rng: np.random.Generator,
    customers: Customers,
    purchases: Purchases,
    n_invalid: int,
    window: Window,
    catalogue: Catalogue,
    fx_units: IntArray,
    numbering: arrays.Numbering = arrays.Numbering(),
) -> OrderTables:
    cust, time_s, channel, origin, campaign, campaign_coupon = _place(
        rng, customers, purchases, window
    )
    n_valid = len(cust)
    parent = rng.integers(0, max(n_valid, 1), n_invalid)
    invalid_time = np.minimum(
        time_s[parent] + rng.integers(600, 3 * SECONDS_PER_DAY, n_invalid), window.end_s - 1
    )
    cancelled = rng.random(n_invalid) < CANCELLED_SHARE / (CANCELLED_SHARE + FULL_REFUND_SHARE)
    cust = np.concatenate([cust, cust[parent]])
    time_s = np.concatenate([time_s, invalid_time])
    channel = np.concatenate([channel, channel[parent]]).astype(np.int8)
    origin = np.concatenate([origin, np.full(n_invalid, INVALID, dtype=np.int8)])
    campaign = np.concatenate([campaign, np.full(n_invalid, -1)])
    campaign_coupon = np.concatenate([campaign_coupon, np.full(n_invalid, -1)])
    status = np.concatenate([np.full(n_valid, FULFILLED),
                             np.where(cancelled, CANCELLED, REFUNDED)]).astype(np.int64)

    key_order = np.lexsort((origin, cust, time_s))
    cust, time_s, status = cust[key_order], time_s[key_order], status[key_order]
    channel, origin = channel[key_order], origin[key_order]
    campaign, campaign_coupon = campaign[key_order], campaign_coupon[key_order]
    n = len(cust)
    ids = numbering.keys("o", n, 8)

    physical = np.isin(channel, [STORE, WHATSAPP])
    home = customers.home_store[cust]
    store = np.where(physical, np.where(home >= 0, home, rng.integers(0, len(STORES), n)),
                     ECOMMERCE)
    seller = np.where(rng.random(n) < 0.7, customers.favourite_seller[cust],
                      rng.integers(0, SALESPEOPLE_PER_STORE, n))
    salesperson = np.where(physical, store * SALESPEOPLE_PER_STORE + seller, -1)

    day = time_s // SECONDS_PER_DAY
    usd = customers.foreign[cust]
    rate = fx_units[day]
    lines = draw_lines(rng, catalogue, customers.spend_tier[cust])
    unit = catalogue.price_cents[lines.product]
    unit = np.where(usd[lines.order], to_usd_cents(unit, rate[lines.order]), unit)
    gross = unit * lines.quantity
    first_line = lines.line_number == 1
    starts = np.flatnonzero(first_line)
    subtotal = np.add.reduceat(gross, starts)

    first_order = origin == FIRST
    coupon = choose_coupons(rng, window, day, channel, first_order, campaign_coupon)
    discount = discount_cents(rng, subtotal, coupon, channel)
    line_discount = allocate(discount, gross, lines.order, first_line, subtotal)
    net = subtotal - discount
    shipping = shipping_cents(rng, net, channel, coupon, usd)

    valid = status == FULFILLED
    settled_early = (window.end_s - time_s) > 3 * SECONDS_PER_DAY
    partial = valid & settled_early & (
        rng.random(n) < PARTIAL_REFUND_SHARE / (1 - CANCELLED_SHARE - FULL_REFUND_SHARE)
    )
    refunds = Refunds(partial=partial, full=status == REFUNDED,
                      fraction=rng.uniform(0.1, 0.6, n))
    status = np.where(partial, PARTIALLY_REFUNDED, status)
    age = window.end_s - time_s
    recent = valid & ~partial
    status = np.where(recent & (age < SECONDS_PER_DAY),
                      np.where(rng.random(n) < 0.5, PENDING, PAID), status)
    status = np.where(recent & (age >= SECONDS_PER_DAY) & (age < 4 * SECONDS_PER_DAY)
                      & (rng.random(n) < 0.4), PAID, status)

    total, refunded = settle(net, np.zeros(n, dtype=np.int64), shipping, refunds)
    loyalty = np.zeros(n, dtype=np.int64)
    earned = np.zeros(n, dtype=np.int64)
    redeemed = np.zeros(n, dtype=np.int64)
    member_orders = np.flatnonzero(
        customers.member[cust] & (channel != MARKETPLACE) & ~usd
        & (status != CANCELLED) & (status != REFUNDED)
    )
    sub = member_orders
    settlement, events = run_programme(
        cust[sub], time_s[sub], net[sub], shipping[sub],
        Refunds(refunds.partial[sub], refunds.full[sub], refunds.fraction[sub]),
        rng.random(len(sub)), window.end_s,
    )
    loyalty[sub], earned[sub], redeemed[sub] = (
        settlement.loyalty_cents, settlement.earned, settlement.redeemed
    )
    total[sub], refunded[sub] = settlement.total, settlement.refunded

    updated = time_s + np.select(
        [status == FULFILLED, (status == PARTIALLY_REFUNDED) | (status == REFUNDED),
         status == CANCELLED],
        [rng.integers(SECONDS_PER_DAY, 6 * SECONDS_PER_DAY, n),
         rng.integers(7 * SECONDS_PER_DAY, 30 * SECONDS_PER_DAY, n),
         rng.integers(3600, 2 * SECONDS_PER_DAY, n)],
        0,
    )
    updated = np.minimum(updated, window.end_s - 1)

    book = OrderBook(
        ids=ids, customer=cust, time_s=time_s, channel=channel, store=store,
        salesperson=salesperson, status=status, origin=origin, campaign=campaign, usd=usd,
        total=total, refunded=refunded, shipping=shipping, fx_units=np.where(usd, rate, 0),
    )
    customer_ids = customers.ids
    orders = arrays.table(Order, {
        "order_id": ids,
        "customer_id": customer_ids.take(pa.array(cust)),
        "status": arrays.pick(STATUSES, status),
        "placed_at": arrays.timestamps(window.utc_us(time_s)),
        "updated_at": arrays.timestamps(window.utc_us(updated)),
        "currency": arrays.pick(("BRL", "USD"), usd.astype(np.int64)),
        "fx_rate": arrays.decimal(rate, scale=8, mask=~usd),
        "subtotal": arrays.decimal(subtotal),
        "discount": arrays.decimal(discount),
        "shipping": arrays.decimal(shipping),
        "tax": arrays.decimal(np.zeros(n, dtype=np.int64)),
        "total": arrays.decimal(total),
        "refunded_amount": arrays.decimal(refunded),
        "channel": arrays.pick(ORDER_CHANNELS, channel.astype(np.int64)),
        "store_id": arrays.pick(STORE_IDS, store),
        "salesperson_id": arrays.pick(SALESPEOPLE, np.maximum(salesperson, 0),
                                      mask=salesperson < 0),
        "coupon": arrays.pick(COUPONS, np.maximum(coupon, 0), mask=coupon < 0),
        "loyalty_points_earned": arrays.integers(earned),
        "loyalty_points_redeemed": arrays.integers(redeemed),
        "loyalty_discount": arrays.decimal(loyalty),
    }, n)
    line_table = arrays.table(OrderLine, {
        "order_id": ids.take(pa.array(lines.order)),
        "line_id": arrays.number_text(lines.line_number),
        "sku": catalogue.sku.take(pa.array(lines.product)),
        "product_id": catalogue.product_id.take(pa.array(lines.product)),
        "product_name": catalogue.name.take(pa.array(lines.product)),
        "category": arrays.pick(catalogue.category_names, catalogue.category[lines.product]),
        "quantity": arrays.integers(lines.quantity),
        "unit_price": arrays.decimal(unit),
        "discount": arrays.decimal(line_discount),
        "total": arrays.decimal(gross - line_discount),
    }, len(lines.order))
    loyalty_table = _ledger(events, sub, ids, customer_ids, window, numbering)
    return OrderTables(book=book, orders=orders, lines=line_table, loyalty=loyalty_table)


def _ledger(
    events: Events, eligible: IntArray, order_ids: pa.Array, customer_ids: pa.Array,
    window: Window, numbering: arrays.Numbering,
) -> pa.Table:
    """LoyaltyEvent rows keyed in time order; at one instant: expire, then redeem, then earn."""
    rank = np.array([2, 1, 0])[events.kind]
    order = np.lexsort((rank, events.customer, events.time_s))
    kind = events.kind[order]
    time_s = events.time_s[order]
    linked = events.order[order]
    n = len(order)
    return arrays.table(LoyaltyEvent, {
        "event_id": numbering.keys("le", n, 8),
        "customer_id": customer_ids.take(pa.array(events.customer[order])),
        "kind": arrays.pick(EVENT_KINDS, kind.astype(np.int64)),
        "points": arrays.integers(events.points[order]),
        "occurred_at": arrays.timestamps(window.utc_us(time_s)),
        "order_id": order_ids.take(
            pa.array(eligible[np.maximum(linked, 0)], mask=linked < 0)
        ),
        "expires_at": arrays.timestamps(window.utc_us(time_s + EXPIRY_S), mask=kind != EARN),
        "discount_value": arrays.decimal(events.discount_cents[order], mask=kind != REDEEM),
    }, n)
