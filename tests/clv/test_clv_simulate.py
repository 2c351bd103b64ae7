"""The simulator follows BG/NBD and Gamma-Gamma: fits recover the parameters it was given."""

from __future__ import annotations

import numpy as np
from _clv_reference import summary_from_orders

from clientela import clv

TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _ages(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20.0, 80.0, n)


def test_bgnbd_and_gammagamma_recover_the_true_parameters() -> None:
    n = 20_000
    summary = clv.simulate_summary(n, age=_ages(n, 11), seed=7, **TRUE, **SPEND)
    for fit, truth in ((clv.fit_bgnbd(summary), TRUE), (clv.fit_gammagamma(summary), SPEND)):
        for name, value in truth.items():
            z = (fit.params[name] - value) / fit.standard_errors[name]
            assert abs(z) < 3, (fit.model, name, fit.params[name], value, z)


def test_orders_and_summary_simulators_describe_the_same_customers() -> None:
    n = 20_000
    orders = clv.simulate_orders(n, age=_ages(n, 12), seed=8, **TRUE, **SPEND)
    assert np.all(np.diff(orders.customer) >= 0)
    assert np.all(orders.time <= orders.age[orders.customer])
    ids, summary = summary_from_orders(
        orders.customer,
        orders.time + orders.age.max() - orders.age[orders.customer],
        orders.amount,
        float(orders.age.max()),
    )
    assert ids.shape[0] == n
    fit = clv.fit_bgnbd(summary)
    for name, value in TRUE.items():
        assert abs(fit.params[name] - value) < 3 * fit.standard_errors[name], (name, fit.params)
    spend = clv.fit_gammagamma(summary)
    for name, value in SPEND.items():
        assert abs(spend.params[name] - value) < 3 * spend.standard_errors[name], (
            name,
            spend.params,
        )


def test_simulation_is_reproducible_from_its_seed() -> None:
    a = clv.simulate_summary(1000, age=30.0, seed=3, **TRUE)
    b = clv.simulate_summary(1000, age=30.0, seed=3, **TRUE)
    np.testing.assert_array_equal(a.recency, b.recency)
    assert not np.array_equal(
        a.recency, clv.simulate_summary(1000, age=30.0, seed=4, **TRUE).recency
    )


def test_whole_periods_round_times_down() -> None:
    summary = clv.simulate_summary(2000, age=40.7, seed=5, whole_periods=True, **TRUE)
    assert np.all(summary.age == 40.0)
    assert np.array_equal(summary.recency, np.floor(summary.recency))
