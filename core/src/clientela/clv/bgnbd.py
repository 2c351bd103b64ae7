"""BG/NBD (Fader, Hardie & Lee 2005): how often customers buy and when they leave.

Customers buy as a Poisson process with a gamma(r, alpha)-distributed rate and,
after each repeat purchase, leave for good with a beta(a, b)-distributed
probability. The likelihood of (x, t_x, T) is

    L = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / Gamma(r)
        * [ (alpha + T)^-(r+x) + [x > 0] a / (b + x - 1) * (alpha + t_x)^-(r+x) ]

evaluated here in log space, with its analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, digamma, expit, gammaln

from clientela.clv._sums import wsum
from clientela.clv.fit import ModelFit, maximise_likelihood, require_repeat_buyers
from clientela.clv.summary import RfmSummary, collapse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
PARAMETERS = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class _Rows:
    """Distinct customer rows with the values the likelihood reuses at every step.

    Terms that depend on x alone are summed over the few distinct x values;
    customers without repeat purchases reduce to one weight per distinct T;
    logarithms of alpha + T and alpha + t_x are taken over distinct times and
    gathered. One evaluation then costs a handful of passes over the distinct
    rows of repeat buyers.
    """

    x_values: FloatArray
    x_weight: FloatArray
    x_repeat_values: FloatArray  # x_values with 0 raised to 1, so b + x - 1 > 0
    age_values: FloatArray
    recency_values: FloatArray
    single_weight: FloatArray  # customers with x = 0, per distinct T
    weight: FloatArray  # repeat buyers' rows from here on
    x: FloatArray
    x_index: IntArray
    age_index: IntArray
    recency_index: IntArray
    total_weight: float
    n_rows: int


def _prepare(summary: RfmSummary) -> _Rows:
    grouped, _ = collapse(summary)
    x, t_x, age, w = grouped.frequency, grouped.recency, grouped.age, grouped.row_weights
    x_values, x_index = np.unique(x, return_inverse=True)
    age_values, age_index = np.unique(age, return_inverse=True)
    x_index, age_index = x_index.reshape(-1), age_index.reshape(-1)
    repeat = x > 0
    recency_values, recency_index = np.unique(t_x[repeat], return_inverse=True)
    return _Rows(
        x_values=x_values,
        x_weight=np.bincount(x_index, weights=w, minlength=x_values.shape[0]).astype(np.float64),
        x_repeat_values=np.maximum(x_values, 1.0),
        age_values=age_values,
        recency_values=recency_values,
        single_weight=np.bincount(
            age_index[~repeat], weights=w[~repeat], minlength=age_values.shape[0]
        ).astype(np.float64),
        weight=w[repeat],
        x=x[repeat],
        x_index=x_index[repeat],
        age_index=age_index[repeat],
        recency_index=recency_index.reshape(-1),
        total_weight=float(w.sum()),
        n_rows=int(w.shape[0]),
    )


def _objective(rows: _Rows, log_params: FloatArray) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    xv, xw = rows.x_values, rows.x_weight
    # Terms in x only.
    ll = wsum(
        xw, (gammaln(r + xv) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xv) - betaln(a, b))
    )
    d_r = wsum(xw, (digamma(r + xv) - digamma(r) + np.log(alpha)))
    d_alpha = float(xw.sum() * r / alpha)
    d_a = wsum(xw, (digamma(a + b) - digamma(a + b + xv)))
    d_b = wsum(xw, (digamma(b + xv) - digamma(a + b + xv) - digamma(b) + digamma(a + b)))

    # Customers without repeat purchases: the bracket is (alpha + T)^-r.
    log_age_values = np.log(alpha + rows.age_values)
    inv_age_values = 1.0 / (alpha + rows.age_values)
    ll -= r * wsum(rows.single_weight, log_age_values)
    d_r -= wsum(rows.single_weight, log_age_values)
    d_alpha -= r * wsum(rows.single_weight, inv_age_values)

    # Repeat buyers: still alive at T, or left right after the last purchase at t_x.
    w = rows.weight
    r_x = r + rows.x
    log_age = log_age_values[rows.age_index]
    log_recency = np.log(alpha + rows.recency_values)[rows.recency_index]
    log_alive = -r_x * log_age
    log_left = np.log(a) - np.log(b + rows.x_repeat_values - 1.0)[rows.x_index] - r_x * log_recency
    ll += wsum(w, np.logaddexp(log_alive, log_left))
    # Share of the bracket due to "left"; the "alive" share is its complement.
    share_left = expit(log_left - log_alive)
    d_r -= wsum(w, (log_age + share_left * (log_recency - log_age)))
    inv_age = inv_age_values[rows.age_index]
    inv_recency = (1.0 / (alpha + rows.recency_values))[rows.recency_index]
    d_alpha -= wsum(w, (r_x * (inv_age + share_left * (inv_recency - inv_age))))
    weighted_share = w * share_left
    d_a += float(weighted_share.sum()) / a
    d_b -= wsum(weighted_share, (1.0 / (b + rows.x_repeat_values - 1.0))[rows.x_index])

    n = rows.total_weight
    # Chain rule to log-parameters; minimise the mean negative log-likelihood.
    grad_log = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return -ll / n, -grad_log / n


def log_likelihood(summary: RfmSummary, params: dict[str, float]) -> float:
    """Total log-likelihood at given parameters, to compare fits or check published values."""
    rows = _prepare(summary)
    theta = np.log([params[p] for p in PARAMETERS])
    return -_objective(rows, theta)[0] * rows.total_weight


def _starts(rows: _Rows) -> list[list[float]]:
    # A gamma(1, alpha) rate with the observed mean purchase rate; dropout
    # probability around 1/4, then a second guess with rarer dropout.
    exposure = wsum(rows.weight, rows.age_values[rows.age_index])
    exposure += wsum(rows.single_weight, rows.age_values)
    rate = wsum(rows.weight, rows.x) / (exposure + 1e-12)
    rate = max(rate, 1e-6)
    return [[1.0, 1.0 / rate, 1.0, 3.0], [0.5, 0.5 / rate, 0.5, 5.0]]


def fit_bgnbd(summary: RfmSummary, *, strict: bool = True) -> ModelFit:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b) for a customer summary.

    Identical customers are collapsed first, so the cost grows with the number
    of distinct (x, t_x, T) rows rather than customers. Raises ``ClvFitError``
    when fewer than 10 customers bought again or no maximum is found; with
    ``strict=False`` it returns the best point found with ``converged=False``.
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
    )
