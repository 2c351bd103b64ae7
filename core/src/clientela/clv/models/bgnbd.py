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
    buyers, who are kept sorted by x so that per-x sums are contiguous.
    """

    x_values: FloatArray
    x_weight: FloatArray
    age_values: FloatArray
    age_weight: FloatArray  # every customer, per distinct T
    age_x_weight: FloatArray  # sum of weight * x per distinct T
    recency_values: FloatArray
    run_x: FloatArray  # the x of each run of equal x among repeat buyers' rows
    run_starts: IntArray
    weight: FloatArray  # repeat buyers' rows from here on, sorted by x
    x: FloatArray
    run_index: IntArray
    age_index: IntArray
    recency_index: IntArray
    total_weight: float
    n_rows: int
    by_alpha: dict[float, tuple[FloatArray, FloatArray, FloatArray]] = field(
        default_factory=dict, compare=False, repr=False)

    def alpha_terms(self, alpha: float, log_age: FloatArray, inv_age: FloatArray
                    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per repeat buyers' row: log((alpha + T) / (alpha + t_x)), 1 / (alpha + T) and
        1 / (alpha + t_x), the gathers that cost most of a pass. They depend on alpha
        alone, so they are remembered for the last few alphas: the Hessian's
        differences in r, a and b (six of its eight gradients) reuse them, with the
        very same numbers. Read-only: callers must not write into them."""
        found = self.by_alpha.get(alpha)
        if found is None:
            log_ratio = np.take(log_age, self.age_index)
            log_ratio -= np.take(np.log(alpha + self.recency_values), self.recency_index)
            inv_recency = 1.0 / (alpha + self.recency_values)
            found = (log_ratio, np.take(inv_age, self.age_index),
                     np.take(inv_recency, self.recency_index))
            if len(self.by_alpha) >= _REMEMBERED_ALPHAS:
                self.by_alpha.pop(next(iter(self.by_alpha)))
            self.by_alpha[alpha] = found
        return found


_REMEMBERED_ALPHAS = 3
"""The point and its two differences in alpha: enough for a Hessian's eight gradients."""


def _prepare(summary: RfmSummary) -> _Rows:
    grouped, _ = collapse(summary)
    x, t_x, age, w = grouped.frequency, grouped.recency, grouped.age, grouped.row_weights
    x_values, x_index = small_unique(x)
    age_values, age_index = small_unique(age)
    repeat = np.flatnonzero(x > 0)
    repeat = repeat[np.argsort(x[repeat], kind="stable")]  # already sorted after collapse
    recency_values, recency_index = small_unique(t_x[repeat])
    x_repeat = x[repeat]
    run_starts = np.flatnonzero(np.diff(x_repeat, prepend=-1.0))
    n_ages = age_values.shape[0]
    return _Rows(
        x_values=x_values,
        x_weight=np.bincount(x_index, weights=w, minlength=x_values.shape[0]).astype(np.float64),
        age_values=age_values,
        age_weight=np.bincount(age_index, weights=w, minlength=n_ages).astype(np.float64),
        age_x_weight=np.bincount(age_index, weights=w * x, minlength=n_ages).astype(np.float64),
        recency_values=recency_values,
        run_x=x_repeat[run_starts],
        run_starts=run_starts.astype(np.intp),
        weight=w[repeat],
        x=x_repeat,
        run_index=(np.cumsum(np.diff(x_repeat, prepend=x_repeat[:1]) != 0)).astype(np.intp),
        age_index=age_index[repeat],
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
    steps: from last month's maximum two or three passes reach this month's, where
    finite differences of the gradient cost eight. Each row adds log(1 + e^g), g the
    log odds of having left; with s = e^g / (1 + e^g) its second derivatives are
    s (1 - s) g_i g_j + s g_ij, and g is linear in log a, in r and in -log(b + x - 1),
    so only alpha's terms need more than sums already at hand.
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

    # Repeat buyers: bracket = (alpha + T)^-(r + x) * (1 + odds of having left at t_x),
    # log odds = log(a / (b + x - 1)) + (r + x) * log((alpha + T) / (alpha + t_x)).
    w = rows.weight
    log_ratio, row_inv_age, row_inv_recency = rows.alpha_terms(float(alpha), log_age, inv_age)
    r_x = rows.x + r
    log_odds = r_x * log_ratio
    log_odds += np.take(np.log(a) - np.log(b + rows.run_x - 1.0), rows.run_index)
    clipped = np.minimum(log_odds, _EXP_LIMIT)
    odds = np.exp(clipped)
    one_plus_odds = odds + 1.0
    ll += wsum(w, np.log(one_plus_odds)) + (wsum(w, log_odds) - wsum(w, clipped))
    # Share of the bracket due to "left": odds / (1 + odds).
    weighted_share = np.divide(odds, one_plus_odds, out=odds)
    weighted_share *= w
    d_r += wsum(weighted_share, log_ratio)
    shares = float(weighted_share.sum())
    d_a += shares / a
    run_shares = np.add.reduceat(weighted_share, rows.run_starts)
    inv_run = 1.0 / (b + rows.run_x - 1.0)
    d_b -= wsum(run_shares, inv_run)
    hessian = None
    if curvature:
        p_hessian = _hessian_in_params(
            rows, r, alpha, a, b, inv_age, log_ratio, row_inv_age, row_inv_recency, r_x,
            weighted_share, one_plus_odds, shares, run_shares, inv_run)
    weighted_share *= r_x
    d_alpha += wsum(weighted_share, row_inv_age) - wsum(weighted_share, row_inv_recency)

    # Chain rule to log-parameters; minimise the mean negative log-likelihood.
    params = np.array([r, alpha, a, b])
    grad_params = np.array([d_r, d_alpha, d_a, d_b])
    if curvature:
        # d2/dlog p_i dlog p_j = p_i p_j d2/dp_i dp_j + [i = j] p_i d/dp_i
        hessian = -(np.outer(params, params) * p_hessian + np.diag(params * grad_params)) / n
    return -ll / n, -(grad_params * params) / n, hessian


def _hessian_in_params(rows: _Rows, r: float, alpha: float, a: float, b: float,
                       inv_age: FloatArray, log_ratio: FloatArray, row_inv_age: FloatArray,
                       row_inv_recency: FloatArray, r_x: FloatArray,
                       weighted_share: FloatArray, one_plus_odds: FloatArray, shares: float,
                       run_shares: FloatArray, inv_run: FloatArray) -> FloatArray:
    """Second derivatives of the log-likelihood in (r, alpha, a, b) themselves.

    Terms in x alone take trigamma per distinct x; the ages' terms a sum per distinct T;
    the repeat buyers' log(1 + e^g) terms take, per row, s (1 - s) (computed as
    s / (1 + odds), which keeps its digits where s is near 1) times the products of
    g's first derivatives (log((alpha + T)/(alpha + t_x)), (r + x) times the change
    of that in alpha, 1 / a, -1 / (b + x - 1)) plus s times g's second derivatives.
    """
    xv, xw, n = rows.x_values, rows.x_weight, rows.total_weight
    h = np.zeros((4, 4))
    # Terms in x only: log Gamma(r + x) - log Gamma(r) + log B(a, b + x) - log B(a, b).
    ab_x = polygamma(1, a + b + xv)
    h[0, 0] = wsum(xw, polygamma(1, r + xv)) - n * float(polygamma(1, r))
    ab = wsum(xw, float(polygamma(1, a + b)) - ab_x)
    h[2, 2] = h[2, 3] = ab
    # (the x weights sum to every customer, n)
    h[3, 3] = wsum(xw, polygamma(1, b + xv) - ab_x) - n * float(polygamma(1, b)) \
        + n * float(polygamma(1, a + b))
    # n r log(alpha) - sum over T of (r + x) log(alpha + T)
    h[0, 1] = n / alpha - wsum(rows.age_weight, inv_age)
    h[1, 1] = -n * r / alpha**2 + wsum(r * rows.age_weight + rows.age_x_weight,
                                        inv_age * inv_age)
    # Repeat buyers: sum of w log(1 + e^g).
    w_curve = weighted_share / one_plus_odds  # w s (1 - s)
    change = row_inv_age - row_inv_recency  # d log_ratio / d alpha
    g_alpha = r_x * change
    curve_ratio = w_curve * log_ratio
    curve_alpha = w_curve * g_alpha
    run_curve = np.add.reduceat(w_curve, rows.run_starts)
    curves = float(w_curve.sum())
    h[0, 0] += wsum(curve_ratio, log_ratio)
    h[0, 1] += wsum(curve_ratio, g_alpha) + wsum(weighted_share, change)
    h[0, 2] += float(curve_ratio.sum()) / a
    h[0, 3] -= wsum(np.add.reduceat(curve_ratio, rows.run_starts), inv_run)
    # d2 g / d alpha2 = (r + x) (1/(alpha + t_x)^2 - 1/(alpha + T)^2)
    h[1, 1] += wsum(curve_alpha, g_alpha) - wsum(
        weighted_share * g_alpha, row_inv_age + row_inv_recency)
    h[1, 2] += float(curve_alpha.sum()) / a
    h[1, 3] -= wsum(np.add.reduceat(curve_alpha, rows.run_starts), inv_run)
    h[2, 2] += (curves - shares) / a**2
    h[2, 3] -= wsum(run_curve, inv_run) / a
    h[3, 3] += wsum(run_curve + run_shares, inv_run * inv_run)
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
