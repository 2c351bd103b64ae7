"""Predictive CLV on the store: the models of `clientela.clv.models` fed from the store.

- `summary`: the customers' (x, t_x, T, m) as one Ibis query as of an instant;
- `series`: the same as of every period end of a series, from one fetch of
  purchase days;
- `values`: fits and per-customer predictions;
- `periods`: fits and predictions per period for the KPI metrics, made once
  per call and warm-started along a series;
- `report`: calibrate on the history minus a holdout, check, value;
- `run`: `run_clv`, what `clientela clv` does, saving `clv_scores`;
- `synthetic`: orders from arrays in the store's schema, for tests and benchmarks.
"""

from __future__ import annotations

from clientela.clv.engine.report import ClvReport, clv_report
from clientela.clv.engine.run import run_clv, save_scores
from clientela.clv.engine.summary import CustomerSummary, customer_summary, fetch_summary
from clientela.clv.engine.values import CustomerValues, Fits, fit_models, predict

__all__ = [
    "ClvReport",
    "CustomerSummary",
    "CustomerValues",
    "Fits",
    "clv_report",
    "customer_summary",
    "fetch_summary",
    "fit_models",
    "predict",
    "run_clv",
    "save_scores",
]
