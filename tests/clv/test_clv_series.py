"""The summaries a CLV series is built from equal the engine's one-instant summary.

`clientela.clv.engine.series` computes the (x, t_x, T, m) summary as of each
period's end from one fetch of purchase days; `fetch_summary` runs the query
for one instant. The metric relies on the two being identical, array for array
and customer for customer, so a fit sees the same input either way. The series'
fits are warm-started from the previous period's, so the series equals the
period-by-period answer (cold fits) to the tolerance `warm_vs_cold` states.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest
from clv_store_support import CDNOW_CALIBRATION_END, context, warm_vs_cold

from clientela.clv.engine.series import aligned, fetch_purchase_days, summaries
from clientela.clv.engine.summary import CustomerSummary, fetch_summary
from clientela.demo import generate, load
from clientela.kpi import compute
from clientela.kpi.periods import buckets, zone
from clientela.store import Store
from clientela.testing.conformance import check_identical, period_by_period


def _same(found: CustomerSummary, expected: CustomerSummary) -> None:
    assert found.customer_id.to_pylist() == expected.customer_id.to_pylist()
    for name in ("frequency", "recency", "age", "monetary"):
        np.testing.assert_array_equal(getattr(found.summary, name),
                                      getattr(expected.summary, name), err_msg=name)
    # a series groups its customers from the whole days it counted (no float checks);
    # the one-instant summary groups its floats: the same rows, weights and groups
    assert found.whole_days is not None and expected.whole_days is None
    (grouped, inverse), (expected_grouped, expected_inverse) = found.distinct, expected.distinct
    assert found.whole_days is None  # dropped once grouped
    np.testing.assert_array_equal(inverse, expected_inverse)
    for name in ("frequency", "recency", "age", "weights"):
        np.testing.assert_array_equal(getattr(grouped, name), getattr(expected_grouped, name),
                                      err_msg=name)


@pytest.mark.parametrize("timezone", ["UTC", "America/Sao_Paulo", "America/New_York"])
def test_series_summaries_equal_one_instant_summaries(clientela_golden_store: Store,
                                                     timezone: str) -> None:
    periods = buckets(datetime(2024, 1, 1), datetime(2025, 7, 1), "quarter", zone(timezone))
    ends = [p.end_utc for p in periods]
    ctx = context(clientela_golden_store, ends[-1], timezone)
    history = fetch_purchase_days(ctx, until=ends[-1])
    found = list(summaries(history, ends, timezone))
    assert len(found) == len(ends)
    assert [len(s) for s in found] == sorted(len(s) for s in found)  # customers only join
    assert len(found[0]) > 0
    for end, summary in zip(ends, found, strict=True):
        _same(summary, fetch_summary(context(clientela_golden_store, end, timezone),
                                     calibration_end=end))


def test_weekly_units_and_cdnow(cdnow_store: Store) -> None:
    ends = [datetime(1997, 4, 1), CDNOW_CALIBRATION_END]
    history = fetch_purchase_days(context(cdnow_store, ends[-1]), until=ends[-1])
    found = list(summaries(history, ends, "UTC", unit="weeks"))
    for end, summary in zip(ends, found, strict=True):
        _same(summary, fetch_summary(context(cdnow_store, end), calibration_end=end,
                                     unit="weeks"))
    assert len(found[-1]) == 2357
    assert found[-1].summary.frequency.sum() == 2457.0


def test_alignment_is_local_midnights() -> None:
    tz = zone("America/Sao_Paulo")
    assert aligned(buckets(datetime(2025, 1, 1), datetime(2025, 4, 1), "month", tz))
    assert not aligned(buckets(datetime(2025, 1, 1, 12), datetime(2025, 4, 1), "month", tz))


CLV_METRICS = ["clv_predicted", "p_alive"]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A small demo store, with enough repeat buyers for a fit at every month's end from 2024
    on, and the demo generator's shapes rather than the golden store's hand-set edges."""
    with Store(tmp_path_factory.mktemp("clv-series") / "demo.duckdb") as store:
        load(store, generate(customers=1_500, orders=8_000, seed=3))
        yield store


@pytest.mark.parametrize(("grain", "start", "end", "by"), [
    ("month", "2024-07", "2025-07", None),
    ("quarter", "2024-01", "2025-07", "segment"),
    ("month", "2025-01", "2025-07", "acquisition_channel"),
    ("week", "2025-03-05", "2025-04-20", None),  # clipped weeks: asked period by period
])
def test_clv_series_equals_period_by_period(demo_store: Store, grain: str,
                                            start: str, end: str, by: str | None) -> None:
    kw: dict[str, object] = dict(start=start, end=end, grain=grain, by=by,
                                 timezone="America/Sao_Paulo")
    series = compute(demo_store, CLV_METRICS, **kw)
    one_by_one = compute(demo_store, period_by_period(CLV_METRICS), **kw)
    warm_vs_cold(series, one_by_one)
    frame = series.to_pandas()
    assert frame.period.nunique() > 2
    values = frame[frame.measure == "value"]
    assert values.value.notnull().all()
    # every period has its own fit: the parameters move as customers join
    r = frame[(frame.metric == "clv_predicted") & (frame.measure == "bgnbd_r")]
    assert r.value.nunique() > 1


def test_paretonbd_series_reports_its_own_parameters(demo_store: Store) -> None:
    """Pareto/NBD is never warm-started (its finite-difference gradient leaves the maximum
    uncertain at 1e-5): its series is identical to cold fits."""
    kw: dict[str, object] = dict(start="2025-01", end="2025-04", grain="month",
                                 params={"p_alive": {"model": "paretonbd"}})
    series = compute(demo_store, ["p_alive"], **kw)
    one_by_one = compute(demo_store, period_by_period(["p_alive"]), **kw)
    check_identical({"series": series, "one period at a time": one_by_one})
    measures = set(series.to_pandas().measure)
    assert {"paretonbd_s", "paretonbd_beta"} <= measures and "bgnbd_a" not in measures
