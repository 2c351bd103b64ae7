"""BG/NBD (Fader, Hardie & Lee 2005): how often customers buy and when they leave.

Customers buy as a Poisson process with a gamma(r, alpha)-distributed rate and,
after each repeat purchase, leave for good with a beta(a, b)-distributed
probability. The likelihood of (x, t_x, T) is

    L = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / Gamma(r)
        * [ (alpha + T)^-(r+x) + [x > 0] a / (b + x - 1) * (alpha + t_x)^-(r+x) ]

evaluated here in log space, with its analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, digamma, gammaln, polygamma

from clientela.clv.models._sums import wsum
from clientela.clv.models.fit import (
    ModelFit,
    WarmStart,
    maximise_likelihood,
    require_repeat_buyers,
)
from clientela.clv.models.inputs import RfmSummary, collapse, small_unique

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
PARAMETERS = ("r", "alpha", "a", "b")


# exp() overflows past ~709; beyond this the odds of having left are added
# back exactly, since log(1 + e^d) = d to double precision there.
_EXP_LIMIT = 700.0


@dataclass(frozen=True)
class _Rows:
    """Distinct customer rows with the values the likelihood reuses at every step.

    Every customer's (alpha + T)^-(r + x) factor is summed per distinct T, and
    terms in x alone per distinct x, so only the log of 1 + the odds of having
    left after the last purchase needs a pass over the distinct rows of repeat
    buyers, who are kept sorted by x so that each x's rows are one run.
    """

    x_values: FloatArray
    x_weight: FloatArray
    age_values: FloatArray
    age_weight: FloatArray  # every customer, per distinct T
    age_x_weight: FloatArray  # sum of weight * x per distinct T
    recency_values: FloatArray
    run_x: FloatArray  # the x of each run of equal x among repeat buyers' rows
    weight: FloatArray  # repeat buyers' rows from here on, sorted by x
    x: FloatArray
    run_index: IntArray
    age_index: IntArray
    recency_index: IntArray
    total_weight: float
    n_rows: int


_BLOCK = 16_384
"""Repeat buyers' rows per block of a pass. A pass makes some twenty temporary arrays per
row (forty with the Hessian); a block's fit in the processor's cache, where a million
rows' went to memory and back for each: per row, a gradient pass cost 1.6 times less in
blocks and a pass with the Hessian twice less."""


def _prepare(summary: RfmSummary) -> _Rows:
    """The rows `_Rows` describes. `collapse` returns rows sorted by x (its groups are in
    (x, t_x, T) order), so x's distinct values are its runs and the repeat buyers are the
    rows from the first x > 0 on: slices, not gathers and sorts."""
    grouped, _ = collapse(summary)
    x, t_x, age, w = grouped.frequency, grouped.recency, grouped.age, grouped.row_weights
    if not bool(np.all(x[1:] >= x[:-1])):  # not from collapse's grouping: sort by x
        order = np.argsort(x, kind="stable")
        x, t_x, age, w = x[order], t_x[order], age[order], w[order]
    starts = np.flatnonzero(np.diff(x, prepend=-1.0))  # each distinct x's first row
    x_values = x[starts]
    x_index = np.cumsum(np.diff(x, prepend=x[:1]) != 0, dtype=np.intp)
    age_values, age_index = small_unique(age)
    first_repeat = int(np.searchsorted(x, 0.0, side="right"))
    x_repeat = x[first_repeat:]
    recency_values, recency_index = small_unique(t_x[first_repeat:])
    repeat_runs = starts[starts >= first_repeat]
    n_ages = age_values.shape[0]
    return _Rows(
        x_values=x_values,
        x_weight=np.bincount(x_index, weights=w, minlength=x_values.shape[0]).astype(np.float64),
        age_values=age_values,
        age_weight=np.bincount(age_index, weights=w, minlength=n_ages).astype(np.float64),
        age_x_weight=np.bincount(age_index, weights=w * x, minlength=n_ages).astype(np.float64),
        recency_values=recency_values,
        run_x=x[repeat_runs],
        weight=w[first_repeat:],
        x=x_repeat,
        run_index=x_index[first_repeat:] - (x_index[first_repeat] if len(x_repeat) else 0),
        age_index=age_index[first_repeat:],
        recency_index=recency_index,
        total_weight=float(w.sum()),
        n_rows=int(w.shape[0]),
    )


def _objective(rows: _Rows, log_params: FloatArray) -> tuple[float, FloatArray]:
    value, grad, _ = _evaluate(rows, log_params, curvature=False)
    return value, grad


def _objective_and_hessian(rows: _Rows, log_params: FloatArray
                           ) -> tuple[float, FloatArray, FloatArray]:
    value, grad, hessian = _evaluate(rows, log_params, curvature=True)
    assert hessian is not None
    return value, grad, hessian


def _evaluate(rows: _Rows, log_params: FloatArray, *, curvature: bool
              ) -> tuple[float, FloatArray, FloatArray | None]:
    """The mean negative log-likelihood per customer, its gradient in log-parameters and,
    with `curvature`, its Hessian there, in one pass over the repeat buyers' rows.

    The Hessian is what the standard errors need and what lets a fit take exact Newton
    steps: from last month's maximum a few passes reach this month's, where finite
    differences of the gradient cost eight passes for the Hessian alone.
    """
    r, alpha, a, b = np.exp(log_params)
    xv, xw, n = rows.x_values, rows.x_weight, rows.total_weight
    # Terms in x only.
    ll = wsum(xw, (gammaln(r + xv) - gammaln(r) + betaln(a, b + xv) - betaln(a, b)))
    ll += n * r * np.log(alpha)
    d_r = wsum(xw, (digamma(r + xv) - digamma(r))) + n * np.log(alpha)
    d_alpha = n * r / alpha
    d_a = wsum(xw, (digamma(a + b) - digamma(a + b + xv)))
    d_b = wsum(xw, (digamma(b + xv) - digamma(a + b + xv) - digamma(b) + digamma(a + b)))

    # Everyone's (alpha + T)^-(r + x), the whole bracket for those who never came back.
    log_age = np.log(alpha + rows.age_values)
    inv_age = 1.0 / (alpha + rows.age_values)
    exponent_weight = r * rows.age_weight + rows.age_x_weight
    ll -= wsum(exponent_weight, log_age)
    d_r -= wsum(rows.age_weight, log_age)
    d_alpha -= wsum(exponent_weight, inv_age)

    # Repeat buyers: bracket = (alpha + T)^-(r + x) * (1 + odds of having left at t_x).
    found = _repeat_buyer_sums(rows, r, alpha, a, b, log_age, inv_age, curvature)
    inv_run = 1.0 / (b + rows.run_x - 1.0)
    ll += found.log_bracket
    d_r += found.share_ratio
    d_alpha += found.share_alpha
    d_a += found.shares / a
    d_b -= wsum(found.run_shares, inv_run)

    # Chain rule to log-parameters; minimise the mean negative log-likelihood.
    params = np.array([r, alpha, a, b])
    grad_params = np.array([d_r, d_alpha, d_a, d_b])
    hessian = None
    if curvature:
        p_hessian = _hessian_in_params(rows, r, alpha, a, b, inv_age, inv_run, found)
        # d2/dlog p_i dlog p_j = p_i p_j d2/dp_i dp_j + [i = j] p_i d/dp_i
        hessian = -(np.outer(params, params) * p_hessian + np.diag(params * grad_params)) / n
    return -ll / n, -(grad_params * params) / n, hessian


@dataclass
class _RepeatBuyerSums:
    """What the repeat buyers' rows add, summed over them (weighted by their counts).

    Each row adds log(1 + e^g), g = log(a / (b + x - 1)) + (r + x) L the log odds of
    having left, L = log((alpha + T) / (alpha + t_x)). With s = e^g / (1 + e^g) and
    q = s (1 - s), its first derivatives are s g_i and its second q g_i g_j + s g_ij,
    where g_r = L, g_alpha = (r + x) (1 / (alpha + T) - 1 / (alpha + t_x)), g_a = 1 / a,
    g_b = -1 / (b + x - 1); the only second derivatives of g that are not zero are
    g_r,alpha = g_alpha / (r + x), g_alpha,alpha = -g_alpha (1 / (alpha + T) +
    1 / (alpha + t_x)) and g_b,b = 1 / (b + x - 1)^2. Terms in x alone are summed per
    run of equal x (`run_*`). q is computed as s / (1 + e^g), which keeps its digits
    where s is near 1.
    """

    n_runs: int
    log_bracket: float = 0.0  # sum of w log(1 + e^g)
    shares: float = 0.0  # sum of w s
    share_ratio: float = 0.0  # w s L
    share_alpha: float = 0.0  # w s g_alpha
    share_change: float = 0.0  # w s g_alpha / (r + x)
    share_alpha2: float = 0.0  # w s g_alpha (1 / (alpha + T) + 1 / (alpha + t_x))
    curve: float = 0.0  # w q
    curve_ratio: float = 0.0  # w q L
    curve_ratio2: float = 0.0  # w q L L
    curve_ratio_alpha: float = 0.0  # w q L g_alpha
    curve_alpha: float = 0.0  # w q g_alpha
    curve_alpha2: float = 0.0  # w q g_alpha g_alpha
    run_shares: FloatArray = field(init=False)
    run_curve: FloatArray = field(init=False)
    run_curve_ratio: FloatArray = field(init=False)
    run_curve_alpha: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("run_shares", "run_curve", "run_curve_ratio", "run_curve_alpha"):
            setattr(self, name, np.zeros(self.n_runs))


def _repeat_buyer_sums(rows: _Rows, r: float, alpha: float, a: float, b: float,
                       log_age: FloatArray, inv_age: FloatArray, curvature: bool
                       ) -> _RepeatBuyerSums:
    """`_RepeatBuyerSums` in blocks of `_BLOCK` rows (the Hessian's only with
    `curvature`)."""
    found = _RepeatBuyerSums(n_runs=rows.run_x.shape[0])
    log_odds_of_run = np.log(a) - np.log(b + rows.run_x - 1.0)
    log_recency = np.log(alpha + rows.recency_values)
    inv_recency = 1.0 / (alpha + rows.recency_values)
    for start in range(0, rows.weight.shape[0], _BLOCK):
        block = slice(start, start + _BLOCK)
        w, x = rows.weight[block], rows.x[block]
        ages, recencies, runs = rows.age_index[block], rows.recency_index[block], \
            rows.run_index[block]
        first_run = int(runs[0])
        runs = runs - first_run  # rows are sorted by x: a block holds consecutive runs
        in_block = slice(first_run, first_run + int(runs[-1]) + 1)
        ratio = np.take(log_age, ages)
        ratio -= np.take(log_recency, recencies)
        r_x = x + r
        log_odds = r_x * ratio
        log_odds += np.take(log_odds_of_run, rows.run_index[block])
        if float(log_odds.max()) > _EXP_LIMIT:
            # past the clip, log(1 + e^g) is g to double precision: the rest is added back
            clipped = np.minimum(log_odds, _EXP_LIMIT)
            odds = np.exp(clipped)
            beyond = wsum(w, log_odds) - wsum(w, clipped)
        else:  # nothing clipped: what would be added back is exactly 0
            odds = np.exp(log_odds)
            beyond = 0.0
        one_plus_odds = odds + 1.0
        found.log_bracket += wsum(w, np.log(one_plus_odds)) + beyond
        share = np.divide(odds, one_plus_odds, out=odds)
        share *= w  # w s from here on
        age_term = np.take(inv_age, ages)
        recency_term = np.take(inv_recency, recencies)
        change = age_term - recency_term
        g_alpha = r_x * change
        found.shares += float(share.sum())
        found.share_ratio += wsum(share, ratio)
        found.share_alpha += wsum(share, g_alpha)
        found.run_shares[in_block] += np.bincount(runs, weights=share,
                                                  minlength=in_block.stop - first_run)
        if not curvature:
            continue
        found.share_change += wsum(share, change)
        age_term += recency_term
        found.share_alpha2 += wsum(share * g_alpha, age_term)
        curve = np.divide(share, one_plus_odds, out=one_plus_odds)  # w q
        curve_ratio = curve * ratio
        curve_alpha = curve * g_alpha
        found.curve += float(curve.sum())
        found.curve_ratio += float(curve_ratio.sum())
        found.curve_ratio2 += wsum(curve_ratio, ratio)
        found.curve_ratio_alpha += wsum(curve_ratio, g_alpha)
        found.curve_alpha += float(curve_alpha.sum())
        found.curve_alpha2 += wsum(curve_alpha, g_alpha)
        for total, values in ((found.run_curve, curve), (found.run_curve_ratio, curve_ratio),
                              (found.run_curve_alpha, curve_alpha)):
            total[in_block] += np.bincount(runs, weights=values,
                                           minlength=in_block.stop - first_run)
    return found


def _hessian_in_params(rows: _Rows, r: float, alpha: float, a: float, b: float,
                       inv_age: FloatArray, inv_run: FloatArray, found: _RepeatBuyerSums
                       ) -> FloatArray:
    """Second derivatives of the log-likelihood in (r, alpha, a, b) themselves: trigamma
    per distinct x for the terms in x alone, a sum per distinct T for the ages', and the
    repeat buyers' sums (`_RepeatBuyerSums` says which)."""
    xv, xw, n = rows.x_values, rows.x_weight, rows.total_weight
    h = np.zeros((4, 4))
    # Terms in x only: log Gamma(r + x) - log Gamma(r) + log B(a, b + x) - log B(a, b);
    # the x weights sum to every customer, n.
    ab_x = polygamma(1, a + b + xv)
    h[0, 0] = wsum(xw, polygamma(1, r + xv)) - n * float(polygamma(1, r))
    h[2, 2] = h[2, 3] = wsum(xw, float(polygamma(1, a + b)) - ab_x)
    h[3, 3] = wsum(xw, polygamma(1, b + xv) - ab_x) - n * float(polygamma(1, b)) \
        + n * float(polygamma(1, a + b))
    # n r log(alpha) - sum over T of (r + x) log(alpha + T)
    h[0, 1] = n / alpha - wsum(rows.age_weight, inv_age)
    h[1, 1] = -n * r / alpha**2 + wsum(r * rows.age_weight + rows.age_x_weight,
                                        inv_age * inv_age)
    # Repeat buyers: q g_i g_j + s g_ij.
    h[0, 0] += found.curve_ratio2
    h[0, 1] += found.curve_ratio_alpha + found.share_change
    h[0, 2] += found.curve_ratio / a
    h[0, 3] -= wsum(found.run_curve_ratio, inv_run)
    h[1, 1] += found.curve_alpha2 - found.share_alpha2
    h[1, 2] += found.curve_alpha / a
    h[1, 3] -= wsum(found.run_curve_alpha, inv_run)
    h[2, 2] += (found.curve - found.shares) / a**2
    h[2, 3] -= wsum(found.run_curve, inv_run) / a
    h[3, 3] += wsum(found.run_curve + found.run_shares, inv_run * inv_run)
    return np.triu(h) + np.triu(h, 1).T


def log_likelihood(summary: RfmSummary, params: dict[str, float]) -> float:
    """Total log-likelihood at given parameters, to compare fits or check published values."""
    rows = _prepare(summary)
    theta = np.log([params[p] for p in PARAMETERS])
    return -_objective(rows, theta)[0] * rows.total_weight


def _starts(rows: _Rows) -> list[list[float]]:
    # A gamma(1, alpha) rate with the observed mean purchase rate; dropout
    # probability around 1/4, then a second guess with rarer dropout.
    exposure = wsum(rows.age_weight, rows.age_values)
    rate = max(wsum(rows.x_weight, rows.x_values) / (exposure + 1e-12), 1e-6)
    return [[1.0, 1.0 / rate, 1.0, 3.0], [0.5, 0.5 / rate, 0.5, 5.0]]


def fit_bgnbd(summary: RfmSummary, *, strict: bool = True,
              start: WarmStart = None) -> ModelFit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b) for a customer summary.

    Identical customers are collapsed first, so the cost grows with the number
    of distinct (x, t_x, T) rows rather than customers. Raises ``ClvFitError``
    when fewer than 10 customers bought again or no maximum is found; with
    ``strict=False`` it returns the best point found with ``converged=False``.
    ``start`` (parameters by name, e.g. a fit on last month's data) is tried
    before the generic starting points: near the maximum, the optimiser needs
    fewer steps (a warm start).
    """
    rows = _prepare(summary)
    require_repeat_buyers("bgnbd", float(rows.weight.sum()))
    return maximise_likelihood(
        "bgnbd",
        PARAMETERS,
        lambda theta: _objective(rows, theta),
        _starts(rows),
        rows.total_weight,
        rows.n_rows,
        analytic_gradient=True,
        strict=strict,
        warm_start=start,
        with_hessian=lambda theta: _objective_and_hessian(rows, theta),
    )
