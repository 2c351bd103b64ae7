"""A series metric's one-query answer equals its answers asked one period at a time.

The engine asks a metric declared `series` once for a whole series; these tests
run the whole catalogue both ways on the golden store (every grain that cuts
it into several periods, sliced and not) and insist on identical tables.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from clientela.kpi import compute
from clientela.kpi.errors import KpiError
from clientela.metrics.api import Metric
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period

TZ = "America/Sao_Paulo"


def _both(store: Store, metrics: dict[str, Metric], names: list[str], **kw: object) -> None:
    series = compute(store, names, catalog=metrics, timezone=TZ, **kw)
    one_by_one = compute(store, period_by_period(names, metrics), timezone=TZ, **kw)
    check_identical({"series": series, "one period at a time": one_by_one})
    assert len(series) > 0


def test_some_builtins_answer_as_series(metrics: dict[str, Metric]) -> None:
    declared = {name for name, m in metrics.items() if m.series}
    assert {"orders", "revenue", "aov", "active_customers", "new_customers",
            "channel_mix"} <= declared
    assert "clv_predicted" not in declared  # a model fitted per period stays period by period


@pytest.mark.parametrize(("grain", "start", "end"), [
    ("month", "2024-01", "2025-07"),
    ("week", "2025-03-01", "2025-05-15"),  # clipped first and last weeks
    ("quarter", "2024-02-15", "2025-06"),
])
def test_series_equals_period_by_period(clientela_golden_store: Store,
                                        metrics: dict[str, Metric], grain: str, start: str,
                                        end: str) -> None:
    names = [name for name, m in metrics.items() if m.series]
    _both(clientela_golden_store, metrics, names, start=start, end=end, grain=grain)


@pytest.mark.parametrize("by", ["channel", "store_id", "acquisition_channel", "segment"])
def test_sliced_series_equals_period_by_period(clientela_golden_store: Store,
                                               metrics: dict[str, Metric], by: str) -> None:
    names = [name for name, m in metrics.items() if m.series and by in m.slices]
    _both(clientela_golden_store, metrics, names, start="2024-07", end="2025-07",
          grain="month", by=by)


def test_empty_periods_get_their_one_period_answer(clientela_golden_store: Store,
                                                   metrics: dict[str, Metric]) -> None:
    """Months after the data ends have no rows in the series query: a count is 0 there and a
    ratio is null, exactly as when each month is asked alone."""
    result = compute(clientela_golden_store, ["orders", "aov"], catalog=metrics,
                     start="2030-01", end="2030-03", grain="month", timezone=TZ)
    assert result.value("orders", period="2030-02") == 0
    assert result.value("aov", period="2030-02") is None


def test_a_series_metric_without_the_period_column_is_reported(
        clientela_golden_store: Store, metrics: dict[str, Metric]) -> None:
    def ungrouped(ctx, params):  # type: ignore[no-untyped-def]
        from clientela.kpi import conventions as cv
        orders = cv.valid_orders(ctx, since=ctx.start, until=ctx.end)
        return orders.aggregate(value=orders.count())

    broken = replace(metrics["orders"], name="broken_orders", compute=ungrouped)
    with pytest.raises(KpiError, match="declared series but its answer has no '_period'"):
        compute(clientela_golden_store, [broken], start="2025-01", end="2025-04",
                grain="month", timezone=TZ)


def test_a_fixed_as_of_is_answered_period_by_period(clientela_golden_store: Store,
                                                    metrics: dict[str, Metric]) -> None:
    """With one as-of instant for every period, the point-in-time metrics cannot answer as a
    series (SeriesUnsupported), and the engine falls back without changing the answer."""
    names = ["recency_days", "rfm_segments", "ltv_historical", "repeat_rate", "revenue"]
    _both(clientela_golden_store, metrics, names, start="2024-10", end="2025-04",
          grain="month", as_of="2025-06-15")
    result = compute(clientela_golden_store, ["recency_days"], catalog=metrics,
                     start="2024-10", end="2025-01", grain="month", timezone=TZ,
                     as_of="2025-06-15")
    values = {result.value("recency_days", period=p) for p in ("2024-10", "2024-11", "2024-12")}
    assert len(values) == 1  # the same instant, so the same customers and days
