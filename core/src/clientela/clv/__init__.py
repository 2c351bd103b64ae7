"""Predictive customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma.

Stores ask two questions of their order history: which customers are still
buying, and what each is worth over the next year. The package has two parts:

- `clientela.clv.models`: the models, plain numpy/scipy, fitted on four
  numbers per customer (repeat purchases x, time of the last purchase t_x,
  age T, mean repeat spend m) held in an ``RfmSummary``, and checked against
  the published CDNOW results. Their public names are exported here.
- `clientela.clv.engine`: the models on a store. The summary is computed in
  the database (`engine.summary`, or for every period end of a series from one
  fetch, `engine.series`), fitted and turned into per-customer values
  (`engine.values`, `engine.periods`), checked on a holdout (`engine.report`)
  and saved to the store (`engine.run.run_clv`, what `clientela clv` does).
  The catalogue's `clv_predicted` and `p_alive` are in `clientela.metrics.clv`.

Typical use of the models::

    from clientela import clv

    purchases = clv.fit_bgnbd(summary)            # time unit of the summary: days
    spend = clv.fit_gammagamma(summary)
    value = clv.clv(purchases, spend, summary, periods_per_month=clv.DAYS_PER_MONTH)
    alive = clv.p_alive(purchases, summary)
    check = clv.holdout_check(purchases, summary, holdout_purchases, holdout_length=182)

and on a store, as `clientela clv` does::

    from clientela.clv.engine import run_clv

    report = run_clv(store, horizon_months=12, holdout_months=6)

Fits raise ``ClvFitError`` (a ``ValueError``) when the data cannot support
them, with a message that says what to change.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clientela.clv.models.bgnbd import fit_bgnbd
    from clientela.clv.models.errors import ClvFitError
    from clientela.clv.models.fit import ModelFit
    from clientela.clv.models.gammagamma import fit_gammagamma
    from clientela.clv.models.holdout import HoldoutCheck, holdout_check
    from clientela.clv.models.inputs import (
        DAYS_PER_MONTH,
        WEEKS_PER_MONTH,
        RfmSummary,
        collapse,
    )
    from clientela.clv.models.paretonbd import fit_paretonbd
    from clientela.clv.models.predict import (
        Predictions,
        clv,
        expected_purchases,
        expected_spend,
        p_alive,
        predictions,
    )
    from clientela.clv.models.simulate import SimulatedOrders, simulate_orders, simulate_summary

_WHERE: dict[str, str] = {
    "clv": "clientela.clv.models.predict",
    "ClvFitError": "clientela.clv.models.errors",
    "collapse": "clientela.clv.models.inputs",
    "DAYS_PER_MONTH": "clientela.clv.models.inputs",
    "expected_purchases": "clientela.clv.models.predict",
    "expected_spend": "clientela.clv.models.predict",
    "fit_bgnbd": "clientela.clv.models.bgnbd",
    "fit_gammagamma": "clientela.clv.models.gammagamma",
    "fit_paretonbd": "clientela.clv.models.paretonbd",
    "holdout_check": "clientela.clv.models.holdout",
    "HoldoutCheck": "clientela.clv.models.holdout",
    "ModelFit": "clientela.clv.models.fit",
    "p_alive": "clientela.clv.models.predict",
    "Predictions": "clientela.clv.models.predict",
    "predictions": "clientela.clv.models.predict",
    "RfmSummary": "clientela.clv.models.inputs",
    "simulate_orders": "clientela.clv.models.simulate",
    "simulate_summary": "clientela.clv.models.simulate",
    "SimulatedOrders": "clientela.clv.models.simulate",
    "WEEKS_PER_MONTH": "clientela.clv.models.inputs",
}
"""Where each public name lives: imported on first use (PEP 562), so that loading a
submodule that needs no scipy (the catalogue's `clientela.clv.measures`) does not
load the models."""

__all__ = [
    "DAYS_PER_MONTH",
    "WEEKS_PER_MONTH",
    "ClvFitError",
    "HoldoutCheck",
    "ModelFit",
    "Predictions",
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
    "predictions",
    "simulate_orders",
    "simulate_summary",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
