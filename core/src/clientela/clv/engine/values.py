"""From a store's customer summary to fitted models and per-customer predictions.

This is the one place the metrics, the CLI and the benchmark go through, so
they all fit the same way: a purchase model (BG/NBD by default, Pareto/NBD
on request) on every customer, Gamma-Gamma on the repeat buyers whose mean
spend is positive, and predictions for every customer of the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from clientela import clv
from clientela.clv.engine.summary import CustomerSummary, periods_per_month
from clientela.clv.models.fit import ModelFit, WarmStart
from clientela.clv.models.inputs import RfmSummary

PurchaseModel = Literal["bgnbd", "paretonbd"]
MODELS: tuple[str, ...] = ("bgnbd", "paretonbd")
FloatArray = NDArray[np.float64]


def fit_purchases(summary: RfmSummary, model: str = "bgnbd", *,
                  start: WarmStart = None) -> ModelFit:
    """BG/NBD or Pareto/NBD, named the way the CLI and the metric parameters name them;
    `start` is a warm start (parameters of a fit on similar data)."""
    if model == "bgnbd":
        return clv.fit_bgnbd(summary, start=start)
    if model == "paretonbd":
        return clv.fit_paretonbd(summary, start=start)
    raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")


def fit_spend(summary: RfmSummary, *, start: WarmStart = None) -> ModelFit:
    """Gamma-Gamma on repeat buyers with a positive mean spend (`start`: a warm start).

    A repeat buyer whose repeat purchases were fully discounted or refunded
    has a mean of 0, which the gamma density cannot hold; leaving those few
    out of the fit (they still get a prediction, shrunk towards the mean) is
    better than refusing the whole store.
    """
    assert summary.monetary is not None
    usable = (summary.frequency > 0) & (summary.monetary > 0)
    return clv.fit_gammagamma(summary.take(usable), start=start)


@dataclass(frozen=True)
class Fits:
    """The two fits a CLV needs, with the time unit their parameters are in."""

    purchases: ModelFit
    spend: ModelFit
    unit: str

    def measures(self) -> dict[str, float]:
        """Parameters, standard errors and log-likelihoods as flat numeric measures.

        A KPI answer is a table of numbers, so the fit travels with the metric
        as `<model>_<param>` and `<model>_<param>_se` columns.
        """
        return fit_measures((self.purchases, self.spend))


def fit_measures(fits: Sequence[ModelFit]) -> dict[str, float]:
    """`<model>_<param>`, `<model>_<param>_se` and `<model>_log_likelihood` of each fit."""
    found: dict[str, float] = {}
    for fit in fits:
        for name, value in fit.params.items():
            found[f"{fit.model}_{name}"] = value
            found[f"{fit.model}_{name}_se"] = fit.standard_errors[name]
        found[f"{fit.model}_log_likelihood"] = fit.log_likelihood
    return found


def fit_models(summary: RfmSummary, *, model: str = "bgnbd", unit: str = "days") -> Fits:
    """Both fits on one summary; a `ClvFitError` says which and why when data cannot support them."""
    return Fits(purchases=fit_purchases(summary, model), spend=fit_spend(summary), unit=unit)


@dataclass(frozen=True)
class CustomerValues:
    """Per-customer predictions over a horizon, in the summary's customer order."""

    customers: CustomerSummary
    fits: Fits
    horizon_months: int
    discount_rate: float
    p_alive: FloatArray
    expected_purchases: FloatArray
    expected_spend: FloatArray
    clv: FloatArray

    def to_arrow(self) -> pa.Table:
        """customer_id, the summary (x, t_x, T, m in the fit's unit) and the predictions."""
        s = self.customers.summary
        return pa.table({
            "customer_id": self.customers.customer_id,
            "frequency": pa.array(s.frequency.astype(np.int64)),
            "recency": pa.array(s.recency),
            "age": pa.array(s.age),
            "monetary": pa.array(s.monetary),
            "p_alive": pa.array(self.p_alive),
            "expected_purchases": pa.array(self.expected_purchases),
            "expected_spend": pa.array(self.expected_spend),
            "clv": pa.array(self.clv),
        })


def predict(customers: CustomerSummary, fits: Fits, *, horizon_months: int = 12,
            discount_rate: float = 0.01) -> CustomerValues:
    """P(alive), purchases and discounted value over `horizon_months` for every customer,
    each model evaluated once per distinct (x, t_x, T) row (`CustomerSummary.distinct`)."""
    per_month = periods_per_month(fits.unit)
    found = clv.predictions(fits.purchases, fits.spend, customers.summary,
                            periods_per_month=per_month, horizon_months=horizon_months,
                            discount_rate=discount_rate, distinct=customers.distinct)
    return CustomerValues(
        customers=customers,
        fits=fits,
        horizon_months=horizon_months,
        discount_rate=discount_rate,
        p_alive=found.p_alive,
        expected_purchases=found.expected_purchases,
        expected_spend=found.expected_spend,
        clv=found.clv,
    )
