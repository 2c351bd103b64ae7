"""Predictive customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma.

Stores ask two questions of their order history: which customers are still
buying, and what each is worth over the next year. These models answer both
from four numbers per customer (repeat purchases x, time of the last purchase
t_x, age T, mean repeat spend m), which the KPI engine computes in the database
and hands over as an ``RfmSummary``. Everything here is plain numpy/scipy so it
runs the same whatever the backend, and is checked against the published CDNOW
results.

Typical use::

    from clientela import clv

    purchases = clv.fit_bgnbd(summary)            # time unit of the summary: days
    spend = clv.fit_gammagamma(summary)
    value = clv.clv(purchases, spend, summary, periods_per_month=clv.DAYS_PER_MONTH)
    alive = clv.p_alive(purchases, summary)
    check = clv.holdout_check(purchases, summary, holdout_purchases, holdout_length=182)

Fits raise ``ClvFitError`` (a ``ValueError``) when the data cannot support
them, with a message that says what to change.
"""

from __future__ import annotations

from clientela.clv.bgnbd import fit_bgnbd
from clientela.clv.errors import ClvFitError
from clientela.clv.fit import ModelFit
from clientela.clv.gammagamma import fit_gammagamma
from clientela.clv.holdout import HoldoutCheck, holdout_check
from clientela.clv.paretonbd import fit_paretonbd
from clientela.clv.predict import clv, expected_purchases, expected_spend, p_alive
from clientela.clv.simulate import SimulatedOrders, simulate_orders, simulate_summary
from clientela.clv.summary import DAYS_PER_MONTH, WEEKS_PER_MONTH, RfmSummary, collapse

__all__ = [
    "DAYS_PER_MONTH",
    "WEEKS_PER_MONTH",
    "ClvFitError",
    "HoldoutCheck",
    "ModelFit",
    "RfmSummary",
    "SimulatedOrders",
    "clv",
    "collapse",
    "expected_purchases",
    "expected_spend",
    "fit_bgnbd",
    "fit_gammagamma",
    "fit_paretonbd",
    "holdout_check",
    "p_alive",
    "simulate_orders",
    "simulate_summary",
]
