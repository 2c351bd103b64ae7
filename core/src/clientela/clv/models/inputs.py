"""What the CLV models are fitted on: per-customer (x, t_x, T, m) as an `RfmSummary`.

`clientela.clv.engine.summary` computes these numbers from a store in the
database (Ibis) and hands over plain arrays, so the models stay independent of
any backend and can be tested on published data sets. Grouping identical
customers (`collapse`, `unique_rows`) lives here too: every model evaluates
each distinct row once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

# An average Gregorian month, so that 12 months are exactly one year whatever
# the time unit; pass one of these as ``periods_per_month`` to the predictions.
DAYS_PER_MONTH: float = 365.25 / 12
WEEKS_PER_MONTH: float = DAYS_PER_MONTH / 7


def _as_float_array(name: str, values: ArrayLike) -> FloatArray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"RfmSummary.{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True, eq=False)
class RfmSummary:
    """Frequency, recency, age and mean spend of each customer (or group of identical customers).

    All times are in one unit chosen by the caller (days or weeks), measured from
    the customer's first purchase:

    - ``frequency`` (x): number of *repeat* purchases in the calibration period,
      i.e. distinct purchase periods minus one.
    - ``recency`` (t_x): time of the last purchase; 0 when x = 0.
    - ``age`` (T): time between the first purchase and the end of calibration.
    - ``monetary`` (m): mean value of the repeat purchases (needed by Gamma-Gamma
      only; ignored where x = 0, where it may be 0 or NaN).
    - ``weights``: how many customers each row stands for (1 when omitted), so
      a caller that already grouped identical customers can say so.

    The arrays are validated once here so that every model can trust them.
    """

    frequency: FloatArray
    recency: FloatArray
    age: FloatArray
    monetary: FloatArray | None = None
    weights: FloatArray | None = None
    distinct: bool = field(default=False, compare=False)
    """Set by `collapse` on what it returns: the rows are already distinct (x, t_x, T)
    in `collapse`'s order, so grouping them again (as a model's fit does with whatever
    it is given) is the identity and is skipped."""

    def __post_init__(self) -> None:
        x = _as_float_array("frequency", self.frequency)
        t_x = _as_float_array("recency", self.recency)
        age = _as_float_array("age", self.age)
        object.__setattr__(self, "frequency", x)
        object.__setattr__(self, "recency", t_x)
        object.__setattr__(self, "age", age)
        n = x.shape[0]
        if t_x.shape[0] != n or age.shape[0] != n:
            raise ValueError(
                "RfmSummary arrays differ in length: "
                f"frequency {n}, recency {t_x.shape[0]}, age {age.shape[0]}"
            )
        for name, array in (("frequency", x), ("recency", t_x), ("age", age)):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"RfmSummary.{name} has missing or infinite values")
            if n and array.min() < 0:
                raise ValueError(f"RfmSummary.{name} has negative values")
        if not np.array_equal(x, np.round(x)):
            raise ValueError("RfmSummary.frequency must count whole repeat purchases")
        if np.any(t_x > age * (1 + 1e-12)):
            raise ValueError(
                "RfmSummary.recency exceeds age for some customers: the last purchase "
                "must fall before the end of the calibration period"
            )
        if np.any(t_x[x == 0] != 0):
            raise ValueError(
                "RfmSummary.recency must be 0 for customers without repeat purchases "
                "(frequency 0): recency is the time of the last repeat purchase"
            )
        if self.monetary is not None:
            m = _as_float_array("monetary", self.monetary)
            if m.shape[0] != n:
                raise ValueError(f"RfmSummary.monetary has length {m.shape[0]}, expected {n}")
            object.__setattr__(self, "monetary", m)
        if self.weights is not None:
            w = _as_float_array("weights", self.weights)
            if w.shape[0] != n:
                raise ValueError(f"RfmSummary.weights has length {w.shape[0]}, expected {n}")
            if not np.all(np.isfinite(w)) or (n and w.min() < 0):
                raise ValueError("RfmSummary.weights must be finite and non-negative")
            object.__setattr__(self, "weights", w)

    def __len__(self) -> int:
        return int(self.frequency.shape[0])

    def take(self, rows: IntArray | NDArray[np.bool_]) -> RfmSummary:
        """The summary of some of its rows (indices or a mask), not checked again: every
        check above holds row by row, so it holds for any subset of checked rows. At a
        million customers the checks are some ten passes over each array, and the spend
        fit of every period of a series takes the repeat buyers of a checked summary."""
        return checked_already(
            frequency=self.frequency[rows], recency=self.recency[rows], age=self.age[rows],
            monetary=None if self.monetary is None else self.monetary[rows],
            weights=None if self.weights is None else self.weights[rows])

    @property
    def row_weights(self) -> FloatArray:
        """Weights with the implicit 1 per row filled in, so models need no special case."""
        if self.weights is None:
            return np.ones(len(self), dtype=np.float64)
        return self.weights

    @property
    def n_customers(self) -> int:
        """Customers represented, counting each row as many times as its weight."""
        return round(float(self.row_weights.sum()))


def checked_already(*, frequency: FloatArray, recency: FloatArray, age: FloatArray,
                     monetary: FloatArray | None, weights: FloatArray | None,
                     distinct: bool = False) -> RfmSummary:
    """An `RfmSummary` of arrays made in ways that keep every check true (rows of checked
    arrays, weights summed from non-negative weights, counts a series made from purchase
    days), built without the checks."""
    summary = object.__new__(RfmSummary)
    for name, value in (("frequency", frequency), ("recency", recency), ("age", age),
                        ("monetary", monetary), ("weights", weights), ("distinct", distinct)):
        object.__setattr__(summary, name, value)
    return summary


def unique_rows(*columns: FloatArray) -> tuple[IntArray, IntArray]:
    """Index of the first occurrence of each distinct row and each row's group.

    Customers with the same (x, t_x, T) contribute the same likelihood term, so
    the models evaluate each distinct row once and weight it by its count; with
    times in whole days or weeks a million customers shrink to a few tens of
    thousands of rows. Whole-number columns are packed into one integer key,
    grouped by a table lookup when the keys span a short range and by one sort
    otherwise; anything else falls back to a lexicographic sort.
    """
    n = columns[0].shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    packed = _packed_integer_key(columns)
    if packed is not None:
        return _grouped_keys(*packed)
    order = np.lexsort(columns[::-1])
    sorted_cols = [c[order] for c in columns]
    starts = np.ones(n, dtype=bool)
    starts[1:] = np.any([np.diff(c) != 0 for c in sorted_cols], axis=0)
    group_sorted = np.cumsum(starts) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group_sorted
    first = order[starts]
    return first.astype(np.intp), inverse


def unique_whole_rows(*columns: NDArray[np.int64]) -> tuple[IntArray, IntArray]:
    """`unique_rows` of non-negative int64 columns the caller vouches for (counts, day
    differences), without the checks and conversions floats need.

    The groups are those of any columns that are these divided by one positive number
    (days in weeks: 7), which a strictly increasing map keeps apart and in order: the
    same first occurrences and the same groups, in the same order, as `unique_rows` of
    those floats, where the weeks' fractions would have cost a lexicographic sort.
    """
    n = columns[0].shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    spans = [int(column.max()) + 1 for column in columns]
    if float(np.prod([float(s) for s in spans])) >= 2.0**62:
        return unique_rows(*(column.astype(np.float64) for column in columns))
    key = columns[0].astype(np.int64)  # a copy, built up in place
    for column, span in zip(columns[1:], spans[1:], strict=True):
        key *= span
        key += column
    return _grouped_keys(key, math.prod(spans))


def _grouped_keys(key: NDArray[np.int64], span: int) -> tuple[IntArray, IntArray]:
    """First occurrence of each distinct key in [0, span) and each key's group, groups in
    key order."""
    n = key.shape[0]
    if bool(np.all(key[1:] > key[:-1])):
        # already distinct and in key order (rows `collapse` made): each its own group
        every = np.arange(n, dtype=np.intp)
        return every, every.copy()
    if span <= max(4 * n, 1 << 16):
        return _dense_unique(key, span)
    order, sorted_key = _sorted_keys(key, span)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=starts[1:])
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(starts, dtype=np.intp) - 1
    return _first_occurrences(inverse, int(inverse[order[-1]]) + 1), inverse


def _sorted_keys(key: NDArray[np.int64], span: int) -> tuple[IntArray, NDArray[np.int64]]:
    """The order that sorts `key`, and the sorted keys.

    When the key and the row number fit in 63 bits together, both travel in one
    integer and a plain sort (vectorised, no gather) orders them: four times faster
    than an argsort at a million rows. Otherwise numpy's default argsort, itself
    several times faster than the stable sort np.unique needs for first occurrences
    (which come from `_first_occurrences` either way). Groups come out in key order
    both ways.
    """
    n = key.shape[0]
    bits = max(n - 1, 1).bit_length()
    if (span - 1).bit_length() + bits <= 63:
        packed = np.left_shift(key, bits)
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        order = (packed & ((1 << bits) - 1)).astype(np.intp)
        return order, np.right_shift(packed, bits)
    order = np.argsort(key)
    return order.astype(np.intp), key[order]


def _dense_unique(key: NDArray[np.int64], span: int) -> tuple[IntArray, IntArray]:
    """``np.unique`` for keys in a small range: a table lookup instead of a sort.

    Days or weeks make the keys of (x, t_x, T) or (x, T) span a range not much
    larger than the number of customers, where sorting a million keys cost
    ten times more than these few linear passes. Groups come out in key order
    and ``first`` is each key's first occurrence, exactly as from ``np.unique``.
    """
    present = np.zeros(span, dtype=bool)
    present[key] = True
    rank = np.cumsum(present, dtype=np.intp) - 1
    inverse = rank[key]
    return _first_occurrences(inverse, int(rank[-1]) + 1), inverse


def _first_occurrences(inverse: IntArray, n_groups: int) -> IntArray:
    n = inverse.shape[0]
    first = np.empty(n_groups, dtype=np.intp)
    # With repeated indices the last assignment wins, so writing in reverse
    # order leaves each group's first occurrence.
    first[inverse[::-1]] = np.arange(n - 1, -1, -1, dtype=np.intp)
    return first


def small_unique(values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Sorted distinct values and each value's position among them, like ``np.unique``.

    The models group by x, t_x or T alone, whole numbers in a short range when
    times are in days or weeks; those take the sort-free path of ``unique_rows``.
    """
    first, inverse = unique_rows(values)
    return values[first], inverse


def _packed_integer_key(
    columns: tuple[FloatArray, ...],
) -> tuple[NDArray[np.int64], int] | None:
    spans: list[int] = []
    whole: list[NDArray[np.int64]] = []
    for column in columns:
        low, high = column.min(), column.max()
        if not (low >= 0 and high < 2**31):  # NaN fails too
            return None
        as_int = column.astype(np.int64)
        if not np.array_equal(as_int, column):  # a fraction somewhere
            return None
        spans.append(int(high) + 1)
        whole.append(as_int)
    if float(np.prod([float(s) for s in spans])) >= 2.0**62:
        return None
    key = whole[0]  # a fresh array: built up in place
    for part, span in zip(whole[1:], spans[1:], strict=True):
        key *= span
        key += part
    return key, math.prod(spans)


def collapse(summary: RfmSummary, *, groups: tuple[IntArray, IntArray] | None = None
             ) -> tuple[RfmSummary, IntArray]:
    """Group customers with identical (x, t_x, T), summing their weights.

    Returns the grouped summary (without monetary values, which are per
    customer) and, for each input row, the index of its group, so per-group
    predictions can be spread back to customers with one fancy-index. `groups`
    is `unique_rows(x, t_x, T)` when the caller has it already (`unique_whole_rows`
    of the whole days the times came from).
    """
    if summary.distinct and summary.monetary is None:
        # what the grouping below would return: one group per row, in the same order,
        # with the very same weights
        return summary, np.arange(len(summary), dtype=np.intp)
    first, inverse = groups if groups is not None else unique_rows(
        summary.frequency, summary.recency, summary.age)
    # each customer without a weight weighs 1: the counts are then the sums of their
    # weights, whole numbers and so the very same floats, without a million ones to make
    # and add up
    weights = np.asarray(
        np.bincount(inverse, minlength=first.shape[0]) if summary.weights is None
        else np.bincount(inverse, weights=summary.weights, minlength=first.shape[0]),
        dtype=np.float64)
    grouped = checked_already(  # rows of a checked summary, with sums of its weights
        frequency=summary.frequency[first],
        recency=summary.recency[first],
        age=summary.age[first],
        monetary=None,
        weights=weights,
        distinct=True,
    )
    return grouped, inverse
