"""docs/metrics.md, "Value": the predictive ones, `clv_predicted` and `p_alive`.

Both are point-in-time metrics: the models are fitted on every valid order
before the as-of instant (the period's end unless the caller fixes it) and
predict from there. For one instant the summary is an Ibis query; for a
series of period ends it is built from one fetch of purchase days
(`clientela.clv_engine.series`), since a query per period would scan the
whole history each time. The fit is numpy on one row per customer, and so are
the sums per slice: the per-customer values are already in Python, and
summing them there costs less than shipping a million rows back to the engine
for every period. A fit is done once per call and as-of instant, however many
metrics ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import Field

from clientela.clv import ClvFitError, ModelFit
from clientela.clv_engine.series import aligned, fetch_purchase_days, summaries
from clientela.clv_engine.summary import CustomerSummary, fetch_summary
from clientela.clv_engine.values import (
    CustomerValues,
    Fits,
    fit_purchases,
    fit_spend,
    measure_names,
    predict,
)
from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN, SLICE_COLUMN, MetricContext
from clientela.kpi.errors import KpiError, SeriesUnsupported
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

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


def _remembered(ctx: MetricContext, key: str, make: Callable[[], Any]) -> Any:
    extras = _extras(ctx)
    if key not in extras:
        extras[key] = make()
    return extras[key]


def _summaries(ctx: MetricContext, unit: str) -> Iterator[tuple[int | None, CustomerSummary]]:
    """The summary as of each period's end of a series, keyed by period index; for one
    period, the summary as of its as-of instant, keyed None.

    A series needs every period to end at a local midnight (a purchase day never
    straddles two periods) and the as-of instant to be each period's end; otherwise it
    is asked period by period."""
    where = f"{ctx.timezone}|{ctx.currency}"
    if not ctx.periods:
        yield None, _remembered(
            ctx, f"clv_engine.summary|{ctx.as_of.isoformat()}|{where}|{unit}",
            lambda: fetch_summary(ctx.unsliced(), calibration_end=ctx.as_of,
                                  unit=unit))  # type: ignore[arg-type]
        return
    if ctx.as_of_fixed or not aligned(ctx.periods):
        raise SeriesUnsupported(ctx.metric)
    days = _remembered(ctx, f"clv_engine.days|{ctx.end.isoformat()}|{where}",
                       lambda: fetch_purchase_days(ctx.unsliced(), until=ctx.end))
    ends = [p.end_utc for p in ctx.periods]
    yield from enumerate(summaries(days, ends, ctx.timezone, unit=unit))


def _fit(ctx: MetricContext, kind: str, unit: str, customers: CustomerSummary) -> ModelFit:
    moment = customers.calibration_end
    key = f"clv_engine.fit|{moment.isoformat()}|{ctx.timezone}|{ctx.currency}|{unit}|{kind}"

    def fit() -> ModelFit:
        try:
            if kind == "gammagamma":
                return fit_spend(customers.summary)
            return fit_purchases(customers.summary, kind)
        except ClvFitError as error:
            raise KpiError(f"metric {ctx.metric!r} as of {_when(moment)}: {error}") from None

    found: ModelFit = _remembered(ctx, key, fit)
    return found


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _slice_codes(ctx: MetricContext, customer_id: pa.Array) -> tuple[IntArray, list[Any]]:
    """Each customer's slice as a code into the returned labels (one None label when not
    slicing); a customer the dimension lacks gets a null slice, as with_slice's join does."""
    if ctx.by is None:
        return np.zeros(len(customer_id), dtype=np.int64), [None]
    dims: pa.Table = _remembered(
        ctx, f"clv_engine.slices|{ctx.by}|{(ctx.segment_as_of or ctx.as_of).isoformat()}",
        lambda: cv.slice_dims(ctx).to_pyarrow())
    found = pc.take(dims[SLICE_COLUMN], pc.index_in(customer_id, value_set=dims["customer_id"]))
    encoded = pc.dictionary_encode(found.combine_chunks() if isinstance(found, pa.ChunkedArray)
                                   else found, null_encoding="encode")
    return (np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary.to_pylist())


def _fit_constants(fits: list[ModelFit]) -> dict[str, float]:
    """The fitted parameters, the same in every slice of a period: the model is fitted on the
    whole base, a segment is too small to fit on its own."""
    found: dict[str, float] = {}
    for fit in fits:
        for name, value in fit.params.items():
            found[f"{fit.model}_{name}"] = value
            found[f"{fit.model}_{name}_se"] = fit.standard_errors[name]
        found[f"{fit.model}_log_likelihood"] = fit.log_likelihood
    return found


Finish = Callable[[int, dict[str, float]], dict[str, float | int]]
"""A slice's customer count and per-customer sums -> the metric's measures."""


def _slice_rows(ctx: MetricContext, index: int | None, customers: CustomerSummary,
                fits: list[ModelFit], finish: Finish, **per_customer: FloatArray
                ) -> list[dict[str, Any]]:
    """One answer row per slice of one period: the measures `finish` makes of the slice's
    customer count and sums, and the fit's parameters."""
    codes, labels = _slice_codes(ctx, customers.customer_id)
    counts = np.bincount(codes, minlength=len(labels))
    sums = {name: np.bincount(codes, weights=values, minlength=len(labels))
            for name, values in per_customer.items()}
    constants = _fit_constants(fits)
    rows: list[dict[str, Any]] = []
    for j, label in enumerate(labels):
        if counts[j] == 0:
            continue
        row: dict[str, Any] = {} if index is None else {PERIOD_COLUMN: index}
        if ctx.by is not None:
            row[SLICE_COLUMN] = label
        row.update(finish(int(counts[j]), {name: float(s[j]) for name, s in sums.items()}))
        row.update(constants)
        rows.append(row)
    return rows


def _answer(ctx: MetricContext, rows: list[dict[str, Any]], counts: tuple[str, ...],
            measures: tuple[str, ...]) -> ir.Table:
    fields = [pa.field(PERIOD_COLUMN, pa.int64())] if ctx.periods else []
    if ctx.by is not None:
        fields.append(pa.field(SLICE_COLUMN, pa.string()))
    fields += [pa.field(name, pa.int64() if name in counts else pa.float64())
               for name in measures]
    return ibis.memtable(pa.Table.from_pylist(rows, schema=pa.schema(fields)))


def predicted_values(ctx: MetricContext, *, model: str = "bgnbd", unit: str = "days",
                     horizon_months: int = 12, discount_rate: float = 0.01
                     ) -> Iterator[tuple[int | None, CustomerValues]]:
    """Per-customer predictions as of each period's end of a series (keyed by period index)
    or as of the as-of instant (keyed None), from the fits `clv_predicted` makes: the call's
    cache shares them with every metric that asks (LTV / CAC on predicted LTV)."""
    for index, customers in _summaries(ctx, unit):
        fits = Fits(purchases=_fit(ctx, model, unit, customers),
                    spend=_fit(ctx, "gammagamma", unit, customers), unit=unit)
        yield index, predict(customers, fits, horizon_months=horizon_months,
                             discount_rate=discount_rate)


def clv_predicted(ctx: MetricContext, params: ClvParams) -> ir.Table:
    rows: list[dict[str, Any]] = []
    for index, values in predicted_values(ctx, model=params.model, unit=params.unit,
                                          horizon_months=params.horizon_months,
                                          discount_rate=params.discount_rate):
        fits = values.fits
        rows += _slice_rows(
            ctx, index, values.customers, [fits.purchases, fits.spend],
            lambda n, s: {"value": s["clv"] / n, "total": s["clv"], "customers": n,
                          "expected_purchases": s["purchases"], "expected_alive": s["alive"]},
            clv=values.clv, purchases=values.expected_purchases, alive=values.p_alive)
    return _answer(ctx, rows, ("customers",), clv_measures(params.model))


def p_alive(ctx: MetricContext, params: PurchaseModelParams) -> ir.Table:
    from clientela import clv

    rows: list[dict[str, Any]] = []
    for index, customers in _summaries(ctx, params.unit):
        fit = _fit(ctx, params.model, params.unit, customers)
        alive = clv.p_alive(fit, customers.summary)
        rows += _slice_rows(
            ctx, index, customers, [fit],
            lambda n, s: {"value": s["alive"] / n, "expected_alive": s["alive"],
                          "likely_alive": round(s["likely"]), "customers": n},
            alive=alive, likely=(alive >= 0.5).astype(np.float64))
    return _answer(ctx, rows, ("customers", "likely_alive"), p_alive_measures(params.model))


def clv_measures(model: str) -> tuple[str, ...]:
    return ("value", "total", "customers", "expected_purchases", "expected_alive",
            *measure_names(model))


def p_alive_measures(model: str) -> tuple[str, ...]:
    """The purchase model's parameters only: p_alive fits no spend model."""
    names = measure_names(model)
    return ("value", "expected_alive", "likely_alive", "customers",
            *names[:names.index(f"{model}_log_likelihood") + 1])


def metrics() -> list[Metric]:
    return [
        Metric(
            name="clv_predicted", title="Predicted CLV", title_pt="CLV previsto",
            description="Mean expected revenue per customer over the horizon (default 12 "
            "months, discounted monthly at discount_rate, default 1%) from BG/NBD (or "
            "Pareto/NBD) purchases and Gamma-Gamma spend fitted on every valid order before "
            "the as-of date; total, customers, expected purchases and alive customers, and "
            "the fitted parameters with standard errors.",
            unit="currency", compute=clv_predicted, params=ClvParams, group=GROUP,
            slices=SLICES, measures=clv_measures("bgnbd"), series=True,
        ),
        Metric(
            name="p_alive", title="Probability alive", title_pt="Probabilidade de estar ativo",
            description="Mean BG/NBD (or Pareto/NBD) probability that a customer is still "
            "active at the as-of date; expected and likely (P >= 0.5) alive customers, and "
            "the fitted parameters with standard errors.",
            unit="ratio", compute=p_alive, params=PurchaseModelParams, group=GROUP,
            slices=SLICES, measures=p_alive_measures("bgnbd"), series=True,
        ),
    ]
