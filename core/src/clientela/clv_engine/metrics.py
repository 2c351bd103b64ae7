"""KPIS.md, "Value": the predictive ones, `clv_predicted` and `p_alive`.

Both are point-in-time metrics: the models are fitted on every valid order
before the as-of instant (the period's end unless the caller fixes it) and
predict from there. The summary is an Ibis query; the fit is numpy on one row
per customer; the per-customer answer goes back into the engine as a table so
slicing by segment or acquisition channel is the same join every metric uses.
A fit is done once per call and as-of instant, however many metrics ask.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis
from pydantic import Field

from clientela.clv import ClvFitError, ModelFit
from clientela.clv_engine.summary import CustomerSummary, fetch_summary
from clientela.clv_engine.values import (
    Fits,
    fit_purchases,
    fit_spend,
    measure_names,
    predict,
)
from clientela.kpi import conventions as cv
from clientela.kpi.context import MetricContext
from clientela.kpi.errors import KpiError
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

GROUP = "Value"
SLICES = ("segment", "acquisition_channel")
"""Customer dimensions: a prediction belongs to a customer, not to one of their orders."""


class PurchaseModelParams(NoParams):
    model: Literal["bgnbd", "paretonbd"] = Field(
        default="bgnbd", description="Purchase model: BG/NBD or Pareto/NBD.")
    unit: Literal["days", "weeks"] = Field(
        default="days", description="Time unit of the summary and of the fitted rates.")


class ClvParams(PurchaseModelParams):
    horizon_months: int = Field(default=12, ge=1, le=600)
    discount_rate: float = Field(default=0.01, gt=-1, description="Monthly discount rate.")


def _extras(ctx: MetricContext) -> dict[str, Any]:
    # Without the engine's per-call cache (a direct call), nothing is shared.
    return ctx.cache.extras if ctx.cache is not None else {}


def _summary(ctx: MetricContext, unit: str) -> CustomerSummary:
    key = f"clv_engine.summary|{ctx.as_of.isoformat()}|{ctx.timezone}|{ctx.currency}|{unit}"
    extras = _extras(ctx)
    if key not in extras:
        extras[key] = fetch_summary(ctx.unsliced(), calibration_end=ctx.as_of,
                                    unit=unit)  # type: ignore[arg-type]
    found: CustomerSummary = extras[key]
    return found


def _fit(ctx: MetricContext, kind: str, unit: str, customers: CustomerSummary) -> ModelFit:
    key = f"clv_engine.fit|{ctx.as_of.isoformat()}|{ctx.timezone}|{ctx.currency}|{unit}|{kind}"
    extras = _extras(ctx)
    if key not in extras:
        try:
            if kind == "gammagamma":
                extras[key] = fit_spend(customers.summary)
            else:
                extras[key] = fit_purchases(customers.summary, kind)
        except ClvFitError as error:
            raise KpiError(f"metric {ctx.metric!r} as of {_when(ctx.as_of)}: {error}") from None
    found: ModelFit = extras[key]
    return found


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _sliced_totals(ctx: MetricContext, per_customer: ir.Table, fits: list[ModelFit],
                   **values: Callable[[ir.Table], ir.Value]) -> ir.Table:
    """Aggregate per slice, then attach the fitted parameters (the same in every slice:
    the model is fitted on the whole base, a segment is too small to fit on its own)."""
    sliced = cv.with_slice(ctx, per_customer)
    table = cv.summarize(sliced, ctx, **{name: make(sliced) for name, make in values.items()})
    constants: dict[str, ir.Value] = {}
    for fit in fits:
        for name, value in fit.params.items():
            constants[f"{fit.model}_{name}"] = ibis.literal(value, type="float64")
            constants[f"{fit.model}_{name}_se"] = ibis.literal(fit.standard_errors[name],
                                                               type="float64")
        constants[f"{fit.model}_log_likelihood"] = ibis.literal(fit.log_likelihood,
                                                                type="float64")
    return table.mutate(**constants)


def clv_predicted(ctx: MetricContext, params: ClvParams) -> ir.Table:
    customers = _summary(ctx, params.unit)
    fits = Fits(purchases=_fit(ctx, params.model, params.unit, customers),
                spend=_fit(ctx, "gammagamma", params.unit, customers), unit=params.unit)
    values = predict(customers, fits, horizon_months=params.horizon_months,
                     discount_rate=params.discount_rate)
    per = ibis.memtable(values.to_arrow().select(
        ["customer_id", "clv", "p_alive", "expected_purchases"]))
    return _sliced_totals(
        ctx, per, [fits.purchases, fits.spend],
        value=lambda t: t.clv.mean(),
        total=lambda t: t.clv.sum(),
        customers=lambda t: t.count(),
        expected_purchases=lambda t: t.expected_purchases.sum(),
        expected_alive=lambda t: t.p_alive.sum(),
    )


def p_alive(ctx: MetricContext, params: PurchaseModelParams) -> ir.Table:
    customers = _summary(ctx, params.unit)
    fit = _fit(ctx, params.model, params.unit, customers)
    from clientela import clv

    per = ibis.memtable({
        "customer_id": customers.customer_id,
        "p_alive": clv.p_alive(fit, customers.summary),
    })
    return _sliced_totals(
        ctx, per, [fit],
        value=lambda t: t.p_alive.mean(),
        expected_alive=lambda t: t.p_alive.sum(),
        likely_alive=lambda t: (t.p_alive >= 0.5).cast("int64").sum(),
        customers=lambda t: t.count(),
    )


def metrics() -> list[Metric]:
    bgnbd = measure_names("bgnbd")
    return [
        Metric(
            name="clv_predicted", title="Predicted CLV", title_pt="CLV previsto",
            description="Mean expected revenue per customer over the horizon (default 12 "
            "months, discounted monthly at discount_rate, default 1%) from BG/NBD (or "
            "Pareto/NBD) purchases and Gamma-Gamma spend fitted on every valid order before "
            "the as-of date; total, customers, expected purchases and alive customers, and "
            "the fitted parameters with standard errors.",
            unit="currency", compute=clv_predicted, params=ClvParams, group=GROUP,
            slices=SLICES,
            measures=("value", "total", "customers", "expected_purchases", "expected_alive",
                      *bgnbd),
        ),
        Metric(
            name="p_alive", title="Probability alive", title_pt="Probabilidade de estar ativo",
            description="Mean BG/NBD (or Pareto/NBD) probability that a customer is still "
            "active at the as-of date; expected and likely (P >= 0.5) alive customers, and "
            "the fitted parameters with standard errors.",
            unit="ratio", compute=p_alive, params=PurchaseModelParams, group=GROUP,
            slices=SLICES,
            measures=("value", "expected_alive", "likely_alive", "customers",
                      *bgnbd[:bgnbd.index("bgnbd_log_likelihood") + 1]),
        ),
    ]
