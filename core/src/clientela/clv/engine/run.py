"""`clientela clv` as a library call: fit, check, value, and save the values to the store.

The command and a script go through `run_clv`, so a script reproduces the
command's table without copying it: the report of `engine.report.clv_report`,
and the per-customer predictions written to the derived table `clv_scores`
(`clientela.store.derived`), which a push reads as the fields `clv` and
`p_alive`.
"""

from __future__ import annotations

from clientela.clv.engine.report import ClvReport, clv_report
from clientela.store import Store, derived


def save_scores(store: Store, report: ClvReport) -> int:
    """Replace the store's `clv_scores` with the report's per-customer predictions (one
    transaction); returns the number of customers saved."""
    columns = list(derived.CLV_SCORES.columns)
    return derived.replace(store, derived.CLV_SCORES, report.customer_table.select(columns))


def run_clv(store: Store, *, horizon_months: int = 12, holdout_months: int = 6,
            model: str = "bgnbd", unit: str = "days", discount_rate: float = 0.01,
            timezone: str = "UTC", currency: str = "BRL",
            segmenter: str | None = "rfm", engine: object = None) -> ClvReport:
    """What `clientela clv` does: the report (`clv_report`, same arguments), then the
    store's `clv_scores` replaced with its per-customer values. Raises `ClvFitError` when
    the calibration data cannot support a fit and `KpiError` when the store has no orders;
    the store is then left as it was.

    `engine` is where the orders are read: an Ibis backend holding the canonical tables
    (Spark reading an export, PostgreSQL; see `clientela.agency.engines`), default the
    store. The purchase-day summary is one Ibis aggregate run there; only one row per
    customer comes back, the models are fitted on it in Python, and the values are saved
    to the workspace's store either way."""
    report = clv_report(store if engine is None else engine, horizon_months=horizon_months,
                        holdout_months=holdout_months, model=model, unit=unit, discount_rate=discount_rate,
                        timezone=timezone, currency=currency, segmenter=segmenter)
    save_scores(store, report)
    return report
