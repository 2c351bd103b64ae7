"""Behaviour the models promise beyond the published numbers: collapsing, errors, edge cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clientela import clv
from clientela.clv import ClvFitError
from clientela.clv.models.fit import _blas_thread_setting
from clientela.clv.models.inputs import unique_rows

BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _weekly(n: int, seed: int) -> clv.RfmSummary:
    rng = np.random.default_rng(seed)
    return clv.simulate_summary(
        n, age=rng.integers(10, 60, n).astype(float), seed=seed, whole_periods=True, **BGNBD
    )


def test_collapsed_rows_give_the_same_optimum_as_every_customer() -> None:
    summary = _weekly(5000, seed=1)
    grouped, inverse = clv.collapse(summary)
    assert len(grouped) < len(summary) / 2
    np.testing.assert_array_equal(grouped.frequency[inverse], summary.frequency)
    # Pass the grouped rows with their weights, as a caller that grouped in SQL would.
    for fit_model in (clv.fit_bgnbd, clv.fit_paretonbd):
        whole = fit_model(summary)
        weighted = fit_model(grouped)
        assert weighted.n_customers == whole.n_customers == 5000
        assert weighted.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-9)
        for name, value in whole.params.items():
            assert weighted.params[name] == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("fractional", [False, True])
def test_collapsing_collapsed_rows_is_the_identity(fractional: bool) -> None:
    """A fit collapses whatever it is given; rows `collapse` made are returned as they are,
    and that shortcut is exactly what grouping them again would give."""
    summary = _weekly(4000, seed=3)
    if fractional:  # weeks from days: the sorting path of the grouping, not the dense one
        summary = clv.RfmSummary(frequency=summary.frequency, recency=summary.recency / 7,
                                 age=summary.age / 7)
    grouped, _ = clv.collapse(summary)
    assert grouped.distinct and not summary.distinct
    again, inverse = clv.collapse(grouped)
    assert again is grouped
    np.testing.assert_array_equal(inverse, np.arange(len(grouped)))
    regrouped, re_inverse = clv.collapse(replace(grouped, distinct=False))
    np.testing.assert_array_equal(re_inverse, inverse)
    for name in ("frequency", "recency", "age", "weights"):
        np.testing.assert_array_equal(getattr(regrouped, name), getattr(grouped, name))
    assert clv.fit_bgnbd(grouped) == clv.fit_bgnbd(replace(grouped, distinct=False))


def test_weights_count_as_repeated_customers() -> None:
    summary = _weekly(3000, seed=2)
    doubled = clv.RfmSummary(
        frequency=np.concatenate([summary.frequency, summary.frequency]),
        recency=np.concatenate([summary.recency, summary.recency]),
        age=np.concatenate([summary.age, summary.age]),
    )
    weighted = clv.RfmSummary(
        frequency=summary.frequency,
        recency=summary.recency,
        age=summary.age,
        weights=np.full(len(summary), 2.0),
    )
    a, b = clv.fit_bgnbd(doubled), clv.fit_bgnbd(weighted)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-10)
    assert a.standard_errors["r"] == pytest.approx(b.standard_errors["r"], rel=1e-4)


def test_time_unit_only_rescales_alpha() -> None:
    weeks = _weekly(4000, seed=3)
    days = clv.RfmSummary(frequency=weeks.frequency, recency=weeks.recency * 7, age=weeks.age * 7)
    in_weeks, in_days = clv.fit_bgnbd(weeks), clv.fit_bgnbd(days)
    assert in_days.params["alpha"] == pytest.approx(7 * in_weeks.params["alpha"], rel=1e-4)
    for name in ("r", "a", "b"):
        assert in_days.params[name] == pytest.approx(in_weeks.params[name], rel=1e-4)


def test_all_zero_frequency_is_refused_with_advice() -> None:
    summary = clv.RfmSummary(frequency=np.zeros(500), recency=np.zeros(500), age=np.full(500, 30.0))
    for fit_model in (clv.fit_bgnbd, clv.fit_paretonbd):
        with pytest.raises(ClvFitError, match="repeat purchase"):
            fit_model(summary)


def test_too_few_repeat_buyers_is_refused() -> None:
    x = np.zeros(1000)
    x[:5] = 3
    summary = clv.RfmSummary(
        frequency=x, recency=np.where(x > 0, 10.0, 0.0), age=np.full(1000, 30.0), monetary=x * 7
    )
    with pytest.raises(ClvFitError, match="have 5"):
        clv.fit_bgnbd(summary)
    with pytest.raises(ClvFitError, match="have 5"):
        clv.fit_gammagamma(summary)


def test_unidentified_model_is_refused_or_flagged() -> None:
    # Every customer buys at the same steady pace and none ever stops: the
    # dropout probability is driven to zero and cannot be estimated.
    n = 400
    x = np.full(n, 10.0)
    summary = clv.RfmSummary(frequency=x, recency=np.full(n, 50.0), age=np.full(n, 50.0))
    with pytest.raises(ClvFitError, match="cannot identify"):
        clv.fit_bgnbd(summary)
    loose = clv.fit_bgnbd(summary, strict=False)
    assert not loose.converged
    assert "cannot identify" in loose.message


def test_gammagamma_needs_positive_spend() -> None:
    summary = _weekly(2000, seed=4)
    assert summary.monetary is not None
    spend = summary.monetary.copy()
    spend[np.flatnonzero(summary.frequency > 0)[0]] = -5.0
    bad = clv.RfmSummary(summary.frequency, summary.recency, summary.age, monetary=spend)
    with pytest.raises(ClvFitError, match="positive mean spend"):
        clv.fit_gammagamma(bad)
    no_spend = clv.RfmSummary(summary.frequency, summary.recency, summary.age)
    with pytest.raises(ClvFitError, match="monetary"):
        clv.fit_gammagamma(no_spend)


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([1.0], [5.0], [4.0], "exceeds age"),
        ([0.0], [2.0], [4.0], "must be 0"),
        ([1.5], [2.0], [4.0], "whole"),
        ([1.0], [np.nan], [4.0], "missing"),
        ([1.0, 2.0], [1.0], [4.0], "differ in length"),
        ([-1.0], [0.0], [4.0], "negative"),
    ],
)
def test_summary_rejects_impossible_customers(
    frequency: list[float], recency: list[float], age: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        clv.RfmSummary(frequency=frequency, recency=recency, age=age)


def test_fit_reports_as_plain_types() -> None:
    fit = clv.fit_bgnbd(_weekly(3000, seed=5))
    report = fit.to_dict()
    assert report["model"] == "bgnbd"
    assert set(report["params"]) == {"r", "alpha", "a", "b"}  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        fit.log_likelihood = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "params",
    [
        {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669},  # alpha < beta branch
        {"r": 0.553, "alpha": 30.0, "s": 0.606, "beta": 2.0},  # alpha >= beta branch
        {"r": 2.0, "alpha": 3.0, "s": 1.0, "beta": 3.0},  # equal: 2F1 argument 0
    ],
)
def test_pareto_nbd_dropout_term_matches_its_integral(params: dict[str, float]) -> None:
    # s * integral_{t_x}^{T} (alpha + tau)^-(r+x) (beta + tau)^-(s+1) dtau, by quadrature.
    from scipy import integrate

    from clientela.clv.models import paretonbd

    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    x = np.array([0.0, 1.0, 5.0, 40.0])
    t_x = np.array([0.0, 3.0, 20.0, 38.0])
    age = np.full(4, 39.0)
    _, log_left = paretonbd.log_bracket_terms(x, t_x, age, params)
    for i in range(4):
        value, _ = integrate.quad(
            lambda tau, i=i: s * (alpha + tau) ** -(r + x[i]) * (beta + tau) ** -(s + 1),
            t_x[i],
            age[i],
            epsabs=0,
            epsrel=1e-12,
        )
        assert log_left[i] == pytest.approx(np.log(value), abs=1e-8), i


@pytest.mark.parametrize("spans", [(40, 60), (40, 700, 700), (5,)])
def test_grouping_matches_numpy_unique(spans: tuple[int, ...]) -> None:
    # (40, 700, 700) is too wide for the lookup table and goes through the sort.
    rng = np.random.default_rng(7)
    columns = tuple(rng.integers(0, span, 20_000).astype(float) for span in spans)
    first, inverse = unique_rows(*columns)
    key = np.zeros(20_000, dtype=np.int64)
    for column, span in zip(columns, spans, strict=True):
        key = key * span + column.astype(np.int64)
    _, expected_first, expected_inverse = np.unique(key, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(first, expected_first)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))


def test_fits_do_not_depend_on_the_order_of_customers() -> None:
    spend = _weekly(4000, seed=4)  # with Gamma-Gamma spend
    order = np.random.default_rng(5).permutation(len(spend))
    shuffled = clv.RfmSummary(
        frequency=spend.frequency[order],
        recency=spend.recency[order],
        age=spend.age[order],
        monetary=spend.monetary[order] if spend.monetary is not None else None,
    )
    for fit_model in (clv.fit_bgnbd, clv.fit_gammagamma):
        a, b = fit_model(spend), fit_model(shuffled)
        for name, value in a.params.items():
            assert b.params[name] == pytest.approx(value, rel=1e-11), (fit_model, name)


def test_a_fit_leaves_the_blas_thread_count_as_it_was() -> None:
    setting = _blas_thread_setting()
    if setting is None:
        pytest.skip("this BLAS has no thread-count setting")
    get, _ = setting
    before = get()
    clv.fit_bgnbd(_weekly(2000, seed=6))
    assert get() == before


def test_a_subset_of_a_checked_summary_holds_exactly_its_rows() -> None:
    """`take` skips the checks (every one holds row by row) but must carry every array."""
    summary = _weekly(2000, seed=8)
    weighted = clv.RfmSummary(frequency=summary.frequency, recency=summary.recency,
                              age=summary.age, monetary=summary.monetary,
                              weights=np.arange(2000, dtype=np.float64) % 3)
    mask = summary.frequency > 1
    rows = np.flatnonzero(mask)[::2]
    for chosen in (mask, rows):
        part = weighted.take(chosen)
        assert isinstance(part, clv.RfmSummary) and not part.distinct
        for name in ("frequency", "recency", "age", "monetary", "weights"):
            np.testing.assert_array_equal(getattr(part, name), getattr(weighted, name)[chosen])
        assert len(part) == len(summary.frequency[chosen])
    bare = clv.RfmSummary(frequency=[0.0, 2.0], recency=[0.0, 1.0], age=[3.0, 4.0])
    assert bare.take(np.array([1])).monetary is None
    np.testing.assert_array_equal(bare.take(np.array([1])).row_weights, [1.0])


def test_grouping_with_fractions_matches_numpy_unique() -> None:
    """Weeks (days / 7) are not whole: no packed integer key, the lexicographic sort."""
    rng = np.random.default_rng(9)
    x = rng.integers(0, 30, 20_000).astype(float)
    weeks = rng.integers(0, 400, 20_000) / 7
    first, inverse = unique_rows(x, weeks)
    rows = np.column_stack([x, weeks])
    _, expected_first, expected_inverse = np.unique(rows, axis=0, return_index=True,
                                                    return_inverse=True)
    np.testing.assert_array_equal(first, expected_first)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
