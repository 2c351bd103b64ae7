"""Per-customer predictions from fitted models: P(alive), future purchases, spend, CLV.

Both purchase models give E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) * C(x, T, t),
with C the expected purchases of a customer known to be alive. C depends on
the customer only through (x, T), which take few distinct values, so the
costly special functions are evaluated once per distinct (x, T) and spread
back to customers; a million customers cost little more than a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, hyp2f1

from clientela.clv.models import paretonbd
from clientela.clv.models.errors import ClvFitError
from clientela.clv.models.fit import ModelFit
from clientela.clv.models.hypergeometric import log_hyp2f1
from clientela.clv.models.inputs import RfmSummary, collapse, unique_rows

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_PURCHASE_MODELS = ("bgnbd", "paretonbd")


def _require_purchase_model(fit: ModelFit) -> None:
    if fit.model not in _PURCHASE_MODELS:
        raise ValueError(
            f"a purchase model (BG/NBD or Pareto/NBD) is needed here, got a {fit.model} fit"
        )


def p_alive(fit: ModelFit, summary: RfmSummary) -> FloatArray:
    """Probability that each customer is still active at the end of calibration.

    Under BG/NBD a customer without repeat purchases has P(alive) = 1 (dropout
    only follows a repeat purchase); under Pareto/NBD it falls with age.
    """
    _require_purchase_model(fit)
    if fit.model == "bgnbd":
        return _p_alive_bgnbd(fit.params, summary.frequency, summary.recency, summary.age)
    grouped, inverse = collapse(summary)
    log_alive, log_left = paretonbd.log_bracket_terms(
        grouped.frequency, grouped.recency, grouped.age, fit.params
    )
    return np.asarray(np.exp(log_alive - np.logaddexp(log_alive, log_left))[inverse])


def _p_alive_bgnbd(
    params: dict[str, float], x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    repeat = x > 0
    log_odds_left = np.full(x.shape, -np.inf)
    xr = x[repeat]
    log_odds_left[repeat] = np.log(a / (b + xr - 1)) + (r + xr) * (
        np.log(alpha + age[repeat]) - np.log(alpha + t_x[repeat])
    )
    return np.asarray(expit(-log_odds_left))


def _nudge_from_one(value: float) -> float:
    # The closed forms divide by (a - 1) or (s - 1); the limit at 1 is approached
    # to within rounding by moving a hair away from it.
    return value + 1e-7 if abs(value - 1.0) < 1e-7 else value


def _alive_purchases(fit: ModelFit, x: FloatArray, age: FloatArray, t: FloatArray) -> FloatArray:
    """C(x, T, t): expected purchases in (T, T + t] of a customer known to be alive at T."""
    if fit.model == "bgnbd":
        r, alpha, b = fit.params["r"], fit.params["alpha"], fit.params["b"]
        a = _nudge_from_one(fit.params["a"])
        z = t / (alpha + age + t)
        # Fader, Hardie & Lee's eq. (10) after Euler's transformation
        # 2F1(A, B; C; z) = (1 - z)^(C-A-B) 2F1(C-A, C-B; C; z): its parameters stay
        # small as x grows, so the series neither overflows nor cancels.
        c = a + b + x - 1
        euler = hyp2f1(a + b - 1 - r, a - 1, c, z)
        tail = np.exp((a - 1) * np.log1p(-z)) * np.where(np.isfinite(euler), euler, 0.0)
        lost = ~np.isfinite(euler)
        if lost.any():
            tail[lost] = _bgnbd_tail_by_series(r, b, x, c, z, lost)
        return np.asarray(c / (a - 1) * (1 - tail))
    r, alpha, beta = fit.params["r"], fit.params["alpha"], fit.params["beta"]
    s = _nudge_from_one(fit.params["s"])
    log_ratio = np.log(beta + age) - np.log(beta + age + t)
    lifetime_factor = -np.expm1((s - 1) * log_ratio) / (s - 1)
    return np.asarray((r + x) * (beta + age) / (alpha + age) * lifetime_factor)


def _bgnbd_tail_by_series(r: float, b: float, x: FloatArray, c: FloatArray, z: FloatArray,
                          lost: NDArray[np.bool_]) -> FloatArray:
    """The tail (1 - z)^(r + x) 2F1(r + x, b + x; c; z) of eq. (10) in its own form, where
    scipy's hyp2f1 of the Euler form is not finite: with a and b in the millions (a fit
    whose prior on the dropout probability is nearly one point) its parameters are huge
    and scipy returns inf or NaN, which made every prediction NaN. This form's series has
    positive terms and is summed in logs (`log_hyp2f1`), so it stays finite and exact
    there; it is not used elsewhere, where the Euler form is already right."""
    xs, cs, zs = (np.broadcast_to(v, lost.shape)[lost] for v in (x, c, z))
    return np.exp((r + xs) * np.log1p(-zs) + log_hyp2f1(r + xs, b + xs, cs, zs))


def expected_purchases(fit: ModelFit, summary: RfmSummary, t: float) -> FloatArray:
    """Expected number of purchases of each customer in the next ``t`` time units.

    ``t`` is in the unit of the summary the model was fitted on (days or weeks).
    """
    _require_purchase_model(fit)
    first, inverse = unique_rows(summary.frequency, summary.age)
    curve = _alive_purchases(
        fit, summary.frequency[first], summary.age[first], np.full(first.shape[0], float(t))
    )
    return p_alive(fit, summary) * curve[inverse]


def expected_spend(fit: ModelFit, summary: RfmSummary) -> FloatArray:
    """Expected value of each customer's future orders (Gamma-Gamma conditional mean).

    A weighted mean of the population mean p*gamma/(q-1) and the customer's own
    mean spend, the latter trusted more the more repeat orders back it; a
    customer without repeat orders gets the population mean.
    """
    if fit.model != "gammagamma":
        raise ValueError(f"expected_spend needs a gammagamma fit, got {fit.model}")
    p, q, gamma = fit.params["p"], fit.params["q"], fit.params["gamma"]
    if q <= 1:
        raise ClvFitError(
            f"the Gamma-Gamma fit has q = {q:.3g} <= 1, so its expected spend is infinite; "
            "very large or skewed orders dominate: cap outlier order values and refit"
        )
    if summary.monetary is None:
        raise ValueError("expected_spend needs monetary values in the RfmSummary")
    x = summary.frequency
    m = np.where(x > 0, summary.monetary, 0.0)
    return np.asarray(p * (gamma + x * m) / (p * x + q - 1))


def clv(
    purchase_fit: ModelFit,
    spend_fit: ModelFit,
    summary: RfmSummary,
    *,
    periods_per_month: float,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> FloatArray:
    """Expected revenue of each customer over the next ``horizon_months``, discounted monthly.

    CLV = sum over months k = 1..H of (E[Y(k)] - E[Y(k-1)]) * spend / (1 + d)^k,
    purchases in month k being discounted by k months. ``periods_per_month``
    converts months to the fit's time unit and is required because the summary
    does not know its unit: pass ``DAYS_PER_MONTH`` (30.44) or
    ``WEEKS_PER_MONTH`` (4.35) from this package.
    """
    return predictions(purchase_fit, spend_fit, summary, periods_per_month=periods_per_month,
                       horizon_months=horizon_months, discount_rate=discount_rate).clv


@dataclass(frozen=True)
class Predictions:
    """Every per-customer prediction of a CLV, in the summary's customer order."""

    p_alive: FloatArray
    expected_purchases: FloatArray
    """Over the whole horizon."""
    expected_spend: FloatArray
    clv: FloatArray


def predictions(
    purchase_fit: ModelFit,
    spend_fit: ModelFit,
    summary: RfmSummary,
    *,
    periods_per_month: float,
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    distinct: tuple[RfmSummary, IntArray] | None = None,
) -> Predictions:
    """P(alive), purchases over the horizon, expected spend and CLV of each customer at once.

    P(alive) depends on a customer only through (x, t_x, T) and the purchase curve
    only through (x, T), so both are evaluated once per distinct row of
    ``collapse(summary)`` (pass it as ``distinct`` when it is at hand, e.g. from the
    fit) and gathered back; the purchases over the horizon are the curve's last
    month. Each value is the same float operations on the same inputs as
    ``p_alive``, ``expected_purchases`` and ``clv`` make one by one, so the answers
    are identical to theirs, for a fraction of the passes over the customers.
    """
    _require_purchase_model(purchase_fit)
    if horizon_months < 1:
        raise ValueError(f"horizon_months must be at least 1, got {horizon_months}")
    if periods_per_month <= 0:
        raise ValueError(f"periods_per_month must be positive, got {periods_per_month}")
    if discount_rate <= -1:
        raise ValueError(f"discount_rate must exceed -1, got {discount_rate}")
    grouped, inverse = distinct if distinct is not None else collapse(summary)
    alive = p_alive(purchase_fit, grouped)
    first, pair = unique_rows(grouped.frequency, grouped.age)
    months = np.arange(1, horizon_months + 1, dtype=np.float64)
    curve = _alive_purchases(purchase_fit, grouped.frequency[first][:, None],
                             grouped.age[first][:, None], months[None, :] * periods_per_month)
    increments = np.diff(curve, axis=1, prepend=0.0)
    discounted = np.einsum("ij,j->i", increments, (1.0 + discount_rate) ** -months)
    customer_alive = alive[inverse]
    spend = expected_spend(spend_fit, summary)
    return Predictions(
        p_alive=customer_alive,
        expected_purchases=customer_alive * curve[:, -1][pair][inverse],
        expected_spend=spend,
        clv=np.asarray(customer_alive * spend * discounted[pair][inverse], dtype=np.float64),
    )
