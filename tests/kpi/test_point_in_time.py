"""The point-in-time aggregates of a series added up from the customers' ordering periods
(`clientela.kpi.point_in_time`) equal their definitions over the customer x period history,
kept here as reference metrics (the code they replaced): repeat_rate, lapsed_customers,
avg_frequency, recency_days and winback_rate, sliced and not, as a series and one period at
a time, with lapse windows short and long (so thresholds fall inside and across periods),
in a zone with daylight saving (local days and thresholds cross offset changes) and in
the golden store's own (its orders include cancellations and refunds)."""

from __future__ import annotations

from dataclasses import replace

import ibis
import pytest
from test_history_one_scan import recency_over_customers

from clientela.kpi import compute
from clientela.kpi import conventions as cv
from clientela.kpi.context import PERIOD_COLUMN
from clientela.kpi.result import KpiResult
from clientela.metrics import retention as metrics_module
from clientela.metrics.api import Metric
from clientela.metrics.retention import LapseParams
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period, run_everywhere
from clientela.testing.engines import (
    PostgresServer,
    engines,
    postgres_backend,
    spark_available,
    store_tables,
)


def winback_over_customers(ctx, params):  # type: ignore[no-untyped-def]
    """winback_rate as it was: the histories as of each period's start, the lapsed among
    them joined to the customers' orders of the period."""
    keys = [PERIOD_COLUMN] if ctx.periods else []
    h = cv.history_at(ctx, at="start")
    lapsed = h.filter(h.last_at < h.at - ibis.interval(days=params.lapse_days))
    lapsed = cv.with_slice(ctx, lapsed.select("customer_id", *keys))
    o = cv.period_orders(ctx.unsliced())
    back = o.group_by(_cid=o.customer_id, **{f"_{k}": o[k] for k in keys}
                      ).aggregate(_revenue=o.revenue.sum())
    joined = lapsed.left_join(back, [lapsed.customer_id == back._cid,
                                     *(lapsed[k] == back[f"_{k}"] for k in keys)])
    won = cv.indicator(joined._cid.notnull()).sum()
    return cv.summarize(
        joined, ctx, value=cv.ratio(won, joined.count()), winback_customers=won.coalesce(0),
        winback_revenue=cv.money_sum(joined._revenue), lapsed_at_start=joined.count())


def return_over_customers(ctx, params):  # type: ignore[no-untyped-def]
    """return_probability as a series as it was: the open gaps from every customer x
    period row of the history."""
    from clientela.metrics.retention import _months, _neighbours, _return_table

    if not ctx.periods:
        return metrics_module.return_probability(ctx, params)
    periods = ctx.periods
    slices = [k for k in ctx.keys if k != PERIOD_COLUMN]
    o = _neighbours(ctx, ctx.end)
    o = o.filter(o.next_at.notnull())
    months = _months(o.placed_at, o.next_at, params)
    closed = cv.with_slice(ctx, o.select(
        "customer_id", _k=cv.bucket_index(o.next_at, [p.start_utc for p in periods]),
        reach=ibis.least(months, params.max_months),
        _r=cv.indicator(months <= params.max_months)))
    per = closed.group_by([*slices, "reach", "_k"]).aggregate(
        _c=closed.count(), _s=closed._r.sum())
    closed = cv.at_each_end(ctx, per, [*slices, "reach"],
                            _n=lambda w: per._c.sum().over(w),
                            _ret=lambda w: per._s.sum().over(w))
    h = cv.with_slice(ctx, cv.history_at(ctx))
    gaps = h.select(*ctx.keys,
                    reach=ibis.least(_months(h.last_at, h.at, params) - 1, params.max_months))
    gaps = gaps.filter(gaps.reach >= 0)
    opened = gaps.group_by([*ctx.keys, "reach"]).aggregate(
        _n=gaps.count(), _ret=ibis.literal(0, type="int64"))
    episodes = ibis.union(closed.select(*ctx.keys, "reach", "_n", "_ret"),
                          opened.select(*ctx.keys, "reach", "_n", "_ret"), distinct=False)
    return _return_table(episodes, ctx.keys)


def totals_over_customers(ctx, params):  # type: ignore[no-untyped-def]
    """repeat_rate, lapsed_customers and avg_frequency's value from every customer x
    period row of the history, in one aggregate."""
    h = cv.with_slice(ctx, cv.history_at(ctx))
    t = cv.summarize(
        h, ctx, customers=h.count(), repeaters=cv.indicator(h.orders >= 2).sum(),
        lapsed=cv.indicator(h.last_at < h.at - ibis.interval(days=params.lapse_days)).sum(),
        orders=h.orders.sum())
    return t.select(*ctx.keys, value=cv.ratio(t.repeaters, t.customers),
                    repeat_customers=t.repeaters, customers=t.customers,
                    lapsed=t.lapsed.coalesce(0), frequency=cv.ratio(t.orders, t.customers))


def _rows(result: KpiResult, metric: str) -> set:
    by = result.by
    return {(r["period"], r[by] if by else None, r["item"], r["measure"], r["value"])
            for r in result.rows() if r["metric"] == metric}


def _references(metrics: dict[str, Metric]) -> list[Metric]:
    return [
        replace(metrics["winback_rate"], name="winback_reference",
                compute=winback_over_customers),
        replace(metrics["return_probability"], name="return_reference",
                compute=return_over_customers),
        replace(metrics["recency_days"], name="recency_reference",
                compute=recency_over_customers),
        replace(metrics["lapsed_customers"], name="totals_reference",
                compute=totals_over_customers,
                measures=("value", "repeat_customers", "customers", "lapsed", "frequency")),
    ]


def _measure(rows: set, name: str) -> set:
    return {(p, s, i, v) for p, s, i, m, v in rows if m == name}


@pytest.mark.parametrize("lapse_days", [30, 180])
@pytest.mark.parametrize("timezone", ["America/Sao_Paulo", "America/New_York"])
@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_series_equal_the_customer_x_period_definitions(
        clientela_golden_store: Store, metrics: dict[str, Metric], by: str | None,
        timezone: str, lapse_days: int) -> None:
    names: list = ["winback_rate", "repeat_rate", "lapsed_customers", "avg_frequency",
                   "recency_days", "return_probability", *_references(metrics)]
    params = {m: {"lapse_days": lapse_days}
              for m in ("winback_rate", "lapsed_customers", "winback_reference",
                        "totals_reference")}
    # short windows with the short lapse: open gaps cross many month boundaries
    short = {"window_days": 7, "max_months": 6} if lapse_days == 30 else {}
    params |= {"return_probability": short, "return_reference": short}
    found = compute(clientela_golden_store, names, catalog=metrics, start="2024-04",
                    end="2025-07", grain="month", timezone=timezone, by=by, params=params)
    winback = _rows(found, "winback_rate")
    assert {p for p, *_ in winback} >= {"2024-06", "2025-06"}  # lapsed customers to find
    assert any(m == "winback_customers" and v for _, _, _, m, v in winback)  # some came back
    assert winback == _rows(found, "winback_reference")
    assert _rows(found, "recency_days") == _rows(found, "recency_reference")
    returns = _rows(found, "return_probability")
    assert any(m == "at_risk" and v for *_, m, v in returns)
    assert returns == _rows(found, "return_reference")
    totals = _rows(found, "totals_reference")
    assert _rows(found, "repeat_rate") == {
        r for r in totals if r[3] in ("value", "repeat_customers", "customers")}
    assert _measure(_rows(found, "lapsed_customers"), "value") == _measure(totals, "lapsed")
    assert {r for r in _measure(_rows(found, "avg_frequency"), "value") if r[2] is None} \
        == _measure(totals, "frequency")


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_series_equal_one_period_at_a_time(clientela_golden_store: Store,
                                           metrics: dict[str, Metric], by: str | None) -> None:
    """One period at a time the engine takes the single-period definitions (no ordering
    periods to add up): the series must give the same rows."""
    names = ["winback_rate", "repeat_rate", "lapsed_customers", "avg_frequency",
             "recency_days", "return_probability"]
    kwargs = {"start": "2024-04", "end": "2025-07", "grain": "month",
              "timezone": "America/New_York", "by": by,
              "params": {"winback_rate": {"lapse_days": 45}}}
    series = compute(clientela_golden_store, names, catalog=metrics, **kwargs)
    single = compute(clientela_golden_store, period_by_period(names, metrics),
                     catalog=metrics, **kwargs)
    for name in names:
        assert _rows(series, name) == _rows(single, name), name
    assert LapseParams().lapse_days == 180  # the default the shared tables are keyed by


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not spark_available(), reason="pyspark or java missing")
def test_identical_on_duckdb_pyspark_and_postgres(clientela_golden_store: Store,
                                                  metrics: dict[str, Metric],
                                                  postgres_server: PostgresServer) -> None:
    """The ordering-period sums (lags, ranges unnested, binary searches of thresholds) give
    the same rows on every engine, sliced, with a short lapse window."""
    tables = store_tables(clientela_golden_store)
    backends = [*engines(tables, spark=True),
                ("postgres", postgres_backend(tables, postgres_server))]
    names = ["winback_rate", "repeat_rate", "lapsed_customers", "avg_frequency",
             "recency_days", "return_probability"]
    results = run_everywhere(
        backends, names, catalog=metrics, start="2024-04", end="2025-07", grain="month",
        timezone="America/New_York", by="acquisition_channel",
        params={"winback_rate": {"lapse_days": 30}, "lapsed_customers": {"lapse_days": 30},
                "return_probability": {"window_days": 7, "max_months": 6}})
    check_identical(results)
    assert _rows(results["duckdb"], "winback_rate")
