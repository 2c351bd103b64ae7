"""The ledger: each customer's history replayed in time order, lot by lot.

A balance is sequential by nature (what a redemption may take depends on
every earlier entry), so the replay walks each customer's happenings in
order, but everything that does not depend on the balance (the money of
each order, expiry instants, tiers' windows) is computed beforehand for all
orders at once.

The rules the replay applies, one place for each:

- **earn**: an order's eligible net paid value times the earn rate (and its
  tier's multiplier), rounded down, as one lot that becomes available
  `lock_days` after the order. A refund or cancellation known by then
  shrinks the lot itself (nothing to reverse).
- **redeem**: the points an order redeemed, taken from the available lots
  soonest-to-expire first, never more than the balance (a redemption the
  balance cannot cover is recorded for what it could, and counted).
- **expire**: when a lot's time comes, only what is left of it (after
  redemptions and reversals) expires.
- **reverse**: a refund or cancellation after the lot became available
  takes back the points of the refunded share, never more than is left of
  that lot.
- **adjust**: a person's entry. A positive one is a lot like an earn; a
  negative one is taken like a redemption.

At one instant, lots due expire first, then reversals, redemptions, earns and
adjustments. Entries are keyed by kind and order (or lot), the order by its whole key
(source and id, `ids.order_key`), so replaying the same history gives the same keys and
the same rows: a run over the whole
history and a run every day write the same ledger.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela_loyalty.calendar import US_PER_DAY, add_months, expiry_instants, review_instants
from clientela_loyalty.history import ENGINE_SOURCE, Adjustments, Orders
from clientela_loyalty.ids import order_key
from clientela_loyalty.queue import group_starts, queue_ledger, queued
from clientela_loyalty.rules import LoyaltyRules
from clientela_loyalty.tiers import TierChange, customer_tiers

EXPIRE, REVERSE, REDEEM, EARN, ADJUST = 0, 1, 2, 3, 4
"""Also the order of happenings at one instant (expiry is applied before any of them)."""
KIND_NAMES = ("expire", "reverse", "redeem", "earn", "adjust")


@dataclass
class Entries:
    """The computed ledger rows, column by column (adjust rows are inputs, not here)."""

    event_id: list[str] = field(default_factory=list)
    customer_id: list[str] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    points: list[int] = field(default_factory=list)
    at: list[int] = field(default_factory=list)
    order_id: list[str | None] = field(default_factory=list)
    order_source: list[str | None] = field(default_factory=list)
    expires: list[int | None] = field(default_factory=list)

    def add(self, event_id: str, customer: str, kind: int, points: int, at: int,
            order: tuple[str, str] | None, expires: int | None = None) -> int:
        """`order`: the (source, order_id) of the order the row is tied to."""
        self.event_id.append(event_id)
        self.customer_id.append(customer)
        self.kind.append(kind)
        self.points.append(points)
        self.at.append(at)
        self.order_source.append(None if order is None else order[0])
        self.order_id.append(None if order is None else order[1])
        self.expires.append(expires)
        return len(self.event_id) - 1

    def __len__(self) -> int:
        return len(self.event_id)

    def to_arrow(self) -> pa.Table:
        return _table(pa.array(self.event_id, pa.string()), pa.array(self.customer_id, pa.string()),
                      pa.array([KIND_NAMES[k] for k in self.kind], pa.string()),
                      pa.array(self.points, pa.int64()), pa.array(self.at, pa.int64()),
                      pa.array(self.order_id, pa.string()), pa.array(self.expires, pa.int64()),
                      pa.array(self.order_source, pa.string()))


def _table(event_id: pa.Array, customer_id: pa.Array, kind: pa.Array, points: pa.Array,
           at: pa.Array, order_id: pa.Array, expires: pa.Array,
           order_source: pa.Array) -> pa.Table:
    """LoyaltyEvent columns, timestamps as naive UTC microseconds like the store's. The
    rows' source is the engine's; `order_source` names the source of their order."""
    return pa.table({
        "source": pa.array([ENGINE_SOURCE] * len(event_id), pa.string()),
        "event_id": event_id, "customer_id": customer_id, "kind": kind, "points": points,
        "occurred_at": at.cast(pa.timestamp("us")), "order_id": order_id,
        "expires_at": expires.cast(pa.timestamp("us")), "order_source": order_source,
    })


@dataclass
class Ledger:
    table: pa.Table
    """The computed rows, as LoyaltyEvent columns (source `loyalty`)."""
    tier_changes: list[TierChange]
    capped: int
    """Redemptions (or negative adjustments) the balance could not wholly cover."""
    customers: int
    """How many customers the replay covered (with or without entries)."""


class _Lot:
    __slots__ = ("entry", "expires", "key", "left", "seq")

    def __init__(self, expires: int, seq: int, left: int, key: str, entry: int | None) -> None:
        self.expires, self.seq, self.left, self.key, self.entry = expires, seq, left, key, entry

    def __lt__(self, other: _Lot) -> bool:
        return (self.expires, self.seq) < (other.expires, other.seq)


class _Wallet:
    """One customer's lots during the replay, soonest to expire first."""

    def __init__(self, customer: str, entries: Entries, rolling: bool) -> None:
        self.customer, self.entries, self.rolling = customer, entries, rolling
        self.lots: list[_Lot] = []
        self.debt = 0
        """Points owed after a reversal beyond the balance (only with reversal_overdraw)."""
        self.deadline: int | None = None
        """With expiry after the last purchase: when every point held expires."""

    def expiry(self, own: int, moment: int) -> int:
        """A new lot's expiry: its own, or, when expiry is rolling, the customer's deadline
        unless it has passed (a lot of an order that is no purchase, such as a cancelled one,
        arriving after every earlier point expired keeps its own)."""
        if self.rolling and self.deadline is not None and self.deadline > moment:
            return self.deadline
        return own

    def move_deadline(self, deadline: int) -> None:
        self.deadline = deadline
        for lot in self.lots:
            lot.expires = deadline

    def add(self, points: int, expires: int, seq: int, key: str, entry: int | None) -> _Lot:
        """A new lot; it pays off any debt first."""
        paid = min(self.debt, points)
        self.debt -= paid
        lot = _Lot(expires, seq, points - paid, key, entry)
        lots = self.lots
        if not lots or lots[-1].expires < expires:  # the usual case: it expires last
            lots.append(lot)
        else:
            insort(lots, lot)
        return lot

    def expire_through(self, moment: int) -> None:
        """Expire what is left of every lot due at or before `moment`."""
        lots = self.lots
        while lots and lots[0].expires <= moment:
            lot = lots.pop(0)
            if lot.left > 0:
                self.entries.add(f"expire:{lot.key}", self.customer, EXPIRE, -lot.left,
                                 lot.expires, None)
                lot.left = 0

    def take(self, wanted: int) -> int:
        """Points taken from the lots, soonest to expire first; at most what they hold."""
        got = 0
        for lot in self.lots:
            if got == wanted:
                break
            step = min(lot.left, wanted - got)
            lot.left -= step
            got += step
        while self.lots and self.lots[0].left == 0:
            self.lots.pop(0)
        return got


def _floor_points(cents: int, numerator: int, denominator: int) -> int:
    return cents * numerator // denominator


def compute_ledger(orders: Orders, adjustments: Adjustments, rules: LoyaltyRules,
                   timezone: str, until_us: int) -> Ledger:
    """Every customer of `orders` and `adjustments` up to `until` (exclusive): those whose
    lots form a queue at once (`queue.queue_ledger`), the others replayed."""
    plain = queued(orders, adjustments, rules, timezone, until_us)
    fast, capped = queue_ledger(orders.take(plain), rules, timezone, until_us)
    plain_customers = len(pc.unique(orders.customer.filter(pa.array(plain))))
    tables, changes, covered = [fast], [], plain_customers
    for part_orders, part_adjustments in _parts(orders.take(~plain), adjustments,
                                                REPLAY_PART_ORDERS):
        part = _replay(part_orders, part_adjustments, rules, timezone, until_us)
        tables.append(part.table)
        changes.extend(part.tier_changes)
        capped += part.capped
        covered += part.customers
    return Ledger(pa.concat_tables(tables), changes, capped, covered)


REPLAY_PART_ORDERS = 250_000
"""Orders replayed at a time: the replay holds its part as Python lists, so the parts
bound its memory whatever the store's size."""


def _parts(orders: Orders, adjustments: Adjustments,
           size: int) -> Iterator[tuple[Orders, Adjustments]]:
    """`orders` and `adjustments` in parts of about `size` orders, never splitting a
    customer (both are sorted by customer; an adjusted customer without orders goes with
    the part whose range of customers holds it)."""
    n = len(orders.placed)
    if n <= size:
        yield orders, adjustments
        return
    starts = np.flatnonzero(group_starts(orders.customer))
    cuts = np.unique(starts[np.minimum(np.searchsorted(starts, np.arange(size, n, size)),
                                       len(starts) - 1)])
    bounds = [0, *(int(c) for c in cuts if 0 < c < n), n]
    for lo, hi in pairwise(bounds):
        wanted = np.ones(len(adjustments.at), dtype=bool)
        if lo > 0:
            wanted &= pc.greater_equal(adjustments.customer, orders.customer[lo]).to_numpy(
                zero_copy_only=False)
        if hi < n:
            wanted &= pc.less(adjustments.customer, orders.customer[hi]).to_numpy(
                zero_copy_only=False)
        yield orders.slice(lo, hi), adjustments.take(wanted)


def _replay(orders: Orders, adjustments: Adjustments, rules: LoyaltyRules,
            timezone: str, until_us: int) -> Ledger:
    """Replay every customer of `orders` and `adjustments` up to `until` (exclusive)."""
    months, days, month_end = rules.expiry_months, rules.expiry_days, rules.expire_at_month_end
    expiry_of_order = expiry_instants(orders.placed, months, days, timezone, month_end=month_end)
    expiry_of_adjust = expiry_instants(adjustments.at, months, days, timezone,
                                       month_end=month_end)
    lock_us = rules.lock_days * US_PER_DAY
    rate = rules.rate
    multipliers = rules.multipliers()
    thresholds = [int(tier.min_spend * 100) for tier in rules.tiers]
    if rules.tiers and len(orders.placed):
        window_end = add_months(orders.placed, 12, timezone)
        reviews = review_instants(int(orders.placed.min()) - 1, until_us - 1,
                                  rules.tier_review_months, timezone)
    else:
        window_end = reviews = np.zeros(0, np.int64)
    rolling = rules.expiry == "last_purchase"

    entries = Entries()
    changes: list[TierChange] = []
    capped = 0
    order_customers = orders.customer.to_pylist()
    adjust_customers = adjustments.customer.to_pylist()
    # plain Python lists: indexing them is several times cheaper than numpy scalars
    placed, updated = orders.placed.tolist(), orders.updated.tolist()
    eligible, redeemed = orders.eligible_cents.tolist(), orders.redeemed_points.tolist()
    valid, shares = orders.valid.tolist(), orders.reversed_share
    order_expiry, adjust_expiry = expiry_of_order.tolist(), expiry_of_adjust.tolist()
    adjust_at, adjust_points = adjustments.at.tolist(), adjustments.points.tolist()
    covered = 0
    order_ids = orders.order_id.to_pylist()
    order_keys = list(zip(orders.source.to_pylist(), order_ids, strict=True))
    keys = [order_key(source, order) for source, order in order_keys]  # see `ids`

    i = j = 0
    n_orders, n_adjust = len(order_customers), len(adjust_customers)
    while i < n_orders or j < n_adjust:
        customer = min(c for c in (order_customers[i] if i < n_orders else None,
                                   adjust_customers[j] if j < n_adjust else None) if c is not None)
        i_end = i
        while i_end < n_orders and order_customers[i_end] == customer:
            i_end += 1
        j_end = j
        while j_end < n_adjust and adjust_customers[j_end] == customer:
            j_end += 1
        covered += 1

        tiers = [0] * (i_end - i)
        if rules.tiers:
            tiers = customer_tiers(customer, placed[i:i_end], window_end[i:i_end],
                                   orders.spend_cents[i:i_end], valid[i:i_end], thresholds,
                                   reviews, until_us, changes)

        # every happening of this customer: (instant, rank, sequence, index)
        happenings: list[tuple[int, int, int, int]] = []
        for k in range(i, i_end):
            p = placed[k]
            if redeemed[k] > 0 or rolling:
                happenings.append((p, REDEEM, k, k))
            if eligible[k] > 0 and p + lock_us < until_us:
                happenings.append((p + lock_us, EARN, k, k))
                if shares[k][0] > 0 and updated[k] > p + lock_us and updated[k] < until_us:
                    happenings.append((updated[k], REVERSE, k, k))
        for k in range(j, j_end):
            happenings.append((adjust_at[k], ADJUST, k, k))
        happenings.sort()

        wallet = _Wallet(customer, entries, rolling)
        lot_of_order: dict[int, _Lot] = {}
        earned_of_order: dict[int, int] = {}

        for moment, rank, seq, k in happenings:
            wallet.expire_through(moment)
            if rank == REDEEM:
                wanted = redeemed[k]
                if wanted > 0:
                    got = wallet.take(wanted)
                    capped += got < wanted
                    if got:
                        entries.add(f"redeem:{keys[k]}", customer, REDEEM, -got,
                                    moment, order_keys[k])
                if rolling and valid[k]:
                    wallet.move_deadline(order_expiry[k])
            elif rank == EARN:
                mult = multipliers[tiers[k - i]]
                numerator, denominator = rate.numerator * mult.numerator, \
                    100 * rate.denominator * mult.denominator
                refunded, total = shares[k]
                cents = eligible[k]
                if refunded and updated[k] <= moment:  # known before the points unlock
                    points = _floor_points(cents * (total - refunded), numerator,
                                           denominator * total)
                else:
                    points = _floor_points(cents, numerator, denominator)
                earned_of_order[k] = points
                if points > 0:
                    expires = wallet.expiry(order_expiry[k], moment)
                    entry = entries.add(f"earn:{keys[k]}", customer, EARN, points,
                                        moment, order_keys[k], expires)
                    lot_of_order[k] = wallet.add(points, expires, seq, keys[k], entry)
            elif rank == REVERSE:
                lot = lot_of_order.get(k)
                if lot is not None:
                    mult = multipliers[tiers[k - i]]
                    refunded, total = shares[k]
                    kept = _floor_points(
                        eligible[k] * (total - refunded),
                        rate.numerator * mult.numerator,
                        100 * rate.denominator * mult.denominator * total)
                    wanted = earned_of_order[k] - kept
                    back = min(wanted, lot.left)
                    lot.left -= back
                    if rules.reversal_overdraw and wanted > back:
                        got = wallet.take(wanted - back)
                        wallet.debt += wanted - back - got
                        back = wanted
                    if back > 0:
                        entries.add(f"reverse:{keys[k]}", customer, REVERSE, -back,
                                    moment, order_keys[k])
            else:  # ADJUST
                points = adjust_points[k]
                if points > 0:
                    wallet.add(points, wallet.expiry(adjust_expiry[k], moment), n_orders + k,
                               adjustments.event_id[k], None)
                elif points < 0:
                    got = wallet.take(-points)
                    capped += got < -points
        wallet.expire_through(until_us - 1)
        if rolling:  # an earn's expiry is when its lot's deadline finally fell
            for lot in lot_of_order.values():
                if lot.entry is not None:
                    entries.expires[lot.entry] = lot.expires
        i, j = i_end, j_end
    return Ledger(entries.to_arrow(), changes, capped, covered)

