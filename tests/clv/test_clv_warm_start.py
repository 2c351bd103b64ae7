"""Warm starts: a series' fits start from the previous period's, and end where cold fits do.

Each period's BG/NBD and Gamma-Gamma fit of a `clv_predicted` / `p_alive` series
starts at the previous period's optimum and takes exact Newton steps with the
model's analytic Hessian (`clientela.clv.models.fit`). The answers must equal cold fits (the period asked
alone) to the tolerance `clv_store_support.WARM_TOLERANCE` states: on the golden
store, measured when this was written, parameters, log-likelihoods and values
differed by at most 1.3e-10 relative and standard errors by at most 1e-7; the work
is counted in likelihood evaluations, never in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pytest
from _clv_reference import summary_from_orders
from clv_store_support import WARM_TOLERANCE, context, warm_vs_cold

from clientela import clv
from clientela.clv.engine import periods
from clientela.clv.engine.series import fetch_purchase_days, summaries
from clientela.clv.engine.summary import CustomerSummary
from clientela.clv.engine.values import fit_purchases, fit_spend
from clientela.clv.models.fit import ModelFit
from clientela.demo import generate, load
from clientela.kpi import compute
from clientela.kpi.periods import buckets, zone
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period

CLV_METRICS = ["clv_predicted", "p_alive"]
TZ = "America/Sao_Paulo"


def test_golden_store_series_equals_cold_fits(clientela_golden_store: Store,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    kw: dict[str, object] = dict(start="2024-07", end="2025-07", grain="month", timezone=TZ)
    warm = compute(clientela_golden_store, CLV_METRICS, **kw)
    cold = compute(clientela_golden_store, period_by_period(CLV_METRICS), **kw)
    worst = warm_vs_cold(warm, cold)
    with capsys.disabled():
        print("\nwarm vs cold on the golden store, max (absolute, relative): "
              + ", ".join(f"{kind} {a:.2g}, {r:.2g}" for kind, (a, r) in worst.items()))
    assert len({row["period"] for row in warm.rows()}) == 12
    assert worst["other"][1] <= WARM_TOLERANCE["other"]
    assert worst["se"][1] <= WARM_TOLERANCE["se"]


def test_turned_off_the_series_is_identical_to_cold_fits(clientela_golden_store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(periods, "WARM_START", False)
    kw: dict[str, object] = dict(start="2024-10", end="2025-04", grain="month", timezone=TZ)
    cold_series = compute(clientela_golden_store, CLV_METRICS, **kw)
    one_by_one = compute(clientela_golden_store, period_by_period(CLV_METRICS), **kw)
    check_identical({"cold series": cold_series, "one period at a time": one_by_one})


def test_a_warm_started_fit_that_fails_is_made_again_cold(
        clientela_golden_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the 1M demo store a series from its first month failed at its second: the warm
    start from the first month's optimum stopped on a saddle, where a cold fit succeeds.
    Here every warm-started fit fails: the series must answer as one of cold fits."""
    from clientela.clv.models.errors import ClvFitError

    kw: dict[str, object] = dict(start="2024-10", end="2025-04", grain="month", timezone=TZ)
    monkeypatch.setattr(periods, "WARM_START", False)
    cold = compute(clientela_golden_store, CLV_METRICS, **kw)
    monkeypatch.undo()
    refused: list[str] = []

    def refusing(real: Callable[..., ModelFit]) -> Callable[..., ModelFit]:
        """The real fit, failing whenever it is given a start."""
        def fit(*args: Any, start: Any = None, **kwargs: Any) -> ModelFit:
            if start is not None:
                refused.append(real.__name__)
                raise ClvFitError("stopped on a saddle (as the test wants)")
            return real(*args, **kwargs)
        return fit

    monkeypatch.setattr(periods, "fit_purchases", refusing(periods.fit_purchases))
    monkeypatch.setattr(periods, "fit_spend", refusing(periods.fit_spend))
    failed_warm = compute(clientela_golden_store, CLV_METRICS, **kw)
    assert set(refused) == {"fit_purchases", "fit_spend"}
    check_identical({"warm starts failing": failed_warm, "cold fits": cold})


@pytest.mark.parametrize("model", ["bgnbd", "gammagamma"])
def test_a_warm_fit_ends_where_a_cold_one_does(
        cdnow_orders: tuple[np.ndarray, np.ndarray, np.ndarray], model: str) -> None:
    """CDNOW's calibration summary a month before its end, then at its end (in weeks): the
    two fits a monthly series makes one after the other. CDNOW is one young cohort whose
    parameters move by a third in that month, so the warm start saves little here; on a
    store's monthly series it saves 40-50% (below)."""
    customer, days, amount = cdnow_orders
    end = date(1997, 9, 30).toordinal()
    _, earlier = summary_from_orders(customer, days, amount, float(end - 30), unit=7.0)
    _, later = summary_from_orders(customer, days, amount, float(end), unit=7.0)
    fit = clv.fit_bgnbd if model == "bgnbd" else clv.fit_gammagamma
    before = fit(earlier)
    cold = fit(later)
    warm = fit(later, start=before)
    assert warm.message.startswith("warm start") and warm.iterations == 0
    assert cold.iterations > 0
    assert warm.params != before.params  # it moved to the new maximum
    for name, value in cold.params.items():
        assert warm.params[name] == pytest.approx(value, rel=WARM_TOLERANCE["other"])
        assert warm.standard_errors[name] == pytest.approx(cold.standard_errors[name],
                                                           rel=WARM_TOLERANCE["se"])
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)


@pytest.fixture(scope="module")
def monthly_summaries(tmp_path_factory: pytest.TempPathFactory) -> list[CustomerSummary]:
    """A demo store's customer summaries at the end of each month of 2024 and 2025."""
    with Store(tmp_path_factory.mktemp("warm") / "demo.duckdb") as store:
        load(store, generate(customers=1_500, orders=8_000, seed=3))
        ends = [p.end_utc for p in buckets(datetime(2024, 1, 1), datetime(2026, 1, 1),
                                            "month", zone(TZ))]
        days = fetch_purchase_days(context(store, ends[-1], TZ), until=ends[-1])
        return list(summaries(days, ends, TZ))


@pytest.mark.parametrize("model", ["bgnbd", "gammagamma"])
def test_a_monthly_series_of_warm_fits_takes_fewer_evaluations(
        monthly_summaries: list[CustomerSummary], model: str) -> None:
    fit = (lambda s, start: fit_spend(s.summary, start=start)) if model == "gammagamma" \
        else (lambda s, start: fit_purchases(s.summary, model, start=start))
    cold = [fit(s, None) for s in monthly_summaries]
    warm = [fit(monthly_summaries[0], None)]
    for customers in monthly_summaries[1:]:
        warm.append(fit(customers, warm[-1]))
    assert all(w.message.startswith("warm start") for w in warm[1:])
    ratio = sum(w.evaluations for w in warm) / sum(c.evaluations for c in cold)
    assert ratio < 0.7  # measured: 0.52 for BG/NBD, 0.61 for Gamma-Gamma
    for w, c in zip(warm, cold, strict=True):
        for name, value in c.params.items():
            assert w.params[name] == pytest.approx(value, rel=WARM_TOLERANCE["other"])
            assert w.standard_errors[name] == pytest.approx(c.standard_errors[name],
                                                            rel=WARM_TOLERANCE["se"])


def test_a_warm_start_far_from_the_maximum_falls_back_to_lbfgsb(
        cdnow_summary: clv.RfmSummary) -> None:
    cold = clv.fit_bgnbd(cdnow_summary)
    far = replace(cold, params={k: v * 30 for k, v in cold.params.items()},
                  curvature=tuple(tuple(float(v) for v in row) for row in np.eye(4)))
    warm = clv.fit_bgnbd(cdnow_summary, start=far)
    assert warm.iterations > 0 and not warm.message.startswith("warm start")
    for name, value in cold.params.items():
        assert warm.params[name] == pytest.approx(value, rel=WARM_TOLERANCE["other"])


def test_parameters_alone_or_another_models_fit_are_starting_points(
        cdnow_summary: clv.RfmSummary) -> None:
    cold = clv.fit_bgnbd(cdnow_summary)
    from_params = clv.fit_bgnbd(cdnow_summary, start=cold.params)
    # no curvature: L-BFGS-B from there, which has nothing left to do
    assert not from_params.message.startswith("warm start") and from_params.iterations == 0
    assert from_params.evaluations < cold.evaluations
    for name, value in cold.params.items():
        assert from_params.params[name] == pytest.approx(value, rel=WARM_TOLERANCE["other"])
    other = clv.fit_gammagamma(cdnow_summary)
    ignored = clv.fit_bgnbd(cdnow_summary, start=other)  # names no BG/NBD parameter
    assert ignored.params == cold.params and ignored.evaluations == cold.evaluations


def test_the_curvature_is_what_the_standard_errors_come_from(
        cdnow_summary: clv.RfmSummary) -> None:
    fit = clv.fit_bgnbd(cdnow_summary)
    assert fit.curvature is not None
    hessian = np.asarray(fit.curvature)
    assert np.all(np.linalg.eigvalsh(hessian) > 0)
    covariance = np.linalg.inv(hessian * fit.n_customers)
    expected = np.array([fit.params[n] for n in ("r", "alpha", "a", "b")]) * np.sqrt(
        np.diag(covariance))
    np.testing.assert_allclose([fit.standard_errors[n] for n in ("r", "alpha", "a", "b")],
                               expected, rtol=1e-12)


def test_the_bfgs_update_meets_the_secant_condition() -> None:
    """The approximate Newton steps of a warm start correct the previous fit's Hessian with
    what each step shows: the updated matrix maps the step to the gradient's change (the
    secant condition), stays symmetric, and is left alone when the pair shows no positive
    curvature (it would stop being positive definite)."""
    from clientela.clv.models.fit import _bfgs_update

    matrix = np.array([[2.0, 0.5], [0.5, 1.0]])
    step, change = np.array([0.1, -0.2]), np.array([0.3, -0.1])
    updated = _bfgs_update(matrix, step, change)
    np.testing.assert_allclose(updated @ step, change, rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(updated, updated.T)
    assert np.all(np.linalg.eigvalsh(updated) > 0)
    assert _bfgs_update(matrix, step, -change) is matrix
