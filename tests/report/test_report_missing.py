"""A store without a loyalty programme, NPS answers or marketing spend: those metrics are
listed as having no data, never shown as zeros."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from _report_page import read_page

from clientela.kpi import MissingDataError, compute
from clientela.plugins import registry
from clientela.report import ReportRequest, build_report
from clientela.store import Store

EMPTIED = {"loyalty_events": "loyalty", "nps_responses": "nps", "marketing_spend": "cac"}


@pytest.fixture(scope="module")
def store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clientela.demo import generate, load

    path = tmp_path_factory.mktemp("missing") / "store.duckdb"
    with Store(path) as store:
        load(store, generate(customers=300, orders=1_500, seed=5, years=1))
        for table in EMPTIED:
            store.con.execute(f"DELETE FROM {table}")
    return path


def test_metrics_without_data_are_listed_as_such(store_file: Path) -> None:
    with Store(store_file, read_only=True) as store:
        report = build_report(store, ReportRequest(
            start="2025-11", end="2026-01", generated_at=datetime(2026, 1, 1, tzinfo=UTC)))
        expected = {}
        for metric in registry().metrics.values():
            try:
                compute(store, [metric.name], start="2025-12", end="2026-01")
            except MissingDataError as error:
                expected[metric.name] = error.table
    assert {"loyalty_scored_share", "nps", "cac", "ltv_cac_ratio"} <= set(expected)
    page = read_page(report.html)
    missing = {row.metric: row for row in page.rows if row.missing}
    assert set(missing) == set(expected)
    for name, row in missing.items():
        assert row.cells == {}
        assert row.note == f"No data in this store: needs the {expected[name]} table"
    assert all(not row.missing for row in page.rows if row.metric == "revenue")
    listed = report.html.split('id="missing">', 1)[1].split("</p>", 1)[0]
    assert registry().metrics["nps"].title in listed
    assert "shown in the chart Loyalty" not in report.html
    assert 'id="chart-loyalty"' not in report.html  # no panel drawn from no data
