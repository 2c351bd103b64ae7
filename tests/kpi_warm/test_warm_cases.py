"""Hand cases of the warm cache: which periods each kind of write sends back to the engine,
and when a call is answered cold."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from _warm_fixtures import (
    BASE_ORDERS,
    METRICS,
    PERIOD_LOCAL,
    POINT_IN_TIME,
    SPAN,
    Editor,
    build,
    customer,
    order,
)

from clientela.cli.app import main
from clientela.kpi import compute, warm
from clientela.metrics import sales
from clientela.store import Store
from clientela.store.touched import RESULTS_TABLE, TOUCHES_TABLE

MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
DECEMBER_DAY = 714
"""DAY0 + 714 days is 2024-12-15 (UTC afternoon, December in Sao Paulo too)."""
MARCH_DAY = 440
"""DAY0 + 440 days is 2024-03-16."""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with every period of METRICS kept, built once and copied for each test."""
    path = tmp_path_factory.mktemp("warm") / "template.duckdb"
    with build(path) as opened:
        compute(opened, METRICS, reuse=True, **SPAN)
        assert warm.last_report.computed == {m: MONTHS for m in METRICS}
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Store:
    shutil.copy(template, tmp_path / "warm.duckdb")
    opened = Store(tmp_path / "warm.duckdb")
    yield opened
    opened.close()


def recomputed() -> dict[str, list[str]]:
    return warm.last_report.computed


def same_as_cold(store: Store, by: str | None = None) -> None:
    hot = compute(store, METRICS, by=by, reuse=True, **SPAN)
    assert hot.rows() == compute(store, METRICS, by=by, **SPAN).rows()


def test_nothing_written_everything_reused(store: Store) -> None:
    again = compute(store, METRICS, reuse=True, **SPAN)
    assert recomputed() == {}
    assert warm.last_report.reused == {m: MONTHS for m in METRICS}
    assert again.rows() == compute(store, METRICS, **SPAN).rows()


def test_one_new_day_recomputes_only_the_newest_period(store: Store) -> None:
    Editor(store).new(0, DECEMBER_DAY, 5000)
    answer = compute(store, METRICS, reuse=True, **SPAN)
    assert recomputed() == {m: ["2024-12"] for m in METRICS}
    assert answer.value("revenue", period="2024-12") == pytest.approx(
        50 + sum(c for _, d, c in BASE_ORDERS if 700 <= d < 731) / 100)
    same_as_cold(store)


def test_a_refund_on_an_old_order_recomputes_its_month_and_every_later_history(
        store: Store) -> None:
    editor = Editor(store)
    editor.new(1, MARCH_DAY, 12_345)
    compute(store, METRICS, reuse=True, **SPAN)  # March onwards, once
    editor.refund([o.order_id for o in editor.orders()].index("n1"), 0.5)  # March 2024
    compute(store, METRICS, reuse=True, **SPAN)
    assert {m: recomputed()[m] for m in PERIOD_LOCAL} == {m: ["2024-03"] for m in PERIOD_LOCAL}
    assert {m: recomputed()[m] for m in POINT_IN_TIME} == {
        m: MONTHS[2:] for m in POINT_IN_TIME}
    same_as_cold(store)


def test_a_refund_before_the_window_recomputes_only_point_in_time_metrics(store: Store) -> None:
    editor = Editor(store)
    editor.refund([o.order_id for o in editor.orders()].index("o0"), 0.25)  # January 2023
    compute(store, METRICS, reuse=True, **SPAN)
    assert set(recomputed()) == set(POINT_IN_TIME)
    assert all(recomputed()[m] == MONTHS for m in POINT_IN_TIME)
    same_as_cold(store)


def test_an_order_moved_touches_both_its_months(store: Store) -> None:
    editor = Editor(store)
    editor.move([o.order_id for o in editor.orders()].index("o12"), 714)
    compute(store, ["revenue"], reuse=True, **SPAN)
    assert recomputed() == {"revenue": ["2024-03", "2024-12"]}  # o12: 2024-03-21 -> December
    same_as_cold(store)


def test_a_customer_change_recomputes_only_answers_that_read_customers(store: Store) -> None:
    compute(store, ["revenue"], by="acquisition_channel", reuse=True, **SPAN)
    store.upsert([customer(0, "referral")])
    compute(store, ["revenue"], reuse=True, **SPAN)
    assert recomputed() == {}
    compute(store, ["revenue"], by="acquisition_channel", reuse=True, **SPAN)
    assert recomputed() == {"revenue": MONTHS}
    same_as_cold(store, by="acquisition_channel")


def test_forget_recomputes_what_reads_customers(store: Store) -> None:
    compute(store, ["revenue"], by="acquisition_channel", reuse=True, **SPAN)
    Editor(store).forget(2)
    compute(store, ["revenue"], by="acquisition_channel", reuse=True, **SPAN)
    assert recomputed() == {"revenue": MONTHS}


def test_an_identity_merge_recomputes_everything(store: Store) -> None:
    Editor(store).merge(1, 0)
    compute(store, ["revenue", "repeat_rate"], reuse=True, **SPAN)
    assert recomputed() == {"revenue": MONTHS, "repeat_rate": MONTHS}
    compute(store, ["revenue"], reuse=True, **SPAN)
    assert recomputed() == {}


def test_a_changed_metric_is_not_reused(store: Store) -> None:
    revenue = next(m for m in sales.metrics() if m.name == "revenue")
    changed = replace(revenue, measures=("value", "extra"))
    assert warm.catalogue_version(changed) != warm.catalogue_version(revenue)
    compute(store, [changed], reuse=True, **SPAN)
    assert recomputed() == {"revenue": MONTHS}


def test_the_catalogue_version_remembered_per_process_still_sees_a_changed_metric(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The version is worked out once per process, yet a metric given another compute
    function, or a new clientela, still gets a new one (and the same metric the same)."""
    import clientela

    revenue = next(m for m in sales.metrics() if m.name == "revenue")
    version = warm.catalogue_version(revenue)
    assert warm.catalogue_version(replace(revenue)) == version

    def other(ctx: Any, params: Any) -> Any:
        return revenue.compute(ctx, params)

    assert warm.catalogue_version(replace(revenue, compute=other)) != version
    monkeypatch.setattr(clientela, "__version__", "99.0")
    assert warm.catalogue_version(revenue) != version
    monkeypatch.undo()
    assert warm.catalogue_version(revenue) == version


def test_parameters_grain_and_zone_are_part_of_the_key(store: Store) -> None:
    compute(store, ["lapsed_customers"], params={"lapsed_customers": {"lapse_days": 90}},
            reuse=True, **SPAN)
    assert recomputed() == {"lapsed_customers": MONTHS}
    compute(store, ["revenue"], reuse=True, **{**SPAN, "timezone": "UTC"})
    assert recomputed() == {"revenue": MONTHS}
    compute(store, ["revenue"], reuse=True, **{**SPAN, "grain": "quarter"})
    assert recomputed() == {"revenue": ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]}


def test_the_touch_log_is_trimmed_once_read(store: Store) -> None:
    Editor(store).new(0, DECEMBER_DAY, 5000)
    assert store.count(TOUCHES_TABLE) == 1
    compute(store, ["revenue"], reuse=True, **SPAN)
    assert store.count(TOUCHES_TABLE) == 0


def test_an_upsert_that_changes_nothing_logs_nothing(store: Store) -> None:
    store.upsert([order("o3", *BASE_ORDERS[3])])
    assert store.count(TOUCHES_TABLE) == 0


def test_cold_when_there_is_no_store_to_keep_answers_in(store: Store, tmp_path: Path) -> None:
    backend = store.ibis()
    answer = compute(backend, ["revenue"], reuse=True, **SPAN)
    assert warm.last_report.cold == "not a clientela store"
    assert answer.rows() == compute(store, ["revenue"], **SPAN).rows()
    compute(store, ["revenue"], by="segment", reuse=True, **SPAN)
    assert warm.last_report.cold == "the segment slice"


def test_a_read_only_store_is_answered_cold(store: Store) -> None:
    path = store.path
    store.close()
    with Store(path, read_only=True) as reading:
        answer = compute(reading, ["revenue"], reuse=True, **SPAN)
        assert warm.last_report.cold is not None
        assert answer.rows() == compute(reading, ["revenue"], **SPAN).rows()


def test_cli_keeps_answers_and_cold_skips_them(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.duckdb"
    build(path).close()
    args = ["--store", str(path), "kpi", "revenue", "--grain", "month", "--from", "2024-01",
            "--to", "2024-04", "--format", "json"]
    assert main([*args, "--cold"]) == 0
    cold = json.loads(capsys.readouterr().out)
    with Store(path) as opened:
        assert opened.count(RESULTS_TABLE) == 0
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == cold
    with Store(path) as opened:
        assert opened.count(RESULTS_TABLE) == 3
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == cold
    assert warm.last_report.reused == {"revenue": ["2024-01", "2024-02", "2024-03"]}
