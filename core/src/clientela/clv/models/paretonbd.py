"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): buying rate and lifetime, both gamma-mixed.

Customers buy as a Poisson process with a gamma(r, alpha) rate and leave at an
exponential time with a gamma(s, beta) rate. For (x, t_x, T):

    L = Gamma(r + x) alpha^r beta^s / Gamma(r)
        * [ (alpha + T)^-(r+x) (beta + T)^-s
            + s * integral_{t_x}^{T} (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau ]

The integral is written with Gauss's hypergeometric function as in Fader &
Hardie's note on the Pareto/NBD likelihood: F(t) / (r+s+x), with

    F(t) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) / (alpha+t)^(r+s+x)   if alpha >= beta
    F(t) = 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s+x)     otherwise,

choosing the branch whose argument lies in [0, 1), where the series converges
and no terms of opposite sign cancel. Everything is kept in log space:
log(F(t_x) - F(T)) = log F(t_x) + log1p(-exp(log F(T) - log F(t_x))).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln, hyp2f1

from clientela.clv.models._sums import wsum
from clientela.clv.models.fit import (
    ModelFit,
    WarmStart,
    maximise_likelihood,
    require_repeat_buyers,
)
from clientela.clv.models.inputs import RfmSummary, collapse, unique_rows

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
PARAMETERS = ("r", "alpha", "s", "beta")


@dataclass(frozen=True)
class _Pairs:
    """Distinct (x, t) over both t = t_x and t = T, where the costly 2F1 is evaluated.

    F(t) depends on a customer only through x and t, and the pairs (x, t_x)
    and (x, T) repeat far more than the triples (x, t_x, T) do, so evaluating
    2F1 once per pair and gathering cuts the dominant cost several times.
    """

    x: FloatArray
    t: FloatArray
    recency_index: IntArray
    age_index: IntArray


def _pairs(x: FloatArray, t_x: FloatArray, age: FloatArray) -> _Pairs:
    n = x.shape[0]
    both_x = np.concatenate([x, x])
    both_t = np.concatenate([t_x, age])
    first, inverse = unique_rows(both_x, both_t)
    return _Pairs(both_x[first], both_t[first], inverse[:n], inverse[n:])


@dataclass(frozen=True)
class _Rows:
    weight: FloatArray
    x: FloatArray
    recency: FloatArray
    age: FloatArray
    pairs: _Pairs
    total_weight: float


def _prepare(summary: RfmSummary) -> _Rows:
    grouped, _ = collapse(summary)
    return _Rows(
        weight=grouped.row_weights,
        x=grouped.frequency,
        recency=grouped.recency,
        age=grouped.age,
        pairs=_pairs(grouped.frequency, grouped.recency, grouped.age),
        total_weight=float(grouped.row_weights.sum()),
    )


def _log_f(
    t: FloatArray, x: FloatArray, r: float, alpha: float, s: float, beta: float
) -> FloatArray:
    """log F(t) of the module docstring, in the branch whose 2F1 argument is in [0, 1)."""
    total = r + s + x
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        log_hyp = np.log(hyp2f1(total, s + 1.0, total + 1.0, z))
        return np.asarray(log_hyp - total * np.log(alpha + t), dtype=np.float64)
    z = (beta - alpha) / (beta + t)
    log_hyp = np.log(hyp2f1(total, r + x, total + 1.0, z))
    return np.asarray(log_hyp - total * np.log(beta + t), dtype=np.float64)


def log_bracket_terms(
    x: FloatArray,
    t_x: FloatArray,
    age: FloatArray,
    params: dict[str, float],
    pairs: _Pairs | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Logs of the "still alive at T" and "left between t_x and T" likelihood terms.

    Shared with the predictions: their ratio is the probability of being alive.
    ``pairs`` may be passed precomputed when the same customers are evaluated
    many times, as in a fit.
    """
    r, alpha, s, beta = (params[p] for p in PARAMETERS)
    if pairs is None:
        pairs = _pairs(x, t_x, age)
    log_alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = _log_f(pairs.t, pairs.x, r, alpha, s, beta)
        log_f_recency = log_f[pairs.recency_index]
        # F decreases in t; rounding can make the difference a hair positive when t_x == T.
        gap = np.minimum(log_f[pairs.age_index] - log_f_recency, 0.0)
        log_left = np.log(s / (r + s + x)) + log_f_recency + np.log1p(-np.exp(gap))
    return log_alive, log_left


def _row_log_likelihood(rows: _Rows, params: dict[str, float]) -> FloatArray:
    r, alpha, s, beta = (params[p] for p in PARAMETERS)
    log_alive, log_left = log_bracket_terms(rows.x, rows.recency, rows.age, params, rows.pairs)
    prefix = gammaln(r + rows.x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return np.asarray(prefix + np.logaddexp(log_alive, log_left), dtype=np.float64)


def _objective(rows: _Rows, log_params: FloatArray) -> tuple[float, None]:
    params = dict(zip(PARAMETERS, np.exp(log_params).tolist(), strict=True))
    row_ll = _row_log_likelihood(rows, params)
    return -wsum(rows.weight, row_ll) / rows.total_weight, None


def log_likelihood(summary: RfmSummary, params: dict[str, float]) -> float:
    """Total log-likelihood at given parameters, to compare fits or check published values."""
    rows = _prepare(summary)
    return wsum(rows.weight, _row_log_likelihood(rows, params))


def fit_paretonbd(summary: RfmSummary, *, strict: bool = True,
                  start: WarmStart = None) -> ModelFit:
    """Maximum-likelihood Pareto/NBD parameters (r, alpha, s, beta).

    The gradient is taken by central differences (the 2F1 terms have no cheap
    analytic derivative in their parameters), so this fit is slower than
    BG/NBD; it works on collapsed rows all the same. Raises ``ClvFitError`` and
    takes a warm ``start`` as ``fit_bgnbd`` does.
    """
    rows = _prepare(summary)
    require_repeat_buyers("paretonbd", float(rows.weight[rows.x > 0].sum()))
    rate = max(wsum(rows.weight, rows.x) / wsum(rows.weight, rows.age + 1e-12), 1e-6)
    mean_age = wsum(rows.weight, rows.age) / rows.total_weight
    starts = [[1.0, 1.0 / rate, 1.0, mean_age], [0.5, 0.5 / rate, 0.5, 0.5 * mean_age]]
    return maximise_likelihood(
        "paretonbd",
        PARAMETERS,
        lambda theta: _objective(rows, theta),
        starts,
        rows.total_weight,
        int(rows.weight.shape[0]),
        analytic_gradient=False,
        strict=strict,
        warm_start=start,
    )
