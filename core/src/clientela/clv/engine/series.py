"""Customer summaries as of each period's end, from one query.

A time series of predicted CLV needs the models' (x, t_x, T, m) summary as of
every period's end. Asking the store once per period aggregates the whole
history again each time (36 scans of every order for a three-year monthly
series). Here the store is asked once for every valid order (customer, local
day, cents) up to the series' end, the orders become purchase days with one
sort of integer keys, and the summaries follow in numpy, one
period after another, by adding each period's purchase days to running
per-customer counters: a few milliseconds per period instead of a scan.

The definitions are those of `clientela.clv.engine.summary` (a purchase is a
local day with a valid order, T runs to the last local day before the end),
and a test holds the two to identical arrays. They agree only when every
period ends at a local midnight, so a day never straddles two periods;
`aligned` tells the metrics when that holds (calendar grains always do).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from clientela.clv.engine.summary import (
    DAYS_PER_UNIT,
    CustomerSummary,
    last_day,
    order_days,
    periods_per_month,
)
from clientela.clv.models.inputs import checked_already
from clientela.kpi.context import MetricContext
from clientela.kpi.periods import Period

IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]
"""Customer codes and day numbers: a million customers and days since 1970 fit, in half
the memory of the ten million purchase days' int64."""
FloatArray = NDArray[np.float64]


def aligned(periods: Sequence[Period]) -> bool:
    """True when every period starts and ends at a local midnight."""
    return all(moment.time() == time(0) for p in periods for moment in (p.start, p.end))


@dataclass(frozen=True)
class Counters:
    """Per customer code, what `summaries` adds up along a series: purchase days, their
    value in cents (whole numbers in float64, so any order of addition is exact) and the
    last purchase day (int64 min for none)."""

    purchases: IntArray
    cents: FloatArray
    last: IntArray


@dataclass(frozen=True)
class PurchaseDays:
    """Every purchase day before some instant, customers coded in customer_id order.

    `code`, `day` and `cents` are one entry per (customer, local day), sorted by code then
    day (`summaries` relies on it: a customer's last entry is their latest day);
    `customer_id[code]` is the customer, and codes follow the store's sort order
    of the ids, the order `fetch_summary` returns customers in.
    """

    customer_id: pa.Array
    code: Int32Array
    day: Int32Array
    cents: FloatArray
    first_day: IntArray
    """Per customer code: the first purchase day."""
    first_cents: FloatArray
    """Per customer code: the value of that first purchase day."""
    opening: Counters | None = None
    """Per customer code, the counters of the purchase days before the entries (a carried
    state's, `clientela.clv.engine.carried`): the entries then hold only the days since, and
    `first_day` and `first_cents` are each customer's first ever."""

    def __len__(self) -> int:
        return len(self.customer_id)


def fetch_purchase_days(ctx: MetricContext, *, until: datetime,
                        since: datetime | None = None) -> PurchaseDays:
    """One query: every valid order (customer, local day, cents) before `until` (from
    `since`, a local midnight, when given), made into one entry per (customer, local day)
    here.

    The engine returns orders, not days: a group-by of ten million orders into nine
    million (customer, day) groups cost the engine three times the scan itself. Here the
    customer ids become dense codes in id order (one hash of the strings, one sort of
    the distinct ids), and one sort of packed integer (code, day) keys puts each
    customer's days together in order, so a day's orders are neighbours and the first
    purchase day is the first entry of each customer's run. Cents are whole numbers,
    so a day's sum is exact in any order: the entries equal a group-by's, in
    (customer, day) order. Each array is dropped as soon as the next step no longer
    needs it, since at ten million orders each is 40 to 80 MB.
    """
    table = order_days(ctx, until=until, since=since).to_pyarrow()
    ids, indices = _dictionary_encoded(table["customer_id"])
    table = table.drop_columns(["customer_id"])
    order = np.asarray(pc.array_sort_indices(ids), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids), dtype=np.int64)
    key = rank[indices]  # the customer's code, for now
    del indices, rank
    order_day = np.asarray(table["day"].to_numpy(zero_copy_only=False), dtype=np.int64)
    cents = np.asarray(table["cents"].to_numpy(zero_copy_only=False), dtype=np.float64)
    del table
    first = int(order_day.min()) if len(order_day) else 0
    span = int(order_day.max()) - first + 1 if len(order_day) else 1
    key *= span
    key += order_day
    key -= first
    del order_day
    key, day_cents = _sums_per_key(key, cents)
    code = (key // span).astype(np.int32)
    day = (key % span + first).astype(np.int32)
    del key
    starts = np.flatnonzero(np.diff(code, prepend=-1))  # each customer's first (earliest) day
    return PurchaseDays(customer_id=ids.take(pa.array(order)), code=code, day=day,
                        cents=day_cents, first_day=day[starts].astype(np.int64),
                        first_cents=day_cents[starts])


def _dictionary_encoded(column: pa.ChunkedArray) -> tuple[pa.Array, IntArray]:
    """The distinct values of `column` (in order of first appearance) and each row's
    position among them.

    Encoded chunk by chunk, without first copying ten million strings into one chunk
    (at 10M orders that copy cost about as much as the hashing). Arrow encodes the
    chunks with one memo table that only grows, so every chunk's indices point into
    the last chunk's dictionary."""
    if column.num_chunks == 0:
        encoded = pc.dictionary_encode(column.combine_chunks())
        return encoded.dictionary, np.asarray(encoded.indices, dtype=np.int64)
    chunks = pc.dictionary_encode(column).chunks
    indices = np.concatenate([np.asarray(chunk.indices, dtype=np.int64) for chunk in chunks])
    return chunks[-1].dictionary, indices


def _sums_per_key(key: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    """The distinct non-negative `key`s in order and the sum of `values` per key. `key` is
    sorted in place (its contents are lost).

    Key and row number travel in one integer when both fit in 63 bits, so a plain
    in-place sort orders them (four times faster than an argsort, and no second array
    of keys); otherwise an argsort."""
    n = len(key)
    if n == 0:
        return key, values
    bits = max(n - 1, 1).bit_length()
    if int(key.max()).bit_length() + bits <= 63:
        key <<= bits
        key |= np.arange(n, dtype=np.int64)
        key.sort()
        by_key = key & ((1 << bits) - 1)
        key >>= bits
    else:
        by_key = np.argsort(key)
        key = key[by_key]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(key[1:], key[:-1], out=starts[1:])
    at = np.flatnonzero(starts)
    del starts
    ordered = values[by_key]
    del by_key
    sums = ordered if len(at) == n else np.add.reduceat(ordered, at)
    return key[at], sums


def summaries(history: PurchaseDays, ends: Sequence[datetime], timezone: str, *,
              unit: str = "days") -> Iterator[CustomerSummary]:
    """The summary as of each of `ends` (naive UTC, exclusive, ascending), in order.

    Each yielded summary holds the customers with a purchase day before that
    end, in customer_id order, exactly as `fetch_summary(calibration_end=end)`
    would return them.
    """
    per_unit = DAYS_PER_UNIT[_checked(unit)]
    end_days = [last_day(end, timezone) for end in ends]
    # purchase days grouped by the first end they fall before, by one stable sort: of
    # 16-bit slots where they fit, which numpy sorts by radix, several times faster
    slot = np.searchsorted(np.asarray(end_days, dtype=np.int64), history.day, side="left")
    bounds = np.zeros(len(ends) + 2, dtype=np.int64)
    np.cumsum(np.bincount(slot, minlength=len(ends) + 1), out=bounds[1:])
    small = slot.astype(np.int16) if len(ends) < np.iinfo(np.int16).max else slot
    del slot  # the series keeps only the order: 80 MB less at ten million purchase days
    by_slot = np.argsort(small, kind="stable")
    del small
    if len(by_slot) <= np.iinfo(np.int32).max:  # half the memory for the whole series
        by_slot = by_slot.astype(np.int32)
    n = len(history)
    opening = history.opening or empty_counters(n)
    purchases, total, last = (opening.purchases.copy(), opening.cents.copy(),
                              opening.last.copy())
    for i, (end, end_day) in enumerate(zip(ends, end_days, strict=True)):
        rows = by_slot[bounds[i]:bounds[i + 1]]
        code = history.code[rows]
        purchases += np.bincount(code, minlength=n)
        total += np.bincount(code, weights=history.cents[rows], minlength=n)
        # a slot's rows keep the (code, day) order, so each code's last write is its latest day
        last[code] = history.day[rows]
        yield _summary_now(history, purchases, total, last, end, end_day, per_unit, unit)


def empty_counters(n: int) -> Counters:
    """The counters of `n` customers before their first purchase day."""
    return Counters(purchases=np.zeros(n, dtype=np.int64), cents=np.zeros(n, dtype=np.float64),
                    last=np.full(n, np.iinfo(np.int64).min, dtype=np.int64))


def _summary_now(history: PurchaseDays, purchases: IntArray, total: FloatArray,
                 last: IntArray, end: datetime, end_day: int, per_unit: float,
                 unit: str) -> CustomerSummary:
    """The arrays `customer_summary` computes in the engine, with the same float operations
    in the same order, so a fit sees bit-identical input either way."""
    index = np.flatnonzero(purchases > 0)
    first = history.first_day[index]
    repeats = purchases[index] - 1
    frequency = repeats.astype(np.float64)
    repeat_cents = total[index] - history.first_cents[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, repeat_cents / 100 / frequency, 0.0)
    recency_days = last[index] - first
    age_days = end_day - first
    # valid by construction, so not checked again (ten passes over a million customers
    # each period): whole repeat counts, 0 <= last - first <= end - first, the last day
    # the first when there is no repeat, a finite mean where there is one
    summary = checked_already(
        frequency=frequency,
        recency=recency_days.astype(np.float64) / per_unit,
        age=age_days.astype(np.float64) / per_unit,
        monetary=monetary,
        weights=None,
    )
    return CustomerSummary(ids=history.customer_id, rows=index,
                           summary=summary, unit=unit, calibration_end=end,
                           whole_days=(repeats, recency_days, age_days))


def _checked(unit: str) -> str:
    periods_per_month(unit)
    return unit

