"""Predictive CLV on the store: the engine side of `clientela.clv`.

`clientela.clv` holds the models (numpy/scipy, checked against the
literature); this package feeds them from the store and brings their answers
back: the customer summary as one Ibis query (`summary`), fits and
per-customer predictions (`values`), the `clv_predicted` and `p_alive`
metrics (`metrics`) and the calibrate-check-value report behind
`clientela clv` (`report`).
"""

from __future__ import annotations

from clientela.clv_engine.report import ClvReport, clv_report
from clientela.clv_engine.summary import CustomerSummary, customer_summary, fetch_summary
from clientela.clv_engine.values import CustomerValues, Fits, fit_models, predict

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
]
