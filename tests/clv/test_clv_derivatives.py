"""The analytic gradients and Hessians of the BG/NBD and Gamma-Gamma likelihoods.

A fit's Newton steps and its standard errors come from these derivatives, so each is
checked against finite differences of the level below it: the gradient against
differences of the log-likelihood (the public `log_likelihood`, whose value does not
depend on the derivatives), the Hessian against differences of the gradient. Central
differences with Richardson extrapolation are accurate to about 1e-9 relative here, so
1e-6 would catch any wrong term (a missing term is off by its whole size, a sign error
by twice it) without flaking on rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from clientela import clv
from clientela.clv.models import bgnbd, gammagamma

FloatArray = np.ndarray
TOLERANCE = 1e-6


def _richardson(fun: Callable[[FloatArray], FloatArray], theta: FloatArray, j: int,
                step: float = 1e-3) -> FloatArray:
    """d fun / d theta_j by central differences at step h and h/2, extrapolated (error
    of order h^4 instead of h^2)."""
    def central(h: float) -> FloatArray:
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        return (np.asarray(fun(up)) - np.asarray(fun(down))) / (2 * h)

    return (4 * central(step / 2) - central(step)) / 3


def _summary(seed: int) -> clv.RfmSummary:
    """Daily customers, with a few whose odds of having left overflow exp() (many repeat
    purchases long ago: the likelihood's clipped branch) and some without repeats."""
    rng = np.random.default_rng(seed)
    n = 3000
    age = rng.integers(1, 900, n).astype(np.float64)
    x = rng.poisson(1.5, n).astype(np.float64)
    recency = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * age), 0.0)
    x[:5], recency[:5], age[:5] = 400.0, 2.0, 2000.0
    monetary = np.where(x > 0, rng.gamma(2.0, 30.0, n), 0.0)
    return clv.RfmSummary(frequency=x, recency=recency, age=age, monetary=monetary)


BGNBD_POINTS = [(0.25, 4.0, 0.8, 2.4), (1.7, 60.0, 0.3, 9.0), (0.6, 0.5, 3.0, 1.2)]
GAMMAGAMMA_POINTS = [(6.0, 4.0, 15.0), (0.8, 12.0, 300.0), (2.5, 1.5, 2.0)]


@pytest.mark.parametrize("block", [bgnbd._BLOCK, 97])
@pytest.mark.parametrize("point", BGNBD_POINTS)
def test_bgnbd_gradient_and_hessian_match_finite_differences(
        point: tuple[float, ...], block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """97 rows a block: the repeat buyers' rows in some twenty blocks, x's runs astride
    their edges, as at scale."""
    monkeypatch.setattr(bgnbd, "_BLOCK", block)
    summary = _summary(seed=3)
    rows = bgnbd._prepare(summary)
    theta = np.log(point)
    n = float(len(summary))

    def mean_loss(t: FloatArray) -> float:
        params = dict(zip(bgnbd.PARAMETERS, np.exp(t), strict=True))
        return -bgnbd.log_likelihood(summary, params) / n

    value, grad, hessian = bgnbd._objective_and_hessian(rows, theta)
    assert value == pytest.approx(mean_loss(theta), rel=1e-13)
    numeric_grad = np.array([_richardson(mean_loss, theta, j) for j in range(4)])
    np.testing.assert_allclose(grad, numeric_grad, rtol=TOLERANCE,
                               atol=TOLERANCE * np.abs(numeric_grad).max())
    numeric_hessian = np.column_stack([
        _richardson(lambda t: bgnbd._objective(rows, t)[1], theta, j) for j in range(4)])
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=TOLERANCE,
                               atol=TOLERANCE * np.abs(numeric_hessian).max())
    np.testing.assert_array_equal(hessian, hessian.T)
    # the pass that makes the Hessian makes the very same value and gradient
    assert (value, grad.tolist()) == (bgnbd._objective(rows, theta)[0],
                                      bgnbd._objective(rows, theta)[1].tolist())


@pytest.mark.parametrize("point", GAMMAGAMMA_POINTS)
def test_gammagamma_gradient_and_hessian_match_finite_differences(
        point: tuple[float, ...]) -> None:
    summary = _summary(seed=4)
    rows = gammagamma._prepare(summary)
    theta = np.log(point)
    n = rows.total_weight

    def mean_loss(t: FloatArray) -> float:
        params = dict(zip(gammagamma.PARAMETERS, np.exp(t), strict=True))
        return -gammagamma.log_likelihood(summary, params) / n

    value, grad, hessian = gammagamma._objective_and_hessian(rows, theta)
    assert value == pytest.approx(mean_loss(theta), rel=1e-13)
    numeric_grad = np.array([_richardson(mean_loss, theta, j) for j in range(3)])
    np.testing.assert_allclose(grad, numeric_grad, rtol=TOLERANCE,
                               atol=TOLERANCE * np.abs(numeric_grad).max())
    numeric_hessian = np.column_stack([
        _richardson(lambda t: gammagamma._objective(rows, t)[1], theta, j) for j in range(3)])
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=TOLERANCE,
                               atol=TOLERANCE * np.abs(numeric_hessian).max())
    np.testing.assert_array_equal(hessian, hessian.T)


def test_blocks_only_change_the_order_of_the_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    summary = _summary(seed=7)
    theta = np.log(BGNBD_POINTS[0])
    whole = bgnbd._objective_and_hessian(bgnbd._prepare(summary), theta)
    monkeypatch.setattr(bgnbd, "_BLOCK", 64)
    blocks = bgnbd._objective_and_hessian(bgnbd._prepare(summary), theta)
    assert blocks[0] == pytest.approx(whole[0], rel=1e-14)
    for found, expected in zip(blocks[1:], whole[1:], strict=True):
        np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-14)


def test_standard_errors_are_the_inverse_of_the_analytic_hessian() -> None:
    """At the maximum, the fit's standard errors are the delta method applied to the
    inverse of the analytic Hessian (of the total log-likelihood), and its curvature is
    that Hessian per customer."""
    summary = _summary(seed=5)
    fit = clv.fit_bgnbd(summary)
    rows = bgnbd._prepare(summary)
    theta = np.log([fit.params[name] for name in bgnbd.PARAMETERS])
    _, grad, hessian = bgnbd._objective_and_hessian(rows, theta)
    assert np.max(np.abs(grad)) < 1e-10
    covariance = np.linalg.inv(hessian * len(summary))
    expected = np.exp(theta) * np.sqrt(np.diag(covariance))
    for name, value in zip(bgnbd.PARAMETERS, expected, strict=True):
        assert fit.standard_errors[name] == pytest.approx(value, rel=1e-9), name
    np.testing.assert_allclose(np.asarray(fit.curvature), hessian, rtol=1e-9)


def test_a_warm_fit_takes_a_few_passes_and_lands_where_a_cold_fit_does() -> None:
    """Exact Newton steps from last month's maximum: at most six passes over the rows (the
    cold fit's L-BFGS-B takes dozens), to the same maximum and standard errors."""
    summary = _summary(seed=6)
    earlier = clv.RfmSummary(frequency=summary.frequency, recency=summary.recency * 0.9,
                             age=summary.age * 0.9, monetary=summary.monetary)
    for fit_model in (clv.fit_bgnbd, clv.fit_gammagamma):
        previous = fit_model(earlier)
        cold = fit_model(summary)
        warm = fit_model(summary, start=previous)
        assert warm.iterations == 0 and cold.iterations > 0  # Newton, and L-BFGS-B
        assert warm.evaluations <= 6 < cold.evaluations
        for name, value in cold.params.items():
            assert warm.params[name] == pytest.approx(value, rel=1e-9), name
            assert warm.standard_errors[name] == pytest.approx(
                cold.standard_errors[name], rel=1e-6), name
        assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_the_last_newton_step_is_taken_without_a_pass(seed: int) -> None:
    """From the maximum on 3% shorter histories, two exact Newton steps bring the gradient
    to rounding and the third, below `fit._MOVED`, is taken on the quadratic model: three
    passes over the rows where evaluating that last point made four. The model is exact
    to third order in the step, so the fit's log-likelihood equals the likelihood
    evaluated at its parameters to 1e-14 relative (measured: at most 4.4e-16, the
    rounding of the sum) and the gradient there is at rounding too."""
    summary = _summary(seed=seed)
    earlier = clv.RfmSummary(frequency=summary.frequency, recency=summary.recency * 0.97,
                             age=summary.age * 0.97, monetary=summary.monetary)
    warm = clv.fit_bgnbd(summary, start=clv.fit_bgnbd(earlier))
    assert warm.evaluations == 3
    assert warm.log_likelihood == pytest.approx(bgnbd.log_likelihood(summary, warm.params),
                                                rel=1e-14)
    theta = np.log([warm.params[name] for name in bgnbd.PARAMETERS])
    _, grad = bgnbd._objective(bgnbd._prepare(summary), theta)
    assert np.max(np.abs(grad)) < 1e-12


def test_a_step_promising_less_than_the_values_rounding_is_judged_by_the_gradient() -> None:
    """A cold Gamma-Gamma fit on the 1M demo store (Sao Paulo time, December 2025) was
    left by L-BFGS-B with a gradient of 1.04e-6, just above its tolerance, and a Newton
    step promising to lower the mean by 5e-14: the line search, which judged that step by
    the value, saw only the value's rounding, halved it twelve times and gave up, so the
    fit stayed 2.5e-6 relative from the maximum a warm fit reached. Here the same
    curvature and gradient, with the value rounded up by 4e-13 everywhere but at the start
    (the worst case of a rounding that size, below the near steps' 1e-12 allowance): the
    polish must reach the maximum (the exact answer is 0) as it does from a gradient
    below 1e-6."""
    from clientela.clv.models import fit

    curvature = np.diag([10.57, 0.285, 0.0173])
    start = np.array([1.0e-7, 0.0, 0.0])  # gradient 1.06e-6, a step promising 5.3e-14

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        rounding = 0.0 if np.array_equal(theta, start) else 4e-13
        return 0.5 * float(theta @ curvature @ theta) + rounding, curvature @ theta

    def with_hessian(theta: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        return (*objective(theta), curvature)

    settled = fit._exact_newton(fit._Remembered(objective, with_hessian), start,
                                require=False)
    assert settled is not None
    assert np.max(np.abs(settled[0])) < 1e-12
