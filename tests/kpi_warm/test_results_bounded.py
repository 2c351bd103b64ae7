"""`kpi_results` is bounded: a metric's answers of another catalogue version go, and of an
answer kept per series start (campaign ROI, the CLV metrics) only the KEEP_SERIES_STARTS
starts used last stay (`clientela.kpi.warm._bound`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from _warm_fixtures import SPAN, build
from test_campaign_roi_warm import roi_store

from clientela.kpi import compute, warm
from clientela.metrics import sales
from clientela.store import Store
from clientela.store.touched import RESULTS_TABLE

STARTS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
"""Five series starts of campaign ROI, each to 2025-01: 12, 11, 10, 9 and 8 months."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = roi_store(tmp_path / "bounded.duckdb")
    yield opened
    opened.close()


def roi(store: Store, start: str) -> list[str]:
    """Campaign ROI from `start` to SPAN's end, warm; the periods it computed."""
    compute(store, ["campaign_roi"], reuse=True, **{**SPAN, "start": start})
    return warm.last_report.computed.get("campaign_roi", [])


def kept_rows(store: Store, metric: str) -> int:
    return store.con.execute(f"SELECT count(*) FROM {RESULTS_TABLE} WHERE metric = ?",
                             [metric]).fetchone()[0]


def test_only_the_series_starts_used_last_are_kept(store: Store) -> None:
    assert warm.KEEP_SERIES_STARTS == 4
    for start in STARTS[:4]:
        roi(store, start)
    assert kept_rows(store, "campaign_roi") == 12 + 11 + 10 + 9
    assert roi(store, STARTS[0]) == []  # reused whole, and so used last but one
    assert len(roi(store, STARTS[4])) == 8  # a fifth start: the one used longest ago goes
    assert kept_rows(store, "campaign_roi") == 12 + 10 + 9 + 8
    assert roi(store, STARTS[0]) == []
    assert len(roi(store, STARTS[1])) == 11  # the one that went is computed afresh
    assert kept_rows(store, "campaign_roi") == 12 + 11 + 9 + 8
    series = {**SPAN, "start": STARTS[1]}
    assert compute(store, ["campaign_roi"], reuse=True, **series).rows() == \
        compute(store, ["campaign_roi"], **series).rows()


def test_answers_not_kept_per_series_start_are_never_trimmed(store: Store) -> None:
    for start in STARTS:
        compute(store, ["revenue"], reuse=True, **{**SPAN, "start": start})
    assert kept_rows(store, "revenue") == 12
    compute(store, ["revenue"], reuse=True, **SPAN)
    assert warm.last_report.computed == {}


def test_a_metric_redefined_drops_its_answers_of_the_old_version(tmp_path: Path) -> None:
    """A metric asked under another definition (as after an upgrade of clientela or of a
    plugin) keeps only the answers of the definition asked last; other metrics keep theirs."""
    revenue = next(m for m in sales.metrics() if m.name == "revenue")
    changed = replace(revenue, measures=("value", "extra"))
    with build(tmp_path / "versions.duckdb") as opened:
        compute(opened, ["revenue", "orders"], reuse=True, **SPAN)
        compute(opened, [changed], reuse=True, **SPAN)
        versions = opened.con.execute(
            f"SELECT metric, count(DISTINCT catalogue_version), count(*) FROM {RESULTS_TABLE} "
            "GROUP BY metric ORDER BY metric").fetchall()
        assert versions == [("orders", 1, 12), ("revenue", 1, 12)]
        assert opened.con.execute(
            f"SELECT DISTINCT catalogue_version FROM {RESULTS_TABLE} WHERE metric = 'revenue'"
        ).fetchall() == [(warm.catalogue_version(changed),)]
