"""The models evaluated once per distinct (x, t_x, T) row give every customer's answer.

The engine groups a period's customers once (`CustomerSummary.distinct`), fits the
purchase model on the distinct rows weighted by their customer counts, and predicts
per distinct row before gathering the values back to customers. A weighted
log-likelihood is the unweighted one with its terms added in another order, so the
fit may differ from a fit on every customer only by rounding: these tests hold it to
1e-9 relative (parameters, standard errors, log-likelihood), and the predictions to
the per-customer formulas to 1e-12.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest
from clv_store_support import context
from test_clv_metrics import AS_OF, N, small_store  # noqa: F401  (the fixture)

from clientela import clv
from clientela.clv.engine.summary import CustomerSummary, fetch_summary
from clientela.clv.engine.values import fit_models, predict
from clientela.clv.models.inputs import unique_rows
from clientela.store import Store

REL = 1e-9


@pytest.fixture
def customers(small_store: Store) -> CustomerSummary:  # noqa: F811
    as_of = datetime.fromisoformat(AS_OF)
    return fetch_summary(context(small_store, as_of), calibration_end=as_of)


@pytest.mark.parametrize("fit_model", [clv.fit_bgnbd, clv.fit_paretonbd])
def test_the_weighted_fit_on_distinct_rows_equals_the_fit_on_every_customer(
        customers: CustomerSummary, fit_model) -> None:  # type: ignore[no-untyped-def]
    grouped, inverse = customers.distinct
    assert len(customers) == N and len(grouped) < N  # some customers share a row
    assert grouped.weights is not None and grouped.weights.sum() == N
    np.testing.assert_array_equal(grouped.frequency[inverse], customers.summary.frequency)
    np.testing.assert_array_equal(grouped.recency[inverse], customers.summary.recency)
    np.testing.assert_array_equal(grouped.age[inverse], customers.summary.age)
    every = fit_model(customers.summary)
    weighted = fit_model(grouped)
    assert weighted.n_customers == every.n_customers == N
    assert weighted.n_rows == every.n_rows == len(grouped)
    assert weighted.log_likelihood == pytest.approx(every.log_likelihood, rel=REL)
    for name, value in every.params.items():
        assert weighted.params[name] == pytest.approx(value, rel=REL), name
        assert weighted.standard_errors[name] == pytest.approx(every.standard_errors[name],
                                                               rel=REL), name


@pytest.mark.parametrize("model", ["bgnbd", "paretonbd"])
def test_predictions_per_distinct_row_equal_the_per_customer_formulas(
        customers: CustomerSummary, model: str) -> None:
    fits = fit_models(customers.summary, model=model)
    values = predict(customers, fits, horizon_months=6, discount_rate=0.02)
    summary = customers.summary
    per_month = clv.DAYS_PER_MONTH
    # the reference: each customer on their own, month by month
    alive = clv.p_alive(fits.purchases, summary)
    by_month = [np.zeros(N)] + [clv.expected_purchases(fits.purchases, summary, k * per_month)
                                for k in range(1, 7)]
    spend = clv.expected_spend(fits.spend, summary)
    value = sum((by_month[k] - by_month[k - 1]) * spend / 1.02 ** k for k in range(1, 7))
    np.testing.assert_allclose(values.p_alive, alive, rtol=1e-12)
    np.testing.assert_allclose(values.expected_purchases, by_month[6], rtol=1e-12)
    np.testing.assert_allclose(values.expected_spend, spend, rtol=1e-12)
    np.testing.assert_allclose(values.clv, value, rtol=1e-12)
    assert values.clv.min() > 0 and values.p_alive.max() <= 1.0


def test_rows_already_distinct_and_in_order_are_each_their_own_group() -> None:
    x = np.array([0.0, 1.0, 1.0, 2.0])
    t_x = np.array([0.0, 3.0, 5.0, 5.0])
    age = np.array([9.0, 9.0, 9.0, 7.0])
    first, inverse = unique_rows(x, t_x, age)
    assert first.tolist() == inverse.tolist() == [0, 1, 2, 3]
    # the same rows out of order, or with a repeat, still go through the grouping
    first, inverse = unique_rows(x[::-1].copy(), t_x[::-1].copy(), age[::-1].copy())
    assert first.tolist() == [3, 2, 1, 0] and inverse.tolist() == [3, 2, 1, 0]
    first, inverse = unique_rows(np.append(x, 1.0), np.append(t_x, 3.0), np.append(age, 9.0))
    assert first.tolist() == [0, 1, 2, 3] and inverse.tolist() == [0, 1, 2, 3, 1]


def test_a_series_summary_gathers_its_ids_only_when_asked() -> None:
    ids = pa.array(["a", "b", "c", "d"])
    summary = clv.RfmSummary(frequency=np.array([1.0, 0.0]), recency=np.array([2.0, 0.0]),
                             age=np.array([4.0, 3.0]))
    found = CustomerSummary(ids=ids, summary=summary, unit="days",
                            calibration_end=datetime(2025, 1, 1), rows=np.array([3, 1]))
    assert "customer_id" not in found.__dict__  # nothing gathered yet
    assert found.customer_id.to_pylist() == ["d", "b"]
    whole = CustomerSummary(ids=ids, summary=clv.RfmSummary(
        frequency=np.zeros(4), recency=np.zeros(4), age=np.ones(4)), unit="days",
        calibration_end=datetime(2025, 1, 1))
    assert whole.customer_id is ids
