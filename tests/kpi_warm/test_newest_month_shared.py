"""The warm call after one new day answers the newest month alone, from the carried state:
its point-in-time metrics read the same customer rows, so each table they share is built
once (repeat, lapsed, frequency and recency's counts per day of recency, and the totals
summed from them; retention and churn's counts, whose base is the state's customers
active in the month before; interpurchase and return
probability's new orders with their previous one), and win-back's history as of the
month's start is the state itself, read in place. The answers are the cold ones, asked
together or each alone."""

from __future__ import annotations

from datetime import datetime

import pytest
from _warm_fixtures import POINT_IN_TIME, SPAN, Editor, RecordingCache

from clientela.kpi import compute, warm
from clientela.store import Store

DECEMBER = datetime(2024, 12, 1, 3)
"""The newest period's start (Sao Paulo), naive UTC: the state is kept as of it."""
NAMES = [*POINT_IN_TIME, "churn_rate", "avg_frequency", "interpurchase_days",
         "return_probability"]


@pytest.fixture
def store(recording_store: Store) -> Store:
    return recording_store


def test_one_new_day_builds_each_shared_point_in_time_table_once(store: Store) -> None:
    compute(store, NAMES, reuse=True, **SPAN)
    Editor(store).new(0, 714, 5000)  # c0, 2024-12-16: the newest period
    RecordingCache.made = []
    hot = compute(store, NAMES, reuse=True, **SPAN).rows()
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in NAMES}
    written: dict[str, int] = {}
    for cache in RecordingCache.made:
        for key, times in cache.written.items():
            written[key] = written.get(key, 0) + times
    prefixes = {key.split("|")[0] for key in written}
    assert {"history_days", "history_totals", "retention",
            "previous_since_state"} <= prefixes
    assert all(times == 1 for times in written.values())
    # the history as of the state's own instant is the state: never aggregated or copied
    assert f"history|{DECEMBER.isoformat()}" not in written
    assert hot == compute(store, NAMES, **SPAN).rows()


@pytest.mark.parametrize("by", [None, "acquisition_channel"])
def test_each_metric_alone_answers_its_newest_month_as_cold(store: Store, by: str | None
                                                            ) -> None:
    """A call asking one of them alone reads the tables the others share inside its own
    query: the same answer as the call asking all of them, and as the cold one."""
    compute(store, NAMES, by=by, reuse=True, **SPAN)
    Editor(store).new(0, 714, 5000)  # c0, 2024-12-16: the newest period
    for name in NAMES:
        hot = compute(store, [name], by=by, reuse=True, **SPAN).rows()
        assert warm.last_report.computed == {name: ["2024-12"]}
        assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
        assert hot == compute(store, [name], by=by, **SPAN).rows(), name
