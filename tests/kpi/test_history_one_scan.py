"""The point-in-time aggregates read one scan of the customer x period history
(`history_days`): recency_days' mean, median and histogram come from customers per day of
recency, and repeat_rate / lapsed_customers / avg_frequency from sums over those days.
Each must equal its definition written over the customers themselves, as it was computed
before (kept here as reference metrics), on the golden store, as a series and one period
at a time, sliced and not."""

from __future__ import annotations

from dataclasses import replace

import ibis
import pytest

from clientela.kpi import compute
from clientela.kpi import conventions as cv
from clientela.kpi.result import KpiResult
from clientela.metrics.api import Metric
from clientela.metrics.retention import MONTH_DAYS, _summary_and_items
from clientela.store import Store
from clientela.testing.conformance import period_by_period

TZ = "America/Sao_Paulo"


def recency_over_customers(ctx, params):  # type: ignore[no-untyped-def]
    """recency_days as it was: the mean of every customer's days, the median from a ranking
    of the customers, the histogram from their rows."""
    h = cv.history_at(ctx, at="as_of")
    h = cv.with_slice(ctx, h.mutate(days=cv.calendar_days_between(ctx, h.last_at, h.at)))
    stats = cv.summarize(h, ctx, value=cv.mean(h.days), customers=h.count())
    summary = cv.join_keys(stats, cv.median_of(h, "days", ctx.keys), ctx.keys)
    bucket = (h.days.cast("float64") / MONTH_DAYS).floor().cast("int64") * MONTH_DAYS
    h = h.mutate(item=bucket.cast("string") + "-" + (bucket + MONTH_DAYS - 1).cast("string"))
    hist = h.group_by([*ctx.keys, "item"]).aggregate(customers=h.count())
    window = ibis.window(group_by=ctx.keys) if ctx.keys else ibis.window()
    hist = hist.mutate(value=cv.ratio(hist.customers, hist.customers.sum().over(window)))
    return _summary_and_items(summary, hist, ctx.keys, {
        "item": "string", "value": "float64", "median": "float64", "customers": "int64"})


def totals_over_customers(ctx, params):  # type: ignore[no-untyped-def]
    """repeat_rate, lapsed_customers (180 days) and avg_frequency's value, from the
    customers' rows in one aggregate, as history_totals computed them."""
    h = cv.with_slice(ctx, cv.history_at(ctx))
    t = cv.summarize(
        h, ctx, customers=h.count(), repeaters=cv.indicator(h.orders >= 2).sum(),
        lapsed=cv.indicator(h.last_at < h.at - ibis.interval(days=180)).sum(),
        orders=h.orders.sum())
    return t.select(*ctx.keys, value=cv.ratio(t.repeaters, t.customers),
                    repeat_customers=t.repeaters, customers=t.customers,
                    lapsed=t.lapsed.coalesce(0), frequency=cv.ratio(t.orders, t.customers))


def _rows(result: KpiResult, metric: str) -> set:
    """(period, slice, item, measure, value) of a metric's rows; the slice column is named
    after the dimension."""
    by = result.by
    return {(r["period"], r[by] if by else None, r["item"], r["measure"], r["value"])
            for r in result.rows() if r["metric"] == metric}


def _references(metrics: dict[str, Metric]) -> list[Metric]:
    recency = replace(metrics["recency_days"], name="recency_reference",
                      compute=recency_over_customers)
    totals = replace(metrics["repeat_rate"], name="totals_reference",
                     compute=totals_over_customers,
                     measures=("value", "repeat_customers", "customers", "lapsed",
                               "frequency"))
    return [recency, totals]


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_history_days_answers_equal_their_definitions(
        clientela_golden_store: Store, metrics: dict[str, Metric], by: str | None,
        one_at_a_time: bool) -> None:
    names: list = ["recency_days", "repeat_rate", "lapsed_customers", "avg_frequency",
                   *_references(metrics)]
    if one_at_a_time:
        names = period_by_period(names, {**metrics, **{m.name: m for m in names
                                                       if isinstance(m, Metric)}})
    found = compute(clientela_golden_store, names, catalog=metrics, start="2024-07",
                    end="2025-07", grain="month", timezone=TZ, by=by)
    recency = _rows(found, "recency_days")
    assert len(recency) > 12 * 3  # a mean, a median and a histogram in every month
    assert recency == _rows(found, "recency_reference")
    totals = {r for r in _rows(found, "totals_reference")
              if r[3] in ("value", "repeat_customers", "customers")}
    assert _rows(found, "repeat_rate") == totals
    lapsed = {(p, s, i, v) for p, s, i, m, v in _rows(found, "lapsed_customers")
              if m == "value"}
    assert lapsed == {(p, s, i, v) for p, s, i, m, v in _rows(found, "totals_reference")
                      if m == "lapsed"}
    frequency = {(p, s, v) for p, s, i, m, v in _rows(found, "avg_frequency")
                 if m == "value" and i is None}
    assert frequency == {(p, s, v) for p, s, i, m, v in _rows(found, "totals_reference")
                         if m == "frequency"}


def test_histories_spread_from_the_states_equal_their_own_window(
        clientela_golden_store: Store, metrics: dict[str, Metric],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In a call answering many metrics the customer x period histories (RFM's, and the
    reference metrics' above) are the customer states spread over their periods; asked
    alone they run their own window over the ordering periods. The two give the same rows:
    the catalogue call is compared with each metric's own call."""
    from clientela.kpi import point_in_time
    from clientela.kpi.retail import MANY_METRICS

    taken: list[bool] = []
    original = point_in_time.states_carry_histories

    def spy(ctx):  # type: ignore[no-untyped-def]
        taken.append(original(ctx))
        return taken[-1]

    monkeypatch.setattr(point_in_time, "states_carry_histories", spy)
    span = {"catalog": metrics, "start": "2024-07", "end": "2025-07", "grain": "month",
            "timezone": TZ}
    references = _references(metrics)
    names: list = ["rfm_segments", "recency_days", "repeat_rate", "lapsed_customers",
                   "avg_frequency", "winback_rate", "orders", "revenue", "aov",
                   "active_customers", *references]
    assert len(names) >= MANY_METRICS
    together = compute(clientela_golden_store, names, **span)
    assert taken and all(taken)
    taken.clear()
    for name in ["rfm_segments", *references]:
        alone = compute(clientela_golden_store, [name], **span)
        label = name if isinstance(name, str) else name.name
        assert len(_rows(alone, label)) > 12
        assert _rows(together, label) == _rows(alone, label)
    assert taken and not any(taken)
