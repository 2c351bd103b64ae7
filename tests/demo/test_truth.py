"""The truth is consistent with the data, and a BG/NBD fit on the data recovers it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

from clientela.demo import DemoData, generate


def test_per_customer_truth_matches_the_orders(
    demo: DemoData, frames: dict[str, pd.DataFrame]
) -> None:
    truth = demo.truth
    per = truth.per_customer.to_pandas()
    assert len(per) == truth.buyers
    # campaigns bring process purchases forward, so repeats and campaign orders are the process
    assert per.repeat_purchases.sum() == truth.orders_by_origin["repeat"] \
        + truth.orders_by_origin["campaign"]
    assert 0.1 < per.alive_at_end.mean() < 0.9
    assert per.dropout_at.isna().equals(per.alive_at_end)
    assert truth.b >= 4.0 and truth.a > 1 and truth.r > 0 and truth.alpha > 0
    orders = frames["orders"]
    valid = orders[~orders.status.isin(["cancelled", "refunded"])]
    counts = valid.groupby("customer_id").size()
    # valid orders = the first one + the process's repeat purchases, nothing on top
    assert (counts.loc[per.customer_id].to_numpy() == per.repeat_purchases.to_numpy() + 1).all()
    assert counts.sum() == truth.buyers + truth.orders_by_origin["repeat"] \
        + truth.orders_by_origin["campaign"]


def _bgnbd_fit(x: np.ndarray, t_x: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Maximum likelihood BG/NBD (Fader, Hardie & Lee 2005), written out for the test."""

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        r, alpha, a, b = np.exp(log_params)
        shared = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
        alive = -(r + x) * np.log(alpha + age)
        left = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
        return float(-(shared + np.logaddexp(alive, left)).sum())

    result = minimize(negative_log_likelihood, np.log([1.0, 10.0, 1.0, 3.0]),
                      method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6})
    fitted: np.ndarray = np.exp(result.x)
    return fitted


@pytest.mark.slow
def test_bgnbd_fit_recovers_the_process() -> None:
    data = generate(customers=20_000, orders=100_000, seed=42)
    truth = data.truth
    orders = data["orders"].select(["customer_id", "status", "placed_at"]).to_pandas()
    orders = orders[~orders.status.isin(["cancelled", "refunded"])]
    origin = pd.Timestamp(truth.start) + pd.Timedelta(hours=3)
    day = np.floor((orders.placed_at - origin).dt.total_seconds() / 86_400)
    per = pd.DataFrame({"customer_id": orders.customer_id, "day": day}).drop_duplicates()
    grouped = per.groupby("customer_id").day
    first, last = grouped.min(), grouped.max()
    x = (grouped.size() - 1).to_numpy(dtype=float)
    horizon = (pd.Timestamp(truth.end) - pd.Timestamp(truth.start)).days + 1
    r, alpha, a, b = _bgnbd_fit(x, (last - first).to_numpy(), (horizon - first).to_numpy())
    assert abs((r / alpha) / truth.mean_rate - 1) < 0.1
    assert abs(a / (a + b) / truth.mean_dropout - 1) < 0.15
    assert abs(r / truth.r - 1) < 0.25



def test_no_customer_has_two_valid_orders_on_one_local_day(
    frames: dict[str, pd.DataFrame]
) -> None:
    """The CLV summary counts purchase days; the process's purchases are each on a day of
    their own, so the summary's repeat count is the process's."""
    orders = frames["orders"]
    valid = orders[~orders.status.isin(["cancelled", "refunded"])]
    local = (valid.placed_at - pd.Timedelta(hours=3)).dt.floor("D")
    assert not pd.DataFrame({"c": valid.customer_id, "d": local}).duplicated().any()
