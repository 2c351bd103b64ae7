"""The buy-till-you-die process behind every repeat purchase.

This is BG/NBD exactly (Fader, Hardie & Lee 2005), in operational days (see
`calendar`): while alive, a customer makes repeat purchases as a Poisson
process of rate lambda ~ Gamma(r, alpha) (alpha a rate, so E[lambda] = r /
alpha), and after each repeat purchase leaves for good with probability
p ~ Beta(a, b). The first purchase is the acquisition and is not a repeat.

For speed and for calibration, each customer's randomness is drawn once as
unit-rate arrival times S_1 < S_2 < ... (as many as the geometric number of
purchases before dropping out) and a gamma shape draw G, so lambda = G /
alpha. The customer's purchase times are then S_k / lambda, and the number
made before the horizon is monotone in alpha: the scale is solved so the
store has the number of orders asked for, without redrawing anything.

A buyer makes at most one purchase a local day (see `one_a_day`), so the
process is cut at the days left after the acquisition day: a buyer the
process would have buy more often than that keeps the earliest purchases
and makes none after the window is full. Without the cut, a store asked for
many orders per customer (10M orders, 1M customers) moved purchases before
the window's first day. The cut binds only for the fastest buyers of very
dense stores; alpha is solved with it, so the order count asked for holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from clientela.demo.calendar import FloatArray, IntArray

R_SHAPE = 0.75
DROPOUT_A = 1.3
DROPOUT_B = 4.0
MAX_PURCHASES = 5_000
"""A customer's geometric number of purchases is capped here (never reached within a window)."""


def dropout_b(repeats_per_buyer: float, a: float = DROPOUT_A) -> float:
    """b such that customers live long enough to make the requested number of orders.

    With a > 1, E[1/p] = (a + b - 1) / (a - 1) purchases before dropping out;
    keep it at least 2.5 times the repeats each buyer must make.
    """
    return max(DROPOUT_B, 2.5 * repeats_per_buyer * (a - 1) - a + 1)


@dataclass(frozen=True)
class Latent:
    """Per buyer: the shape draw, the dropout probability and unit-rate arrival times."""

    shape_draw: FloatArray
    p: FloatArray
    acquired_op: FloatArray
    horizon: FloatArray
    group_start: IntArray
    arrivals: FloatArray
    keyed: FloatArray
    spacing: float
    drops: NDArray[np.bool_]
    max_repeats: IntArray
    """Repeat purchases a buyer can make at most: the local days left after acquisition."""

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        acquired_op: FloatArray,
        end_op: float,
        r: float,
        a: float,
        b: float,
        max_repeats: IntArray | None = None,
    ) -> Latent:
        """`max_repeats` caps each buyer's repeat purchases (None: no cap beyond MAX_PURCHASES)."""
        n = len(acquired_op)
        shape_draw = rng.gamma(r, 1.0, n)
        p = np.maximum(rng.beta(a, b, n), 1e-9)
        purchases = rng.geometric(p)
        drops = purchases <= MAX_PURCHASES
        length = np.minimum(purchases, MAX_PURCHASES)
        group_start = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
        gaps = rng.standard_exponential(int(group_start[-1]))
        running = np.cumsum(gaps)
        before = np.concatenate([[0.0], running])[group_start[:-1]]
        group = np.repeat(np.arange(n, dtype=np.int64), length)
        arrivals = running - before[group]
        spacing = float(arrivals.max(initial=0.0)) + 1.0
        return cls(
            shape_draw=shape_draw,
            p=p,
            acquired_op=acquired_op,
            horizon=np.maximum(end_op - acquired_op, 0.0),
            group_start=group_start,
            arrivals=arrivals,
            keyed=arrivals + group * spacing,
            spacing=spacing,
            drops=drops,
            max_repeats=(np.full(n, MAX_PURCHASES, dtype=np.int64) if max_repeats is None
                         else np.maximum(np.asarray(max_repeats, dtype=np.int64), 0)),
        )

    @property
    def n(self) -> int:
        return len(self.shape_draw)

    def _reach(self, alpha: float) -> FloatArray:
        """How far along its unit-rate clock each buyer gets before the horizon."""
        return np.minimum(self.shape_draw * self.horizon / alpha, self.spacing - 0.5)

    def counts(self, alpha: float) -> IntArray:
        """Repeat purchases each buyer makes inside the window."""
        base = np.arange(self.n, dtype=np.float64) * self.spacing
        found = np.searchsorted(self.keyed, self._reach(alpha) + base, side="right")
        made: IntArray = np.minimum(found - self.group_start[:-1], self.max_repeats)
        return made.astype(np.int64)

    def dropout_age(self, alpha: float) -> FloatArray:
        """Operational days from acquisition to dropping out (inf: never within the cap)."""
        last = self.arrivals[self.group_start[1:] - 1]
        return np.where(self.drops, last * alpha / self.shape_draw, np.inf)

    def purchases(self, alpha: float) -> tuple[IntArray, FloatArray]:
        """(buyer index, operational time) of every repeat purchase inside the window."""
        counts = self.counts(alpha)
        group = np.repeat(np.arange(self.n, dtype=np.int64), counts)
        rank = np.arange(len(group), dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        s = self.arrivals[self.group_start[:-1][group] + rank]
        return group, self.acquired_op[group] + s * alpha / self.shape_draw[group]

    def rates(self, alpha: float) -> FloatArray:
        return self.shape_draw / alpha


def solve_alpha(latent: Latent, target: int) -> float:
    """The alpha whose realised repeat purchases are nearest `target`.

    Campaigns only move purchases the process made, so the process alone
    makes every repeat order; the count falls as alpha rises (slower buyers),
    so a bisection on log alpha converges.
    """

    def total(alpha: float) -> int:
        return int(latent.counts(alpha).sum())

    lo, hi = np.log(1e-4), np.log(1e7)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if total(float(np.exp(mid))) > target:
            lo = mid
        else:
            hi = mid
    candidates = (float(np.exp(lo)), float(np.exp(hi)))
    return min(candidates, key=lambda alpha: abs(total(alpha) - target))


def one_a_day(customer: IntArray, time: FloatArray, n_days: int) -> FloatArray:
    """Purchase times moved so that no customer buys twice on one local day.

    The CLV summary counts a day with orders as one purchase (a split basket
    is not loyalty), so two purchases of the process on one day would reach
    the models as one, and fast buyers would look slower and more alike than
    the truth says. A purchase that shares a day with an earlier one moves to
    the next free day, at the same time of day, and at the end of the window
    (`n_days` days from 0) a crowd moves back instead; the order of a
    customer's purchases, and so their number, stay the process's.

    A customer never has more purchases than the days from their first
    purchase's day to the window's end (`Latent` cuts the process there), so
    moving back never goes before day 0; more purchases than days would, and
    are refused here rather than written before the window.
    """
    n = len(customer)
    if n == 0:
        return time.copy()
    order = np.lexsort((time, customer))
    owner, sorted_time = customer[order], time[order]
    day = np.floor(sorted_time).astype(np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = owner[1:] != owner[:-1]
    group = np.cumsum(new) - 1
    index = np.arange(n, dtype=np.int64)
    big = int(day.max()) + n + 1
    # Within a customer, day_k - k never decreases after a running maximum, so the moved
    # days are strictly increasing; `big` keeps customers' running maxima apart.
    moved = np.maximum.accumulate(day - index + group * big) - group * big + index
    # The k-th purchase from a customer's last may be on day n_days - 1 - k at the latest.
    last = np.append(np.flatnonzero(new)[1:] - 1, n - 1)
    moved = np.minimum(moved, n_days - 1 - (last[group] - index))
    if n and int(moved.min()) < 0:
        raise ValueError("a customer has more purchases than days from the first to the "
                         "window's end; cap them (Latent.draw max_repeats)")
    out = np.empty_like(time)
    out[order] = sorted_time + (moved - day)
    return out
