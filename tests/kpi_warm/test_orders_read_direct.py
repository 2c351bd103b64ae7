"""A warm call that starts at the carried state's instant (one new day: the newest period
alone) reads the valid orders straight from the store table instead of writing every valid
order out first (`clientela.kpi.carried.reads_orders_direct`); a call starting earlier (a
refund on an old order) still writes them out. The answers are the cold ones either way."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from _warm_fixtures import METRICS, SPAN, Editor, RecordingCache

from clientela.kpi import carried, compute, warm
from clientela.kpi.carried import Carried, carrying
from clientela.kpi.retail import MANY_METRICS
from clientela.store import Store
from clientela.store.touched import STATES_TABLE

NOVEMBER, DECEMBER = datetime(2024, 11, 1, 3), datetime(2024, 12, 1, 3)
"""The last two periods' starts (Sao Paulo), naive UTC: the state is kept as of December's."""


def written(call: Any) -> tuple[set[str], list[dict[str, Any]]]:
    """The shared tables the engine calls inside `call()` wrote out (key without its
    instant), and the call's answer rows."""
    RecordingCache.made = []
    rows = call().rows()
    tables = {key.split("|")[0] for cache in RecordingCache.made for key in cache.written}
    return tables, rows


@pytest.fixture
def store(recording_store: Store) -> Store:
    return recording_store


def warm_call(store: Store) -> Any:
    return compute(store, METRICS, reuse=True, **SPAN)


def test_the_catalogue_is_many_metrics() -> None:
    # below MANY_METRICS the engine reads the store table directly anyway
    assert len(METRICS) >= MANY_METRICS


def test_one_new_day_reads_the_orders_directly(store: Store) -> None:
    first, _ = written(lambda: warm_call(store))
    assert "valid_orders" in first  # twelve months from January: no state to start from
    Editor(store).new(0, 714, 5000)  # c0, 2024-12-16: the newest period
    tables, hot = written(lambda: warm_call(store))
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in METRICS}
    assert "valid_orders" not in tables
    assert hot == compute(store, METRICS, **SPAN).rows()


def test_switched_off_the_orders_are_written_out_as_before(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    warm_call(store)
    monkeypatch.setattr(carried, "READ_ORDERS_DIRECT", False)
    Editor(store).new(0, 714, 5000)
    tables, hot = written(lambda: warm_call(store))
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert "valid_orders" in tables
    assert hot == compute(store, METRICS, **SPAN).rows()


def test_a_call_starting_before_the_state_writes_them_out(store: Store) -> None:
    """A call that starts before the state's instant reads orders the state does not hold
    (a refund on an old order recomputes from its month on): the valid orders are written
    out, as in a cold catalogue. Its answers are the cold ones either way."""
    warm_call(store)
    key = store.con.execute(f"SELECT state_key FROM {STATES_TABLE}").fetchone()[0]
    state = Carried(store.ibis(), key, DECEMBER, False)
    span = {**SPAN, "start": "2024-11"}
    cold = compute(store, METRICS, **span).rows()
    for start, direct in ((NOVEMBER, False), (DECEMBER, True), (None, False)):
        with carrying(replace(state, call_start=start)):
            tables, rows = written(lambda: compute(store, METRICS, **span))
        assert ("valid_orders" not in tables) is direct, start
        assert rows == cold
