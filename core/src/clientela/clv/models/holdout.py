"""How well a purchase model predicts a holdout period, by number of calibration purchases.

Fitting on a calibration period and comparing with what customers actually
did next is how Fader, Hardie & Lee validate BG/NBD (their figure 4): one
line per group of customers with 0, 1, ..., 7+ repeat purchases. Shown on a
store's own data, it tells the user whether to trust the model there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clientela.clv.models.fit import ModelFit
from clientela.clv.models.inputs import RfmSummary
from clientela.clv.models.predict import expected_purchases

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class HoldoutCheck:
    """Mean predicted and actual holdout purchases per customer, by calibration frequency.

    ``labels`` are "0", "1", ..., "7+"; ``customers`` counts customers in each
    group; the totals are over all customers.
    """

    labels: tuple[str, ...]
    customers: NDArray[np.int64]
    predicted_mean: FloatArray
    actual_mean: FloatArray
    predicted_total: float
    actual_total: float

    def rows(self) -> list[dict[str, object]]:
        """One plain dict per group, ready for a table or JSON."""
        return [
            {
                "calibration_purchases": label,
                "customers": int(n),
                "predicted": float(p),
                "actual": float(a),
            }
            for label, n, p, a in zip(
                self.labels, self.customers, self.predicted_mean, self.actual_mean, strict=True
            )
        ]


def holdout_check(
    fit: ModelFit,
    calibration: RfmSummary,
    holdout_purchases: ArrayLike,
    holdout_length: float,
    *,
    top_group: int = 7,
) -> HoldoutCheck:
    """Compare the model's expected purchases in the holdout with the actual ones.

    ``holdout_purchases`` counts each customer's purchases (distinct purchase
    periods) after the calibration end, in the order of ``calibration``;
    ``holdout_length`` is the holdout's length in the fit's time unit.
    Customers with ``top_group`` or more calibration purchases share a group.
    """
    actual = np.asarray(holdout_purchases, dtype=np.float64)
    if actual.shape != calibration.frequency.shape:
        raise ValueError(
            f"holdout_purchases has {actual.shape[0]} values for {len(calibration)} customers"
        )
    if top_group < 1:
        raise ValueError(f"top_group must be at least 1, got {top_group}")
    predicted = expected_purchases(fit, calibration, holdout_length)
    weights = calibration.row_weights
    group = np.minimum(calibration.frequency, top_group).astype(np.intp)
    size = top_group + 1
    count = np.bincount(group, weights=weights, minlength=size).astype(np.float64)
    predicted_sum = np.bincount(group, weights=weights * predicted, minlength=size)
    actual_sum = np.bincount(group, weights=weights * actual, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        # An empty group has no mean: NaN, not 0, so a table shows it as missing.
        predicted_mean = np.asarray(predicted_sum / count, dtype=np.float64)
        actual_mean = np.asarray(actual_sum / count, dtype=np.float64)
    labels = (*(str(k) for k in range(top_group)), f"{top_group}+")
    return HoldoutCheck(
        labels=labels,
        customers=np.round(count).astype(np.int64),
        predicted_mean=predicted_mean,
        actual_mean=actual_mean,
        predicted_total=float(np.einsum("i,i->", weights, predicted)),
        actual_total=float(np.einsum("i,i->", weights, actual)),
    )
