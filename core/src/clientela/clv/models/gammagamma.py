"""Gamma-Gamma (Fader, Hardie & Berger's note): how much a customer spends per order.

Each order's value is gamma(p, nu) with a customer-specific nu drawn from
gamma(q, gamma). The mean m of a customer's x repeat orders then has density

    f(m | x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * gamma^q m^(p x - 1) x^(p x)
               / (gamma + m x)^(p x + q)

fitted here on the repeat buyers only (x > 0), with its analytic gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, gammaln, polygamma

from clientela.clv.models._sums import wsum
from clientela.clv.models.errors import ClvFitError
from clientela.clv.models.fit import (
    ModelFit,
    WarmStart,
    maximise_likelihood,
    require_repeat_buyers,
)
from clientela.clv.models.inputs import RfmSummary, small_unique

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
PARAMETERS = ("p", "q", "gamma")


@dataclass(frozen=True)
class _Rows:
    """Repeat buyers, with every term that does not involve gamma summed once.

    Only log(gamma + m x), its reciprocal and the reciprocal's square need a pass
    over the customers at each step; p and q multiply sums of those against fixed
    weights. Those six sums depend on gamma alone, so they are remembered for the last
    gammas seen: a Newton step that leaves gamma be costs no pass at all, with the
    very same numbers.
    """

    weight: FloatArray
    x_weight_per_row: FloatArray  # weight * x
    m_x: FloatArray
    x_values: FloatArray
    x_weight: FloatArray
    fixed_p: float  # sum of weight * x * log(m x); the p coefficient without gamma
    weighted_log_m: float
    mean_spend: float
    total_weight: float
    sums_by_gamma: dict[float, tuple[float, ...]] = field(
        default_factory=dict, compare=False, repr=False)

    def gamma_sums(self, gamma: float) -> tuple[float, ...]:
        """Sums over rows of weight * x and weight times log(gamma + m x), 1 / (gamma + m x)
        and 1 / (gamma + m x)^2 (the last two for the Hessian): the only terms that need a
        pass over the customers."""
        found = self.sums_by_gamma.get(gamma)
        if found is None:
            denominator = self.m_x + gamma
            log_denominator = np.log(denominator)
            inv_denominator = np.reciprocal(denominator, out=denominator)
            found = (wsum(self.x_weight_per_row, log_denominator),
                     wsum(self.weight, log_denominator),
                     wsum(self.x_weight_per_row, inv_denominator),
                     wsum(self.weight, inv_denominator))
            inv_denominator *= inv_denominator
            found += (wsum(self.x_weight_per_row, inv_denominator),
                      wsum(self.weight, inv_denominator))
            if len(self.sums_by_gamma) >= _REMEMBERED_GAMMAS:
                self.sums_by_gamma.pop(next(iter(self.sums_by_gamma)))
            self.sums_by_gamma[gamma] = found
        return found


_REMEMBERED_GAMMAS = 8


def _prepare(summary: RfmSummary) -> _Rows:
    if summary.monetary is None:
        raise ClvFitError(
            "gammagamma needs the mean spend of repeat purchases: build the RfmSummary "
            "with monetary values"
        )
    repeat = summary.frequency > 0
    x = summary.frequency[repeat]
    m = summary.monetary[repeat]
    w = summary.row_weights[repeat]
    if not np.all(np.isfinite(m)) or (m.size and m.min() <= 0):
        raise ClvFitError(
            "gammagamma needs a positive mean spend for every repeat buyer; drop or "
            "net off refunds and zero-value orders before fitting"
        )
    x_values, x_index = small_unique(x)
    x_weight = np.bincount(x_index, weights=w, minlength=x_values.shape[0]).astype(np.float64)
    log_m = np.log(m)
    weighted_x = w * x
    return _Rows(
        weight=w,
        x_weight_per_row=weighted_x,
        m_x=m * x,
        x_values=x_values,
        x_weight=x_weight,
        fixed_p=wsum(weighted_x, log_m) + wsum(x_weight, x_values * np.log(x_values)),
        weighted_log_m=wsum(w, log_m),
        mean_spend=wsum(w, m) / float(w.sum()) if w.size else 0.0,
        total_weight=float(w.sum()),
    )


def _objective(rows: _Rows, log_params: FloatArray) -> tuple[float, FloatArray]:
    p, q, gamma = np.exp(log_params)
    xv, xw = rows.x_values, rows.x_weight
    px = p * xv
    n = rows.total_weight
    x_log_sum, log_sum, x_inv_sum, inv_sum = rows.gamma_sums(float(gamma))[:4]
    ll = (
        wsum(xw, (gammaln(px + q) - gammaln(px)))
        - n * gammaln(q)
        + n * q * np.log(gamma)
        + p * rows.fixed_p
        - rows.weighted_log_m
        - (p * x_log_sum + q * log_sum)
    )
    d_p = wsum(xw, (xv * (digamma(px + q) - digamma(px)))) + rows.fixed_p - x_log_sum
    d_q = wsum(xw, digamma(px + q)) - n * digamma(q) + n * np.log(gamma) - log_sum
    d_gamma = n * q / gamma - (
        p * x_inv_sum + q * inv_sum
    )
    grad_log = np.array([d_p * p, d_q * q, d_gamma * gamma])
    return -ll / n, -grad_log / n


def _objective_and_hessian(rows: _Rows, log_params: FloatArray
                           ) -> tuple[float, FloatArray, FloatArray]:
    """The objective, its gradient and its Hessian in log-parameters, from the same sums.

    Only gamma's second derivative needs sums the gradient does not (of 1 / (gamma + m x)
    squared), and `gamma_sums` makes them in the same pass, so a Newton step costs one
    pass over the repeat buyers where a finite-difference Hessian cost two more.
    """
    value, grad = _objective(rows, log_params)
    p, q, gamma = np.exp(log_params)
    xv, xw, n = rows.x_values, rows.x_weight, rows.total_weight
    _, _, x_inv_sum, inv_sum, x_inv2_sum, inv2_sum = rows.gamma_sums(float(gamma))
    outer = polygamma(1, p * xv + q)
    h = np.zeros((3, 3))
    h[0, 0] = wsum(xw, xv * xv * (outer - polygamma(1, p * xv)))
    h[0, 1] = wsum(xw, xv * outer)
    h[0, 2] = -x_inv_sum
    h[1, 1] = wsum(xw, outer) - n * float(polygamma(1, q))
    h[1, 2] = n / gamma - inv_sum
    h[2, 2] = -n * q / gamma**2 + p * x_inv2_sum + q * inv2_sum
    h = np.triu(h) + np.triu(h, 1).T
    params = np.array([p, q, gamma])
    # d2/dlog p_i dlog p_j = p_i p_j d2/dp_i dp_j + [i = j] p_i d/dp_i; grad is already
    # the negated mean of p_i d/dp_i
    return value, grad, -np.outer(params, params) * h / n + np.diag(grad)


def log_likelihood(summary: RfmSummary, params: dict[str, float]) -> float:
    """Total log-likelihood of the repeat buyers' mean spend at given parameters."""
    rows = _prepare(summary)
    theta = np.log([params[p] for p in PARAMETERS])
    return -_objective(rows, theta)[0] * rows.total_weight


def fit_gammagamma(summary: RfmSummary, *, strict: bool = True,
                   start: WarmStart = None) -> ModelFit:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) from repeat buyers' mean spend.

    Customers without repeat purchases carry no spend information beyond their
    first order, which the model leaves out, so they are ignored here and get
    the population mean in ``expected_spend``. Raises ``ClvFitError`` with fewer
    than 10 repeat buyers, missing or non-positive spend, or no maximum; a warm
    ``start`` is tried first, as in ``fit_bgnbd``.
    """
    rows = _prepare(summary)
    require_repeat_buyers("gammagamma", rows.total_weight)
    # Starting points whose population mean p*gamma/(q-1) equals the observed mean.
    starts = [[1.0, 3.0, 2.0 * rows.mean_spend], [5.0, 3.0, 0.4 * rows.mean_spend]]
    return maximise_likelihood(
        "gammagamma",
        PARAMETERS,
        lambda theta: _objective(rows, theta),
        starts,
        rows.total_weight,
        int(rows.weight.shape[0]),
        analytic_gradient=True,
        strict=strict,
        warm_start=start,
        with_hessian=lambda theta: _objective_and_hessian(rows, theta),
    )
