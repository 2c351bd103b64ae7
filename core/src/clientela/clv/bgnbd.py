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
from scipy.special import betaln, digamma, gammaln

from clientela.clv.fit import ModelFit, maximise_likelihood, require_repeat_buyers
from clientela.clv.summary import RfmSummary, collapse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
PARAMETERS = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class _Rows:
    """Distinct customer rows with the values the likelihood reuses at every step.

    Terms that depend on x alone are summed over the few distinct x values, and
    logarithms of alpha + T and alpha + t_x over the distinct times, so one
    evaluation costs a handful of passes over the distinct rows.
    """

    weight: FloatArray
    x: FloatArray
    x_values: FloatArray
    x_weight: FloatArray
    age_values: FloatArray
    age_index: IntArray
    repeat: NDArray[np.bool_]
    repeat_weight: FloatArray
    repeat_x: FloatArray
    recency_values: FloatArray
    recency_index: IntArray
    total_weight: float


def _prepare(summary: RfmSummary) -> _Rows:
    grouped, _ = collapse(summary)
    x, t_x, age, w = grouped.frequency, grouped.recency, grouped.age, grouped.row_weights
    x_values, x_index = np.unique(x, return_inverse=True)
    age_values, age_index = np.unique(age, return_inverse=True)
    repeat = x > 0
    recency_values, recency_index = np.unique(t_x[repeat], return_inverse=True)
    return _Rows(
        weight=w,
        x=x,
        x_values=x_values,
        x_weight=np.bincount(x_index.reshape(-1), weights=w, minlength=x_values.shape[0]),
        age_values=age_values,
        age_index=age_index.reshape(-1),
        repeat=repeat,
        repeat_weight=w[repeat],
        repeat_x=x[repeat],
        recency_values=recency_values,
        recency_index=recency_index.reshape(-1),
        total_weight=float(w.sum()),
    )


def _objective(rows: _Rows, log_params: FloatArray) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    xv, xw = rows.x_values, rows.x_weight
    # Terms in x only.
    ll_x = float(
        xw
        @ (
            gammaln(r + xv)
            - gammaln(r)
            + r * np.log(alpha)
            + betaln(a, b + xv)
            - betaln(a, b)
        )
    )
    d_r = float(xw @ (digamma(r + xv) - digamma(r) + np.log(alpha)))
    d_alpha = float(xw.sum() * r / alpha)
    d_a = float(xw @ (digamma(a + b) - digamma(a + b + xv)))
    d_b = float(xw @ (digamma(b + xv) - digamma(a + b + xv) - digamma(b) + digamma(a + b)))

    # Bracket: still alive at T, or left right after the last purchase at t_x.
    log_age = np.log(alpha + rows.age_values)[rows.age_index]
    r_x = r + rows.x
    log_alive = -r_x * log_age
    log_bracket = log_alive.copy()
    rx_rep = r + rows.repeat_x
    log_recency = np.log(alpha + rows.recency_values)[rows.recency_index]
    log_left = np.log(a) - np.log(b + rows.repeat_x - 1) - rx_rep * log_recency
    log_bracket[rows.repeat] = np.logaddexp(log_alive[rows.repeat], log_left)
    ll_rows = float(rows.weight @ log_bracket)

    # Share of the bracket due to "left"; the "alive" share is its complement.
    share_left = np.exp(log_left - log_bracket[rows.repeat])
    share_alive_rep = 1.0 - share_left
    inv_age = (1.0 / (alpha + rows.age_values))[rows.age_index]
    inv_recency = (1.0 / (alpha + rows.recency_values))[rows.recency_index]
    w, wr = rows.weight, rows.repeat_weight
    # For customers without repeat purchases the bracket is the "alive" term alone.
    nonrep = ~rows.repeat
    d_r -= float(w[nonrep] @ log_age[nonrep])
    d_r -= float(wr @ (share_alive_rep * log_age[rows.repeat] + share_left * log_recency))
    d_alpha -= float(w[nonrep] @ (r_x[nonrep] * inv_age[nonrep]))
    d_alpha -= float(
        wr @ (rx_rep * (share_alive_rep * inv_age[rows.repeat] + share_left * inv_recency))
    )
    d_a += float(wr @ share_left) / a
    d_b -= float(wr @ (share_left / (b + rows.repeat_x - 1)))

    n = rows.total_weight
    grad_natural = np.array([d_r, d_alpha, d_a, d_b])
    # Chain rule to log-parameters; minimise the mean negative log-likelihood.
    grad_log = grad_natural * np.array([r, alpha, a, b])
    return -(ll_x + ll_rows) / n, -grad_log / n


def log_likelihood(summary: RfmSummary, params: dict[str, float]) -> float:
    """Total log-likelihood at given parameters, to compare fits or check published values."""
    rows = _prepare(summary)
    theta = np.log([params[p] for p in PARAMETERS])
    return -_objective(rows, theta)[0] * rows.total_weight


def _starts(rows: _Rows) -> list[list[float]]:
    # A gamma(1, alpha) rate with the observed mean purchase rate; dropout
    # probability around 1/4, then a second guess with rarer dropout.
    rate = float(rows.weight @ rows.x) / float(
        rows.weight @ rows.age_values[rows.age_index] + 1e-12
    )
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
    require_repeat_buyers("bgnbd", float(rows.repeat_weight.sum()))
    return maximise_likelihood(
        "bgnbd",
        PARAMETERS,
        lambda theta: _objective(rows, theta),
        _starts(rows),
        rows.total_weight,
        int(rows.weight.shape[0]),
        analytic_gradient=True,
        strict=strict,
    )
