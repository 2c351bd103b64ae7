"""Fits and predictions as of each period's end, made once per KPI call.

`clv_predicted`, `p_alive` and `ltv_cac_ratio` on predicted LTV all ask for
the same models: fitted on every valid order before the as-of instant (the
period's end unless the caller fixes it). The call's cache
(`ctx.cache.extras`) keeps the purchase days and every fit, so however many
of those metrics a call asks, each fit is made once.

For one instant the customer summary is an Ibis query (`engine.summary`). For
a series of period ends it is built from one fetch of purchase days
(`engine.series`), since a query per period would scan the whole history each
time. The fits of a series are warm-started: customers at one period's end
are those of the previous end plus one period of purchases, so the maximum
moves little, and the optimiser starts from the previous period's parameters
instead of from the generic guess (`clientela.clv.models.fit`), taking exact
Newton steps with the models' analytic Hessians. A warm fit ends where a cold
one does, at the maximum polished to rounding (`clientela.clv.models.fit`):
parameters, log-likelihood and predictions agree to about 1e-10 relative,
standard errors (from the Hessian at points at most 1e-7 apart) to about 1e-7;
tests/clv/test_clv_warm_start.py measures both on the golden store and holds
them to 1e-9 and 1e-6.

Within a period, the customers are grouped once into distinct (x, t_x, T) rows
(`CustomerSummary.distinct`); the purchase model is fitted on those rows with
their counts and the predictions are made per row (`clv.predictions`), so the
grouping and the special functions are paid once per row, not per customer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from clientela.clv.engine.carried import KeptFits, purchase_days
from clientela.clv.engine.series import PurchaseDays, aligned, fetch_purchase_days, summaries
from clientela.clv.engine.summary import CustomerSummary, fetch_summary
from clientela.clv.engine.values import CustomerValues, Fits, fit_purchases, fit_spend, predict
from clientela.clv.models.errors import ClvFitError
from clientela.clv.models.fit import ModelFit
from clientela.kpi.built import once_per_call
from clientela.kpi.context import MetricContext
from clientela.kpi.errors import KpiError, SeriesUnsupported

SPEND_MODEL = "gammagamma"
WARM_STARTED = frozenset({"bgnbd", "gammagamma"})
"""Models whose series fits start from the previous period's fit. Their gradients are
analytic, so a warm and a cold fit meet at the same maximum to rounding. Pareto/NBD's
gradient is a finite difference, which leaves its maximum uncertain at about 1e-5
relative: warm-started, its answer would depend on where the series began."""
WARM_START = True
"""Off, every fit of a series starts cold (the benchmark compares both ways)."""
TWO_THREADS = True
"""Off, a series' spend fits and predictions run on the calling thread, after each
period's purchase fit (the tests compare both ways: the answers are identical)."""


def forget(ctx: MetricContext, key: str) -> None:
    """Drop what `once_per_call` keeps under `key`, so its memory is free before the call ends."""
    if ctx.cache is not None:
        ctx.cache.extras.pop(key, None)


def period_summaries(ctx: MetricContext, unit: str, *, release: bool = True
                     ) -> Iterator[tuple[int | None, CustomerSummary]]:
    """The summary as of each period's end of a series, keyed by period index; for one
    period, the summary as of its as-of instant, keyed None.

    A series needs every period to end at a local midnight (a purchase day never
    straddles two periods) and the as-of instant to be each period's end; otherwise it
    is asked period by period (`SeriesUnsupported`). The purchase days are fetched once
    per call, for every period and every metric that asks until one with `release` has
    gone through the series."""
    where = f"{ctx.timezone}|{ctx.currency}"
    if not ctx.periods:
        yield None, once_per_call(ctx, f"clv.summary|{ctx.as_of.isoformat()}|{where}|{unit}",
                               lambda: _summary_at(ctx, unit))
        return
    if ctx.as_of_fixed or not aligned(ctx.periods):
        raise SeriesUnsupported(ctx.metric)
    key = f"clv.days|{ctx.end.isoformat()}|{where}"
    first_end = ctx.periods[0].end_utc

    def every_day() -> PurchaseDays:
        whole = ctx.unsliced()
        days = purchase_days(whole, until=ctx.end, first_end=first_end)
        return fetch_purchase_days(whole, until=ctx.end) if days is None else days

    days = once_per_call(ctx, key, every_day)
    ends = [p.end_utc for p in ctx.periods]
    yield from enumerate(summaries(days, ends, ctx.timezone, unit=unit))
    # The series is done: its purchase days (a few hundred MB at ten million orders) leave
    # now rather than at the end of the call. Another series of the call would fetch them
    # again; in the catalogue none does (p_alive reads clv_predicted's rows).
    if release:
        forget(ctx, key)


def _summary_at(ctx: MetricContext, unit: str) -> CustomerSummary:
    """The summary as of ctx.as_of: from the carried state's counters and the days since
    in a warm call (the same arrays), otherwise one query over every order."""
    whole = ctx.unsliced()
    days = None if ctx.as_of_fixed else purchase_days(whole, until=ctx.as_of,
                                                      first_end=ctx.as_of)
    if days is None:
        return fetch_summary(whole, calibration_end=ctx.as_of, unit=unit)  # type: ignore[arg-type]
    return next(summaries(days, [ctx.as_of], ctx.timezone, unit=unit))


def previous_end(ctx: MetricContext) -> datetime | None:
    """The instant of the fit a cold series would start this call's first fit from: the
    first period's start (the end of the period before it); None for a fixed as-of."""
    if ctx.periods:
        return ctx.periods[0].start_utc
    return None if ctx.as_of_fixed else ctx.period.start_utc


def model_fit(ctx: MetricContext, kind: str, unit: str, customers: CustomerSummary, *,
              warm_start: ModelFit | None = None) -> ModelFit:
    """`kind` (bgnbd, paretonbd or gammagamma) fitted on `customers`, once per call and
    as-of instant; `warm_start` is the fit the optimiser starts from (the previous period's
    in a series). A warm-started fit that fails is made again from the generic start: a
    young store's first months can leave the previous optimum far from this one, where the
    Newton steps stop on a flat or saddle-shaped surface the cold path steers clear of. A
    fit the data cannot support either way is a `KpiError` naming the metric and the
    instant."""
    moment = customers.calibration_end
    key = f"clv.fit|{moment.isoformat()}|{ctx.timezone}|{ctx.currency}|{unit}|{kind}"

    def started(start: ModelFit | None) -> ModelFit:
        if kind == SPEND_MODEL:
            return fit_spend(customers.summary, start=start)
        # on the distinct rows with their counts: the same rows the model would
        # group the customers into, so the same fit, and the grouping is shared
        return fit_purchases(customers.distinct[0], kind, start=start)

    def fit() -> ModelFit:
        try:
            try:
                return started(warm_start)
            except ClvFitError:
                if warm_start is None:
                    raise
                return started(None)
        except ClvFitError as error:
            raise KpiError(f"metric {ctx.metric!r} as of {_when(moment)}: {error}") from None

    found: ModelFit = once_per_call(ctx, key, fit)
    return found


def fitted(ctx: MetricContext, kinds: Sequence[str], unit: str, *, release: bool = True,
           kept: KeptFits | None = None
           ) -> Iterator[tuple[int | None, CustomerSummary, dict[str, ModelFit]]]:
    """Each period's summary with its fits of `kinds`, each warm-started from the same
    model's fit at the previous period's end (for the first period of a warm call, the
    one `kept` from an earlier call, if any); with `release`, the purchase days are
    dropped after the last period (`period_summaries`). The fits made are noted in `kept`."""
    previous: dict[str, ModelFit] = {}
    before = previous_end(ctx)
    if kept is not None and before is not None:
        previous = {kind: fit for kind in kinds
                    if _warm(kind) and (fit := kept.kept(kind, before)) is not None}
    for index, customers in period_summaries(ctx, unit, release=release):
        fits = {kind: model_fit(ctx, kind, unit, customers,
                                warm_start=previous.get(kind) if _warm(kind) else None)
                for kind in kinds}
        if kept is not None and not ctx.as_of_fixed:
            for fit in fits.values():
                kept.made_one(fit, customers.calibration_end)
        previous = fits
        yield index, customers, fits


def predicted_values(ctx: MetricContext, *, model: str = "bgnbd", unit: str = "days",
                     horizon_months: int = 12, discount_rate: float = 0.01
                     ) -> Iterator[tuple[int | None, CustomerValues]]:
    """Per-customer predictions as of each period's end of a series (keyed by period index)
    or as of the as-of instant (keyed None), from the fits `clv_predicted` makes: the call's
    cache shares them with every metric that asks (LTV / CAC on predicted LTV).

    A series runs on two threads. The purchase fits form one chain (each starts from
    the previous period's), built here with the summaries; the spend fits form another,
    and a period's predictions need only its own two fits, so a worker thread fits each
    period's spend and makes its predictions while this thread moves on to the next
    period's summary and purchase fit. The heavy steps are numpy and scipy loops over a
    million customers, which release the GIL, and each result is the same computation
    on the same inputs as on one thread: the answers do not change, only the wall time.
    """
    kept = KeptFits(ctx, unit)
    if not (ctx.periods and TWO_THREADS):
        for index, customers, fits in fitted(ctx, (model, SPEND_MODEL), unit, kept=kept):
            yield index, _predict(customers, fits[model], fits[SPEND_MODEL], unit,
                                  horizon_months, discount_rate)
        kept.keep()
        return
    # the worker's previous spend fit; only it touches this once the series runs
    before = previous_end(ctx)
    first = (kept.kept(SPEND_MODEL, before) if before is not None and _warm(SPEND_MODEL)
             else None)
    spend_chain: list[ModelFit] = [] if first is None else [first]

    def spend_and_predict(customers: CustomerSummary, purchases: ModelFit) -> CustomerValues:
        start = spend_chain[-1] if spend_chain and _warm(SPEND_MODEL) else None
        spend = model_fit(ctx, SPEND_MODEL, unit, customers, warm_start=start)
        spend_chain[:] = [spend]
        kept.made_one(spend, customers.calibration_end)
        return _predict(customers, purchases, spend, unit, horizon_months, discount_rate)

    pending: deque[tuple[int | None, Future[CustomerValues]]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clv-predict") as worker:
        try:
            series = fitted(ctx, (model,), unit, kept=kept)
            while True:
                try:
                    index, customers, fits = next(series)
                except StopIteration:
                    break
                except Exception:
                    _raise_first_error(pending)  # an earlier period's comes first
                    raise
                customers.distinct  # noqa: B018 - grouped here, before the worker reads it
                pending.append((index, worker.submit(spend_and_predict, customers,
                                                     fits[model])))
                while len(pending) > _AHEAD:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
            kept.keep()
        finally:  # a consumer that stops early leaves nothing running
            for _, future in pending:
                future.cancel()


def _raise_first_error(pending: deque[tuple[int | None, Future[CustomerValues]]]) -> None:
    """The error of the earliest pending period that failed, if any: a single thread
    would have met it before anything a later period raises."""
    for _, future in pending:
        future.result()


_AHEAD = 1
"""Periods whose spend fit and predictions may wait for the worker besides the one it is
on: enough to keep both threads busy, few enough that their per-customer arrays (some
100 MB a period at a million customers) stay few. At ten million orders two waiting
raised the peak RSS by about 60 MB, for no gain measurable on a loaded machine."""


def _predict(customers: CustomerSummary, purchases: ModelFit, spend: ModelFit, unit: str,
             horizon_months: int, discount_rate: float) -> CustomerValues:
    return predict(customers, Fits(purchases=purchases, spend=spend, unit=unit),
                   horizon_months=horizon_months, discount_rate=discount_rate)


def _warm(kind: str) -> bool:
    return WARM_START and kind in WARM_STARTED


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
