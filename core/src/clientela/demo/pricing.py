"""How an order's money adds up, in integer cents so every identity is exact.

    total = subtotal - discount - loyalty_discount + shipping + tax

Brazilian shelf prices include taxes (ICMS and the rest are inside the
price), so the demo records tax = 0 and says so in `truth.tax_included`;
the identity holds either way. Coupons are percentages of the subtotal,
allocated to the lines so that the lines' discounts add up to the order's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from clientela.demo.calendar import IntArray, Window, black_friday_week, mothers_day
from clientela.demo.customers import APP, MARKETPLACE, ONLINE, STORE, WHATSAPP

COUPONS = ("BEMVINDO10", "BLACK20", "NATAL15", "MAES10", "RELAMPAGO10", "FRETEGRATIS", "VOLTE5")
COUPON_PERCENT = np.array([10, 20, 15, 10, 10, 0, 5], dtype=np.int64)
FREE_SHIPPING = COUPONS.index("FRETEGRATIS")
SELLER_DISCOUNT_PERCENT = 5
FREE_SHIPPING_FROM_CENTS = 29_900
SHIPPING_CENTS = 1_990
WHATSAPP_DELIVERY_CENTS = 990
ABROAD_SHIPPING_CENTS = 2_500
ABROAD_FREE_FROM_CENTS = 20_000
USD_PER_BRL_START = 5.0


def fx_series(rng: np.random.Generator, n_days: int) -> IntArray:
    """BRL per USD each day, as units of 1e-8 (the store's DECIMAL(18,8))."""
    walk = USD_PER_BRL_START * np.exp(np.cumsum(rng.normal(0.0, 0.006, n_days)))
    return np.round(np.clip(walk, 4.4, 6.3) * 1e8).astype(np.int64)


def to_usd_cents(brl_cents: IntArray, rate_units: IntArray) -> IntArray:
    """Round-half-up integer division, so a price never depends on float noise."""
    return (brl_cents * 200_000_000 + rate_units) // (2 * rate_units)


def _day_flags(window: Window) -> dict[str, NDArray[np.bool_]]:
    flags = {name: np.zeros(window.n_days, dtype=bool) for name in ("black", "xmas", "mothers")}
    for year in range(window.start.year, window.end.year + 1):
        spans = {
            "black": black_friday_week(year),
            "xmas": (window.start.replace(year=year, month=12, day=1),
                     window.start.replace(year=year, month=12, day=24)),
        }
        mom = mothers_day(year)
        spans["mothers"] = (mom.fromordinal(mom.toordinal() - 10), mom)
        for name, (first, last) in spans.items():
            lo = max(window.day_index(first), 0)
            hi = min(window.day_index(last) + 1, window.n_days)
            if lo < hi:
                flags[name][lo:hi] = True
    return flags


def choose_coupons(
    rng: np.random.Generator,
    window: Window,
    day: IntArray,
    channel: NDArray[np.int8],
    first: NDArray[np.bool_],
    campaign_coupon: IntArray,
) -> IntArray:
    """Index into COUPONS per order, -1 for none; the most specific reason wins."""
    n = len(day)
    coupon = np.full(n, -1, dtype=np.int64)
    digital = np.isin(channel, [ONLINE, APP])
    u = rng.random(n)
    coupon[digital & (u < 0.04)] = FREE_SHIPPING
    coupon[digital & (u >= 0.04) & (u < 0.07)] = COUPONS.index("VOLTE5")
    flags = _day_flags(window)
    sellable = channel != MARKETPLACE
    for name, code, share in (("xmas", "NATAL15", 0.2), ("mothers", "MAES10", 0.2),
                              ("black", "BLACK20", 0.45)):
        coupon[flags[name][day] & sellable & (rng.random(n) < share)] = COUPONS.index(code)
    coupon[first & digital & (rng.random(n) < 0.3)] = COUPONS.index("BEMVINDO10")
    use_campaign = (campaign_coupon >= 0) & sellable & (rng.random(n) < 0.6)
    coupon[use_campaign] = campaign_coupon[use_campaign]
    return coupon


def discount_cents(
    rng: np.random.Generator, subtotal: IntArray, coupon: IntArray, channel: NDArray[np.int8]
) -> IntArray:
    percent = np.where(coupon >= 0, COUPON_PERCENT[np.maximum(coupon, 0)], 0)
    seller = (coupon < 0) & np.isin(channel, [STORE, WHATSAPP]) & (rng.random(len(coupon)) < 0.06)
    percent = np.where(seller, SELLER_DISCOUNT_PERCENT, percent)
    return (subtotal * percent + 50) // 100


def allocate(discount: IntArray, gross: IntArray, order: IntArray, first_line: NDArray[np.bool_],
             subtotal: IntArray) -> IntArray:
    """Spread each order's discount over its lines in proportion, remainder on the first line."""
    share = discount[order] * gross // np.maximum(subtotal[order], 1)
    remainder = discount - np.bincount(order, weights=share, minlength=len(discount)).astype(
        np.int64
    )
    return share + np.where(first_line, remainder[order], 0)


def shipping_cents(
    rng: np.random.Generator,
    net: IntArray,
    channel: NDArray[np.int8],
    coupon: IntArray,
    abroad: NDArray[np.bool_],
) -> IntArray:
    n = len(net)
    digital = np.isin(channel, [ONLINE, APP])
    shipping = np.where(digital & (net < FREE_SHIPPING_FROM_CENTS), SHIPPING_CENTS, 0)
    delivery = (channel == WHATSAPP) & (rng.random(n) < 0.5)
    shipping = np.where(delivery, WHATSAPP_DELIVERY_CENTS, shipping)
    shipping = np.where(abroad, np.where(net < ABROAD_FREE_FROM_CENTS, ABROAD_SHIPPING_CENTS, 0),
                        shipping)
    return np.where(coupon == FREE_SHIPPING, 0, shipping).astype(np.int64)


@dataclass(frozen=True)
class Refunds:
    """What happens to an order after it is placed, drawn before its money is settled."""

    partial: NDArray[np.bool_]
    full: NDArray[np.bool_]
    fraction: NDArray[np.float64]


def settle(
    net: IntArray, loyalty: IntArray, shipping: IntArray, refunds: Refunds
) -> tuple[IntArray, IntArray]:
    """(total, refunded_amount); a partial refund is strictly between 0 and the total."""
    total = net - loyalty + shipping
    partial = np.clip(np.round(refunds.fraction * total).astype(np.int64), 1,
                      np.maximum(total - 1, 1))
    refunded = np.where(refunds.partial, partial, np.where(refunds.full, total, 0))
    return total, refunded.astype(np.int64)
