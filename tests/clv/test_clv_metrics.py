"""`clv_predicted` and `p_alive` on a small store whose summary is known independently.

The store holds a simulated BG/NBD process; the expected values come from the
numpy reference summary of the same orders and the models themselves, so the
metric is checked end to end (engine summary, fit, prediction, aggregation).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from _clv_reference import summary_from_orders

from clientela import clv
from clientela.clv.engine.synthetic import orders_table, write_orders
from clientela.kpi import KpiError, compute
from clientela.kpi.errors import MissingDataError
from clientela.metrics.catalog import builtin_metrics
from clientela.store import Store

N = 400
AS_OF = "2025-01-01"  # exclusive: the last calibration day, 31 December 2024, is day 365


def _orders() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small BG/NBD store (CDNOW's parameters in days, 400 customers acquired over 2024):
    customer, day (0 = 1 January 2024) and amount in cents of every order."""
    ages = np.random.default_rng(0).integers(60, 366, N).astype(np.float64)
    sim = clv.simulate_orders(N, age=ages, r=0.243, alpha=30.9, a=0.793, b=2.426, p=6.25,
                              q=3.74, gamma=15.44, seed=0)
    day = np.floor(365 - sim.age[sim.customer] + sim.time)
    cents = np.maximum(np.round(sim.amount * 100), 1).astype(np.int64)
    return sim.customer.astype(np.int64), day, cents


def _hand_summary() -> clv.RfmSummary:
    """The same customers' summary from the numpy reference (the oracle), not the engine."""
    customer, day, cents = _orders()
    _, summary = summary_from_orders(customer, day, cents / 100, 365.0)
    return summary


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Store]:
    customer, day, cents = _orders()
    placed_us = ((day + (datetime(2024, 1, 1) - datetime(1970, 1, 1)).days) * 86_400
                 + 12 * 3600).astype(np.int64) * 1_000_000
    ids = np.char.add("c", np.char.zfill(customer.astype(str), 4))
    with Store(tmp_path / "small.duckdb") as store:
        write_orders(store, orders_table(ids, placed_us, cents))
        yield store


def test_clv_metrics_are_built_ins() -> None:
    names = {m.name: m for m in builtin_metrics()}
    assert names["clv_predicted"].group == names["p_alive"].group == "Value"
    assert names["clv_predicted"].slices == ("segment", "acquisition_channel")


def test_clv_predicted_matches_the_models_on_the_hand_summary(small_store: Store) -> None:
    summary = _hand_summary()
    purchases, spend = clv.fit_bgnbd(summary), clv.fit_gammagamma(summary)
    value = clv.clv(purchases, spend, summary, periods_per_month=clv.DAYS_PER_MONTH)
    result = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF)
    assert result.value("clv_predicted") == pytest.approx(value.mean(), rel=1e-12)
    assert result.value("clv_predicted", "total") == pytest.approx(value.sum(), rel=1e-12)
    assert result.value("clv_predicted", "customers") == N
    alive = clv.p_alive(purchases, summary)
    assert result.value("clv_predicted", "expected_alive") == pytest.approx(alive.sum(), rel=1e-12)
    for name, fitted in purchases.params.items():
        assert result.value("clv_predicted", f"bgnbd_{name}") == pytest.approx(fitted, rel=1e-12)
        assert result.value("clv_predicted", f"bgnbd_{name}_se") == pytest.approx(
            purchases.standard_errors[name], rel=1e-9)
    # The store sums DECIMAL cents and the hand summary floats: mean spends differ in the
    # last bit (up to 3e-14), which moves the Gamma-Gamma maximum by about 1e-12 relative.
    for name, fitted in spend.params.items():
        assert result.value("clv_predicted", f"gammagamma_{name}") == pytest.approx(fitted,
                                                                                  rel=1e-10)
    assert result.value("clv_predicted", "bgnbd_log_likelihood") == pytest.approx(
        purchases.log_likelihood, rel=1e-12)


def test_horizon_and_discount_are_parameters(small_store: Store) -> None:
    summary = _hand_summary()
    purchases, spend = clv.fit_bgnbd(summary), clv.fit_gammagamma(summary)
    value = clv.clv(purchases, spend, summary, periods_per_month=clv.DAYS_PER_MONTH,
                    horizon_months=3, discount_rate=0.0)
    result = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF,
                     params={"clv_predicted": {"horizon_months": 3, "discount_rate": 0.0}})
    assert result.value("clv_predicted") == pytest.approx(value.mean(), rel=1e-12)


def test_p_alive_matches_the_model(small_store: Store) -> None:
    summary = _hand_summary()
    fit = clv.fit_bgnbd(summary)
    alive = clv.p_alive(fit, summary)
    result = compute(small_store, ["p_alive"], start="2024-01-01", end=AS_OF)
    assert result.value("p_alive") == pytest.approx(alive.mean(), rel=1e-12)
    assert result.value("p_alive", "likely_alive") == int((alive >= 0.5).sum())
    assert result.value("p_alive", "customers") == N
    # BG/NBD: a customer without a repeat purchase cannot have left
    assert set(alive[summary.frequency == 0].tolist()) == {1.0}


def test_weeks_give_the_same_clv_as_days(small_store: Store) -> None:
    """The unit changes the parameters' scale, not the prediction."""
    result = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF,
                     params={"clv_predicted": {"unit": "weeks"}})
    days = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF)
    assert result.value("clv_predicted") == pytest.approx(days.value("clv_predicted"), rel=1e-5)
    assert result.value("clv_predicted", "bgnbd_alpha") == pytest.approx(
        days.value("clv_predicted", "bgnbd_alpha") / 7, rel=1e-5)


def test_sliced_by_segment_adds_up_with_the_same_fit(small_store: Store) -> None:
    whole = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF)
    sliced = compute(small_store, ["clv_predicted"], start="2024-01-01", end=AS_OF, by="segment")
    rows = [r for r in sliced.rows() if r["measure"] == "total"]
    assert len(rows) > 1
    assert sum(r["value"] for r in rows) == pytest.approx(whole.value("clv_predicted", "total"),
                                                         rel=1e-12)
    assert sum(r["value"] for r in sliced.rows() if r["measure"] == "customers") == N
    alphas = {r["value"] for r in sliced.rows() if r["measure"] == "bgnbd_alpha"}
    assert alphas == {whole.value("clv_predicted", "bgnbd_alpha")}


def test_too_few_repeat_buyers_is_a_clear_kpi_error(tmp_path: Path) -> None:
    with Store(tmp_path / "tiny.duckdb") as store:
        customer, day, cents = _orders()
        few = customer < 12
        placed_us = ((day[few] + 19723) * 86_400).astype(np.int64) * 1_000_000  # from 2024
        write_orders(store, orders_table(customer[few], placed_us, cents[few]))
        with pytest.raises(KpiError, match="bgnbd needs at least 10 customers with a repeat"):
            compute(store, ["p_alive"], start="2024-01-01", end=AS_OF)


def test_an_empty_store_says_what_is_missing(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.duckdb") as store, pytest.raises(MissingDataError):
        compute(store, ["clv_predicted"], start="2024-01-01", end=AS_OF)
