"""docs/metrics.md, "Value": the predictive ones, `clv_predicted` and `p_alive`.

Both are point-in-time metrics: the models are fitted on every valid order
before the as-of instant (the period's end unless the caller fixes it) and
predict from there. The summaries and fits come from the CLV engine
(`clientela.clv.engine.periods`: one fetch of purchase days for a series, one
fit per call and as-of instant, warm-started along a series). The sums per
slice are numpy too: the per-customer values are already in Python, and
summing them there costs less than shipping a million rows back to the engine
for every period.

The CLV engine (and with it scipy) is imported inside the metric functions: the
catalogue loads this module for every `kpi` call, and one that asks for no CLV
metric should not pay a quarter of a second for scipy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import Field

from clientela.clv.measures import measure_names
from clientela.kpi import conventions as cv
from clientela.kpi.built import once_per_call
from clientela.kpi.carried import by_series_start
from clientela.kpi.context import PERIOD_COLUMN, SLICE_COLUMN, MetricContext
from clientela.metrics.api import Metric, NoParams

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from clientela.clv.engine.summary import CustomerSummary
    from clientela.clv.models.fit import ModelFit

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


def _slice_codes(ctx: MetricContext, customers: CustomerSummary) -> tuple[IntArray, list[Any]]:
    """Each customer's slice as a code into the returned labels (one None label when not
    slicing); a customer the dimension lacks gets a null slice, as with_slice's join does."""
    if ctx.by is None:
        return np.zeros(len(customers), dtype=np.int64), [None]
    customer_id = customers.customer_id
    dims: pa.Table = once_per_call(
        ctx, f"clv.slices|{ctx.by}|{(ctx.segment_as_of or ctx.as_of).isoformat()}",
        lambda: cv.slice_dims(ctx).to_pyarrow())
    found = pc.take(dims[SLICE_COLUMN], pc.index_in(customer_id, value_set=dims["customer_id"]))
    encoded = pc.dictionary_encode(found.combine_chunks() if isinstance(found, pa.ChunkedArray)
                                   else found, null_encoding="encode")
    return (np.asarray(encoded.indices, dtype=np.int64), encoded.dictionary.to_pylist())


Finish = Callable[[int, dict[str, float]], dict[str, float | int]]
"""A slice's customer count and per-customer sums -> the metric's measures."""


def _slice_rows(ctx: MetricContext, index: int | None, customers: CustomerSummary,
                fits: list[ModelFit], finish: Finish, **per_customer: FloatArray
                ) -> list[dict[str, Any]]:
    """One answer row per slice of one period: the measures `finish` makes of the slice's
    customer count and sums, and the fit's parameters."""
    from clientela.clv.engine.values import fit_measures

    codes, labels = _slice_codes(ctx, customers)
    counts = np.bincount(codes, minlength=len(labels))
    sums = {name: np.bincount(codes, weights=values, minlength=len(labels))
            for name, values in per_customer.items()}
    constants = fit_measures(fits)
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


def clv_predicted(ctx: MetricContext, params: ClvParams) -> ir.Table:
    from clientela.clv.engine.periods import predicted_values
    rows: list[dict[str, Any]] = []
    alive_rows: list[dict[str, Any]] = []
    for index, values in predicted_values(ctx, model=params.model, unit=params.unit,
                                          horizon_months=params.horizon_months,
                                          discount_rate=params.discount_rate):
        fits = values.fits
        rows += _slice_rows(
            ctx, index, values.customers, [fits.purchases, fits.spend],
            lambda n, s: {"value": s["clv"] / n, "total": s["clv"], "customers": n,
                          "expected_purchases": s["purchases"], "expected_alive": s["alive"]},
            clv=values.clv, purchases=values.expected_purchases, alive=values.p_alive)
        alive_rows += _p_alive_rows(ctx, index, values.customers, fits.purchases,
                                    values.p_alive)
    # p_alive with the same model and unit in the same call reads these rows: the same
    # fits, the same per-customer probabilities, so the very same sums
    once_per_call(ctx, _p_alive_key(ctx, params), lambda: alive_rows)
    return _answer(ctx, rows, ("customers",), clv_measures(params.model))


def _p_alive_rows(ctx: MetricContext, index: int | None, customers: CustomerSummary,
                  fit: ModelFit, alive: FloatArray) -> list[dict[str, Any]]:
    return _slice_rows(
        ctx, index, customers, [fit],
        lambda n, s: {"value": s["alive"] / n, "expected_alive": s["alive"],
                      "likely_alive": round(s["likely"]), "customers": n},
        alive=alive, likely=(alive >= 0.5).astype(np.float64))


def _p_alive_key(ctx: MetricContext, params: PurchaseModelParams) -> str:
    """What p_alive's answer rows depend on besides the store: the model, the unit, the
    as-of instants (every period's end in a series) and the slicing."""
    ends = ",".join(p.end_utc.isoformat() for p in ctx.periods) if ctx.periods else ""
    segment_as_of = ctx.segment_as_of.isoformat() if ctx.segment_as_of else ""
    return (f"clv.p_alive_rows|{params.model}|{params.unit}|{ctx.as_of.isoformat()}|{ends}|"
            f"{ctx.timezone}|{ctx.currency}|{ctx.by}|{segment_as_of}|{ctx.segmenter}")


def p_alive(ctx: MetricContext, params: PurchaseModelParams) -> ir.Table:
    measures = p_alive_measures(params.model)
    extras = ctx.cache.extras if ctx.cache is not None else {}
    shared = extras.get(_p_alive_key(ctx, params))
    if shared is not None:  # clv_predicted made them in this call
        return _answer(ctx, shared, ("customers", "likely_alive"), measures)
    from clientela import clv
    from clientela.clv.engine.carried import KeptFits
    from clientela.clv.engine.periods import fitted

    rows: list[dict[str, Any]] = []
    kept = KeptFits(ctx, params.unit)  # a warm call starts where the last one left off
    # the purchase days stay for a clv_predicted later in the call, which drops them
    for index, customers, fits in fitted(ctx, (params.model,), params.unit, release=False,
                                         kept=kept):
        fit = fits[params.model]
        grouped, inverse = customers.distinct  # once per distinct (x, t_x, T)
        rows += _p_alive_rows(ctx, index, customers, fit, clv.p_alive(fit, grouped)[inverse])
    kept.keep()
    return _answer(ctx, rows, ("customers", "likely_alive"), measures)


def clv_measures(model: str) -> tuple[str, ...]:
    return ("value", "total", "customers", "expected_purchases", "expected_alive",
            *measure_names(model))


def p_alive_measures(model: str) -> tuple[str, ...]:
    """The purchase model's parameters only: p_alive fits no spend model."""
    names = measure_names(model)
    return ("value", "expected_alive", "likely_alive", "customers",
            *names[:names.index(f"{model}_log_likelihood") + 1])


# each period's fit starts from the previous period's, back to the series' start: the warm
# path keeps these answers, and the fits, per series start (clientela.kpi.warm)
by_series_start(clv_predicted)
by_series_start(p_alive)


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
