"""The ledger of customers whose lots form a queue, computed for all of them at once.

When lots expire on their own (no rolling expiry, no tiers) and a customer has
no reversal after an unlock and no adjustment, their lots are a queue: each
order's lot is created after the previous one and expires no sooner, and
redemptions and expiries both take from the front. Lay the lots end to end
on one axis of cumulative points earned (lot k spans `[start_k, end_k)`);
what has left the queue is then always a prefix `[0, P)`, and each happening
moves P by a clamp that does not depend on anything else:

- a redemption of r points when E points were earned so far: P <- min(P + r, E)
  (never more than the balance E - P);
- lot k's expiry: P <- max(P, end_k) (what was left of it, nothing more);
- an earn: P unchanged (E, known beforehand, grows).

Functions `x -> min(max(x + a, lo), hi)` are closed under composition, so P
after every happening is a segmented prefix scan of such triples, done by
doubling with numpy (log2 of the longest history steps). The points a
happening moved are the difference of P around it. This gives exactly the
rows the replay (`ledger._replay`) writes for these customers; the rest are
replayed.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clientela_loyalty.calendar import US_PER_DAY, expiry_instants
from clientela_loyalty.history import Adjustments, Orders
from clientela_loyalty.ids import event_ids, order_keys
from clientela_loyalty.rules import LoyaltyRules

_EXPIRE, _REDEEM, _EARN = 0, 2, 3
"""Order of happenings at one instant, as in the replay (expiry first)."""


def group_starts(customer: pa.Array) -> np.ndarray:
    """True where a customer's run of rows begins (rows sorted by customer)."""
    n = len(customer)
    starts = np.ones(n, dtype=bool)
    if n > 1:
        starts[1:] = pc.not_equal(customer[1:], customer[:-1]).to_numpy(zero_copy_only=False)
    return starts


def earned_points(orders: Orders, rules: LoyaltyRules, until_us: int) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Each order's earn instant and points (0: no lot), without tiers: the lot shrunk by a
    refund known when the points unlock, as the replay does."""
    rate = rules.rate
    mult = rules.multipliers()[0]
    numerator = rate.numerator * mult.numerator
    denominator = 100 * rate.denominator * mult.denominator
    earn_at = orders.placed + rules.lock_days * US_PER_DAY
    refunded = np.fromiter((s[0] for s in orders.reversed_share), np.int64,
                           len(orders.placed))
    total = np.fromiter((s[1] for s in orders.reversed_share), np.int64, len(orders.placed))
    cents = orders.eligible_cents
    shrunk = (refunded > 0) & (orders.updated <= earn_at)
    full = cents * numerator // denominator
    kept = cents * (total - refunded) * numerator // (denominator * total)
    points = np.where(shrunk, kept, full)
    points = np.where((cents > 0) & (earn_at < until_us), points, 0)
    return earn_at, points


def queued(orders: Orders, adjustments: Adjustments, rules: LoyaltyRules, timezone: str,
           until_us: int) -> np.ndarray:
    """The orders of customers whose lots form a queue (see the module's docstring)."""
    n = len(orders.placed)
    if rules.expiry == "last_purchase" or rules.tiers or n == 0:
        return np.zeros(n, dtype=bool)
    group = np.cumsum(group_starts(orders.customer)) - 1
    earn_at = orders.placed + rules.lock_days * US_PER_DAY
    refunded = np.fromiter((s[0] > 0 for s in orders.reversed_share), bool, n)
    reversal = refunded & (orders.eligible_cents > 0) & (earn_at < until_us) \
        & (orders.updated > earn_at) & (orders.updated < until_us)
    expires = expiry_instants(orders.placed, rules.expiry_months, rules.expiry_days, timezone,
                              month_end=rules.expire_at_month_end)
    odd = expires <= earn_at  # a lot due before it unlocks: left to the replay
    busy = np.bincount(group, weights=reversal | odd) > 0
    adjusted = pc.is_in(orders.customer, value_set=pc.unique(adjustments.customer)).to_numpy(
        zero_copy_only=False) if len(adjustments.at) else np.zeros(n, dtype=bool)
    keep: np.ndarray = ~busy[group] & ~adjusted
    return keep


def _compose(first: tuple[np.ndarray, np.ndarray, np.ndarray],
             then: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """`then` after `first`, both x -> min(max(x + a, lo), hi) with lo <= hi."""
    a1, lo1, hi1 = first
    a2, lo2, hi2 = then
    low = np.maximum(lo1 + a2, lo2)
    high = np.minimum(np.maximum(hi1 + a2, lo2), hi2)
    return a1 + a2, np.minimum(low, high), high


def _segmented_scan(group: np.ndarray, a: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray) -> np.ndarray:
    """P after each happening, starting from 0 in each group (rows sorted by group)."""
    n = len(a)
    step = 1
    while step < n:
        same = np.zeros(n, dtype=bool)
        same[step:] = group[step:] == group[:-step]
        if not same.any():
            break
        rows = np.flatnonzero(same)
        earlier = rows - step
        a_new, lo_new, hi_new = _compose((a[earlier], lo[earlier], hi[earlier]),
                                         (a[rows], lo[rows], hi[rows]))
        a, lo, hi = a.copy(), lo.copy(), hi.copy()
        a[rows], lo[rows], hi[rows] = a_new, lo_new, hi_new
        step *= 2
    result: np.ndarray = np.minimum(np.maximum(a, lo), hi)
    return result


def queue_ledger(orders: Orders, rules: LoyaltyRules, timezone: str,
                 until_us: int) -> tuple[pa.Table, int]:
    """The earn, redeem and expire rows of queued orders (see `queued`) and how many
    redemptions the balance could not wholly cover."""
    from clientela_loyalty.ledger import _table  # the one definition of the row layout

    n = len(orders.placed)
    group = np.cumsum(group_starts(orders.customer)) - 1
    earn_at, points = earned_points(orders, rules, until_us)
    expires = expiry_instants(orders.placed, rules.expiry_months, rules.expiry_days, timezone,
                              month_end=rules.expire_at_month_end)
    lot = points > 0
    # the end of each lot on the axis of points earned, per customer
    running = np.cumsum(points)
    first_row = np.flatnonzero(group_starts(orders.customer)) if n else np.zeros(0, np.int64)
    before_group = (running - points)[first_row] if n else np.zeros(0, np.int64)
    lot_end = running - before_group[group]
    index = np.arange(n)

    earn_rows = np.flatnonzero(lot)
    redeem_rows = np.flatnonzero(orders.redeemed_points > 0)
    expire_rows = np.flatnonzero(lot & (expires < until_us))
    kinds = np.concatenate([np.full(len(earn_rows), _EARN), np.full(len(redeem_rows), _REDEEM),
                            np.full(len(expire_rows), _EXPIRE)])
    rows = np.concatenate([earn_rows, redeem_rows, expire_rows])
    at = np.concatenate([earn_at[earn_rows], orders.placed[redeem_rows],
                         expires[expire_rows]])
    order = np.lexsort((index[rows], kinds, at, group[rows]))
    kinds, rows, at = kinds[order], rows[order], at[order]
    g = group[rows]

    # E (points earned so far) at each happening: earns sort before what they precede
    earned_so_far = np.where(kinds == _EARN, points[rows], 0).astype(np.float64)
    cumulative = np.cumsum(earned_so_far)
    seg_first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, int)
    seg_of = np.cumsum(np.r_[True, g[1:] != g[:-1]]) - 1 if len(g) else np.zeros(0, int)
    base = (cumulative - earned_so_far)[seg_first] if len(g) else np.zeros(0)
    cap = cumulative - base[seg_of]

    inf = np.inf
    is_redeem, is_expire = kinds == _REDEEM, kinds == _EXPIRE
    a = np.where(is_redeem, orders.redeemed_points[rows], 0).astype(np.float64)
    lo = np.where(is_expire, lot_end[rows], -inf).astype(np.float64)
    hi = np.where(is_redeem, cap, inf)
    after = _segmented_scan(g, a, lo, hi)
    before = np.zeros(len(after))
    if len(after) > 1:
        before[1:] = np.where(g[1:] == g[:-1], after[:-1], 0)
    moved = np.rint(after - before).astype(np.int64)

    capped = int(np.count_nonzero(is_redeem & (moved < orders.redeemed_points[rows])))
    ids, customers, sources = orders.order_id, orders.customer, orders.source
    keys = order_keys(sources, ids)  # an id names the order's source too (`ids`)

    def pick(column: pa.Array, where: np.ndarray) -> pa.Array:
        return column.take(pa.array(where, pa.int64()))

    earns = _table(event_ids("earn", pick(keys, earn_rows)),
                   pick(customers, earn_rows), pa.array(np.full(len(earn_rows), "earn")),
                   pa.array(points[earn_rows]), pa.array(earn_at[earn_rows]),
                   pick(ids, earn_rows), pa.array(expires[earn_rows]), pick(sources, earn_rows))
    spent = is_redeem & (moved > 0)
    r = rows[spent]
    redeems = _table(event_ids("redeem", pick(keys, r)),
                     pick(customers, r), pa.array(np.full(len(r), "redeem")),
                     pa.array(-moved[spent]), pa.array(at[spent]), pick(ids, r),
                     pa.nulls(len(r), pa.int64()), pick(sources, r))
    gone = is_expire & (moved > 0)
    x = rows[gone]
    expired = _table(event_ids("expire", pick(keys, x)),
                     pick(customers, x), pa.array(np.full(len(x), "expire")),
                     pa.array(-moved[gone]), pa.array(at[gone]), pa.nulls(len(x), pa.string()),
                     pa.nulls(len(x), pa.int64()), pa.nulls(len(x), pa.string()))
    return pa.concat_tables([earns, redeems, expired]), capped
