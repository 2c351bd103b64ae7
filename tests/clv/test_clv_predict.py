"""Predictions: P(alive), expected purchases, spend and CLV agree with their definitions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from clientela import clv
from clientela.clv.models.fit import ModelFit


def _fit(model: str, **params: float) -> ModelFit:
    return ModelFit(
        model=model,  # type: ignore[arg-type]
        params=params,
        standard_errors={k: 0.0 for k in params},
        log_likelihood=0.0,
        n_customers=0,
        n_rows=0,
        converged=True,
        iterations=0,
    )


BG = _fit("bgnbd", r=0.243, alpha=4.414, a=0.793, b=2.426)
PARETO = _fit("paretonbd", r=0.553, alpha=10.578, s=0.606, beta=11.669)
GG = _fit("gammagamma", p=6.25, q=3.74, gamma=15.44)
CUSTOMERS = clv.RfmSummary(
    frequency=[0.0, 0.0, 1.0, 2.0, 26.0, 5.0],
    recency=[0.0, 0.0, 1.71, 30.43, 30.86, 36.14],
    age=[10.0, 38.86, 38.86, 38.86, 31.0, 38.14],
    monetary=[np.nan, 0.0, 11.77, 22.35, 39.97, 17.47],
)


def test_bgnbd_customer_without_repeat_purchase_is_alive() -> None:
    alive = clv.p_alive(BG, CUSTOMERS)
    assert alive[0] == 1.0 and alive[1] == 1.0
    assert np.all((alive > 0) & (alive <= 1))


def test_pareto_nbd_p_alive_falls_with_silence() -> None:
    alive = clv.p_alive(PARETO, CUSTOMERS)
    assert alive[0] > alive[1]  # same x = 0, longer silence
    assert np.all((alive > 0) & (alive < 1))


def test_pareto_nbd_p_alive_is_one_right_after_a_purchase() -> None:
    just_bought = clv.RfmSummary(frequency=[3.0], recency=[20.0], age=[20.0])
    assert clv.p_alive(PARETO, just_bought)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("fit", [BG, PARETO], ids=["bgnbd", "paretonbd"])
def test_expected_purchases_grow_with_horizon_and_start_at_zero(fit: ModelFit) -> None:
    assert np.allclose(clv.expected_purchases(fit, CUSTOMERS, 0.0), 0.0)
    short = clv.expected_purchases(fit, CUSTOMERS, 10.0)
    long = clv.expected_purchases(fit, CUSTOMERS, 52.0)
    assert np.all(short > 0) and np.all(long > short)


def test_expected_purchases_survive_parameters_near_the_singular_point() -> None:
    near_one = _fit("bgnbd", r=0.5, alpha=5.0, a=1.0, b=2.0)
    values = clv.expected_purchases(near_one, CUSTOMERS, 39.0)
    just_off = clv.expected_purchases(
        _fit("bgnbd", r=0.5, alpha=5.0, a=1.001, b=2.0), CUSTOMERS, 39.0
    )
    np.testing.assert_allclose(values, just_off, rtol=2e-3)
    pareto_one = _fit("paretonbd", r=0.5, alpha=5.0, s=1.0, beta=8.0)
    assert np.all(np.isfinite(clv.expected_purchases(pareto_one, CUSTOMERS, 39.0)))


def test_bgnbd_expected_purchases_match_a_direct_integral() -> None:
    # An alive customer with rate lambda who leaves w.p. p after each purchase buys
    # (1 - exp(-lambda p t)) / p times in t on average; averaging over the posterior
    # gamma(r + x, alpha + T) of lambda in closed form leaves one integral over the
    # beta(a, b + x) posterior of p, done here by quadrature.
    from scipy import integrate, stats

    r, alpha, a, b = (BG.params[k] for k in ("r", "alpha", "a", "b"))
    x, age, t = 2.0, 38.86, 39.0

    def alive_purchases(p: float) -> float:
        survive = ((alpha + age) / (alpha + age + p * t)) ** (r + x)
        return float((1 - survive) / p * stats.beta.pdf(p, a, b + x))

    value, _ = integrate.quad(alive_purchases, 0, 1, epsabs=1e-12, epsrel=1e-10, limit=200)
    one = clv.RfmSummary(frequency=[x], recency=[age], age=[age])
    alive = clv.p_alive(BG, one)[0]
    assert clv.expected_purchases(BG, one, t)[0] == pytest.approx(alive * value, rel=1e-7)


def test_expected_spend_shrinks_towards_the_population_mean() -> None:
    spend = clv.expected_spend(GG, CUSTOMERS)
    population = 6.25 * 15.44 / (3.74 - 1)
    assert spend[0] == pytest.approx(population) and spend[1] == pytest.approx(population)
    # Customer with 26 orders averaging 39.97 is trusted more than one with one order.
    assert abs(spend[4] - 39.97) < abs(spend[2] - 11.77)


def test_expected_spend_refuses_infinite_mean() -> None:
    with pytest.raises(clv.ClvFitError, match="q"):
        clv.expected_spend(_fit("gammagamma", p=2.0, q=0.9, gamma=3.0), CUSTOMERS)


def test_clv_is_the_discounted_sum_of_monthly_increments() -> None:
    ppm = clv.WEEKS_PER_MONTH
    value = clv.clv(BG, GG, CUSTOMERS, periods_per_month=ppm, horizon_months=12, discount_rate=0.01)
    spend = clv.expected_spend(GG, CUSTOMERS)
    expected = np.zeros(len(CUSTOMERS))
    previous = np.zeros(len(CUSTOMERS))
    for month in range(1, 13):
        current = clv.expected_purchases(BG, CUSTOMERS, month * ppm)
        expected += (current - previous) * spend / 1.01**month
        previous = current
    np.testing.assert_allclose(value, expected, rtol=1e-10)


def test_undiscounted_clv_is_purchases_times_spend() -> None:
    value = clv.clv(
        PARETO, GG, CUSTOMERS, periods_per_month=30.0, horizon_months=6, discount_rate=0.0
    )
    direct = clv.expected_purchases(PARETO, CUSTOMERS, 180.0) * clv.expected_spend(GG, CUSTOMERS)
    np.testing.assert_allclose(value, direct, rtol=1e-10)


def test_predictions_refuse_the_wrong_model() -> None:
    with pytest.raises(ValueError, match="purchase model"):
        clv.p_alive(GG, CUSTOMERS)
    with pytest.raises(ValueError, match="gammagamma"):
        clv.expected_spend(BG, CUSTOMERS)
    with pytest.raises(ValueError, match="horizon"):
        clv.clv(BG, GG, CUSTOMERS, periods_per_month=30.0, horizon_months=0)


def test_holdout_check_groups_weighted_customers() -> None:
    summary = clv.RfmSummary(
        frequency=[0.0, 1.0, 9.0, 12.0],
        recency=[0.0, 5.0, 30.0, 38.0],
        age=[39.0, 39.0, 39.0, 39.0],
        weights=[3.0, 1.0, 1.0, 1.0],
    )
    check = clv.holdout_check(BG, summary, [1.0, 2.0, 4.0, 8.0], 39.0, top_group=2)
    assert check.labels == ("0", "1", "2+")
    assert check.customers.tolist() == [3, 1, 2]
    np.testing.assert_allclose(check.actual_mean, [1.0, 2.0, 6.0])
    assert check.actual_total == 3 + 2 + 4 + 8
    predicted = clv.expected_purchases(BG, summary, 39.0)
    assert check.predicted_total == pytest.approx(3 * predicted[0] + predicted[1:].sum())
    assert check.rows()[2] == {
        "calibration_purchases": "2+",
        "customers": 2,
        "predicted": pytest.approx(predicted[2:].mean()),
        "actual": 6.0,
    }
    with np.errstate(all="raise"):
        sparse = clv.holdout_check(BG, summary, [0.0, 0.0, 0.0, 0.0], 39.0, top_group=20)
    assert np.isnan(sparse.actual_mean[5])


NEAR_POINT_MASS = _fit("bgnbd", r=0.5895327102889675, alpha=25.396360415771348,
                       a=2749548.4215476112, b=3962051.1317545986)
"""A BG/NBD fit the optimiser reached on the agency engine tests' small store: the beta
prior of the dropout probability is nearly a point mass (a and b in the millions), where
scipy's hyp2f1 of the Euler form returns inf and every prediction used to be NaN."""
LARGE_AB = _fit("bgnbd", r=2.0, alpha=50.0, a=10_000.0, b=3_000.0)
"""Large enough that scipy's hyp2f1 fails in both forms at a long horizon."""


@pytest.mark.parametrize(("fit", "x", "age", "t", "expected"), [
    # C(x, T, t) of eq. (10), (a + b + x - 1)/(a - 1) [1 - (1 - z)^(r + x)
    # 2F1(r + x, b + x; a + b + x - 1; z)], z = t / (alpha + T + t), its series summed
    # with mpmath at 40 significant digits
    (NEAR_POINT_MASS, 0.0, 0.0, 30.4375, 0.51214518069754534631),
    (NEAR_POINT_MASS, 3.0, 300.0, 365.25, 1.8132447937827550188),
    (NEAR_POINT_MASS, 40.0, 700.0, 1095.75, 2.4409975543802092833),
    (NEAR_POINT_MASS, 10.0, 30.0, 1095.75, 2.44098665119857836),
    (LARGE_AB, 0.0, 0.0, 30.4375, 0.69698262767688291355),
    (LARGE_AB, 3.0, 300.0, 365.25, 1.2319932325656897866),
    (LARGE_AB, 40.0, 700.0, 1095.75, 1.3040304030402784132),
    (LARGE_AB, 10.0, 30.0, 1095.75, 1.3010301030100644259),
])
def test_bgnbd_expected_purchases_stay_finite_and_right_with_huge_a_and_b(
        fit: ModelFit, x: float, age: float, t: float, expected: float) -> None:
    one = clv.RfmSummary(frequency=[x], recency=[age], age=[age])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the NaN came with "invalid value in multiply"
        purchases = clv.expected_purchases(fit, one, t)[0]
        alive = clv.p_alive(fit, one)[0]
    # a double computation against a 40-digit one: equal to within rounding, not bitwise
    assert purchases / alive == pytest.approx(expected, rel=1e-12)


def test_log_hyp2f1_matches_scipy_where_scipy_is_finite() -> None:
    from scipy.special import hyp2f1

    from clientela.clv.models.hypergeometric import log_hyp2f1

    a, b = np.array([0.5, 1.2, 300.5, 3.0]), np.array([2.0, 5.0, 302.0, 0.7])
    c, z = np.array([3.0, 4.0, 310.0, 1.5]), np.array([0.3, 0.9, 0.6, 0.0])
    np.testing.assert_allclose(log_hyp2f1(a, b, c, z), np.log(hyp2f1(a, b, c, z)),
                               rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="z < 1"):
        log_hyp2f1(a, b, c, np.ones(4))
