"""Campaign ROI's credits kept per day (`clientela.kpi.campaign_credits`): a warm call
credits afresh only the days a write can change, and the rest of the kept table is what a
cold join of every contact with its orders gives.

The store is the one of test_campaign_roi_warm.py: one-day campaigns `march`, `june`,
`nov` and `early` (whose contact on 2024-08-20 precedes its start), order r1 (40.00 on
2024-08-22, credited to `early`) and the base orders of the warm tests' store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from _warm_fixtures import SPAN
from test_campaign_roi_warm import ROI, order, roi_store, touch

from clientela.kpi import compute, warm
from clientela.kpi.campaign_credits import (
    CREDITS_TABLE,
    DIRTY_TABLE,
    MAX_WINDOWS,
    STATES_TABLE,
    build_spans,
    days_to_redo,
)
from clientela.store import Store
from clientela.store.touched import record_everything

WEEK = timedelta(days=7)


def kept(store: Store) -> dict[tuple[str, str], Decimal]:
    """The kept credits, (day, campaign) -> revenue."""
    rows = store.con.execute(f"SELECT day, campaign_id, revenue FROM {CREDITS_TABLE}").fetchall()
    return {(day.date().isoformat(), cid): revenue for day, cid, revenue in rows}


def warm_equals_cold(store: Store) -> str | None:
    """How the warm call got its credits, after checking its answer against a cold one."""
    hot = compute(store, ROI, reuse=True, **SPAN)
    assert warm.last_report.cold is None
    assert hot.rows() == compute(store, ROI, **SPAN).rows()
    return warm.last_report.credits


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = roi_store(tmp_path / "roi.duckdb")
    assert warm_equals_cold(opened) == "built"
    return opened


def test_the_first_warm_call_keeps_each_days_credits(store: Store) -> None:
    # the base orders (one every 37 days over two years) fall in no contact's window: the
    # only credited order is r1, two days after `early`'s contact
    assert kept(store) == {("2024-08-22", "early"): Decimal("40.00")}
    assert store.con.execute(f"SELECT count(*) FROM {STATES_TABLE}").fetchone() == (1,)


def test_a_new_order_credits_its_days_afresh_and_keeps_the_others(store: Store) -> None:
    store.upsert([order("n1", 0, "2024-03-12", "50.00")])  # c0 contacted on the 10th (march)
    assert warm_equals_cold(store) == "updated for 1 ranges of days"
    assert kept(store) == {("2024-08-22", "early"): Decimal("40.00"),
                           ("2024-03-12", "march"): Decimal("50.00")}
    assert store.con.execute(f"SELECT count(*) FROM {DIRTY_TABLE}").fetchone() == (0,)


def test_only_the_days_a_write_reached_are_credited_afresh(store: Store) -> None:
    """A kept day outside what a write can change is read as kept, not joined again: here a
    kept row changed by hand (which no write path does) survives a write elsewhere."""
    store.con.execute(f"UPDATE {CREDITS_TABLE} SET revenue = 41.00")
    # a new contact of `early` in October: its period (September) is recomputed and the
    # days from October 1st credited afresh; August 22nd is read as kept
    store.upsert([touch("t9", 5, "early", "2024-10-01")])
    rows = compute(store, ROI, reuse=True, **SPAN).rows()
    assert warm.last_report.credits == "updated for 1 ranges of days"
    assert warm.last_report.computed["campaign_roi"] == ["2024-09"]
    assert kept(store)[("2024-08-22", "early")] == Decimal("41.00")
    assert [r["value"] for r in rows if r["item"] == "early" and r["measure"] == "revenue"
            ] == [41.0]
    # a refund on r1 reaches its day: credited afresh from the store, the change undone
    store.upsert([order("r1", 4, "2024-08-22", "40.00").model_copy(
        update={"status": "partially_refunded", "refunded_amount": Decimal("15.00")})])
    assert warm_equals_cold(store) == "updated for 1 ranges of days"
    assert kept(store)[("2024-08-22", "early")] == Decimal("25.00")


def test_a_contact_moved_to_another_campaign_moves_its_credits(store: Store) -> None:
    store.upsert([order("n1", 1, "2024-03-12", "30.00")])  # credited to t2 (march, the 11th)
    warm_equals_cold(store)
    store.upsert([touch("t2", 1, "june", "2024-03-11")])
    assert warm_equals_cold(store) == "updated for 1 ranges of days"
    assert kept(store) == {("2024-08-22", "early"): Decimal("40.00"),
                           ("2024-03-12", "june"): Decimal("30.00")}


def test_a_later_contact_takes_an_orders_credit(store: Store) -> None:
    store.upsert([order("n1", 4, "2024-08-24", "10.00")])  # early's contact, four days before
    warm_equals_cold(store)
    assert kept(store)[("2024-08-24", "early")] == Decimal("10.00")
    store.upsert([touch("t9", 4, "nov", "2024-08-23")])  # between r1 and n1: n1 goes to nov
    assert warm_equals_cold(store) == "updated for 1 ranges of days"
    assert kept(store) == {("2024-08-22", "early"): Decimal("40.00"),
                           ("2024-08-24", "nov"): Decimal("10.00")}


def test_a_series_from_another_start_keeps_credits_of_its_own(store: Store) -> None:
    # from September, early's August contact is not read: r1 is credited to nobody
    september = {**SPAN, "start": "2024-09"}
    hot = compute(store, ROI, reuse=True, **september)
    assert warm.last_report.credits == "built"
    assert hot.rows() == compute(store, ROI, **september).rows()
    assert store.con.execute(f"SELECT count(*) FROM {STATES_TABLE}").fetchone() == (2,)


def test_an_emptied_cache_drops_the_credits(store: Store) -> None:
    store.con.execute("DELETE FROM kpi_results")
    store.upsert([order("n1", 0, "2024-03-12", "50.00")])  # not logged: nothing is kept
    assert warm_equals_cold(store) == "built"


def test_a_source_removed_drops_the_credits(store: Store) -> None:
    store.upsert([order("x1", 0, "2024-03-12", "50.00").model_copy(update={"source": "pos"})])
    assert warm_equals_cold(store) == "updated for 1 ranges of days"
    assert store.remove_source("pos") == 1  # logged without a date: every answer goes
    assert warm_equals_cold(store) == "built"


def test_campaign_and_customer_rows_leave_the_credits_kept(store: Store) -> None:
    from test_campaign_roi_warm import campaign

    store.upsert([campaign("march", "2024-03-10", "12")])  # a new cost
    assert warm_equals_cold(store) == "kept"


def test_an_undated_write_no_credit_reads_leaves_them_kept(store: Store) -> None:
    """A write logged without a date, of an entity no credit reads (a products table, say:
    a credit is an order's own revenue given to its customer's last contact of a campaign),
    keeps the credits; the campaign answers, which it makes stale, are answered from them
    as cold."""
    record_everything(store.con, "products")
    assert warm_equals_cold(store) == "kept"
    assert warm.last_report.computed["campaign_roi"]  # stale, recomputed from the kept sums
    store.upsert([order("n1", 0, "2024-03-12", "50.00")])  # and the next write as ever
    assert warm_equals_cold(store) == "updated for 1 ranges of days"


def at(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour)


def test_credits_built_span_by_span_read_the_contacts_before_each_span(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built from nothing, the credits are written one span of orders at a time: r1 (the
    22nd) is in a span of its own whose contacts start a window earlier, so `early`'s
    contact of the 20th, in the span before, still takes its credit; the other spans
    credit nothing, and the answer is the cold one."""
    from clientela.kpi import campaign_credits

    def spans(last: datetime | None, since: datetime, parts: int = 4
              ) -> list[tuple[datetime, datetime]]:
        return [(since, at("2024-08-21")), (at("2024-08-21"), at("2024-08-22")),
                (at("2024-08-22"), at("2024-08-23")), (at("2024-08-23"), datetime.max)]

    monkeypatch.setattr(campaign_credits, "build_spans", spans)
    opened = roi_store(tmp_path / "roi.duckdb")
    assert warm_equals_cold(opened) == "built"
    assert kept(opened) == {("2024-08-22", "early"): Decimal("40.00")}


def test_build_spans_cut_the_orders_at_midnights_up_to_the_last_one() -> None:
    # 2023-01-01 03:00 (a series' start in UTC-3) to 2023-12-31: 364 days from the first
    # midnight, 91 a span; the last span is open-ended
    assert build_spans(at("2023-12-31", 10), at("2023-01-01", 3)) == [
        (at("2023-01-01", 3), at("2023-04-02")), (at("2023-04-02"), at("2023-07-02")),
        (at("2023-07-02"), at("2023-10-01")), (at("2023-10-01"), datetime.max)]
    # fewer days than spans: the cuts past the last order are dropped
    assert build_spans(at("2023-01-02", 10), at("2023-01-01", 3)) == [
        (at("2023-01-01", 3), at("2023-01-02")), (at("2023-01-02"), datetime.max)]
    # no order (or none from the start on): one span
    assert build_spans(None, at("2023-01-01", 3)) == [(at("2023-01-01", 3), datetime.max)]
    assert build_spans(at("2022-12-01"), at("2023-01-01", 3)) == [
        (at("2023-01-01", 3), datetime.max)]


def test_days_to_redo_runs_from_the_logged_day_to_the_window_after_it() -> None:
    # an order at 15:00 on the 10th: its own day, and (a touch could be at that instant)
    # the orders up to the 17th at 15:00: whole days from the 10th to the 18th
    assert days_to_redo([(at("2024-03-10", 15), at("2024-03-10", 15))], WEEK) == [
        (at("2024-03-10"), at("2024-03-18"))]
    # overlapping ranges merge; a range far away stays apart
    assert days_to_redo([(at("2024-03-10", 1), at("2024-03-10", 2)),
                         (at("2024-03-14", 9), at("2024-03-14", 9)),
                         (at("2024-09-01", 9), at("2024-09-01", 9))], WEEK) == [
        (at("2024-03-10"), at("2024-03-22")), (at("2024-09-01"), at("2024-09-09"))]


def test_days_to_redo_merges_the_closest_ranges_beyond_the_limit() -> None:
    logged = [(at("2024-01-01") + timedelta(days=10 * i),) * 2 for i in range(MAX_WINDOWS)]
    logged.append((at("2024-01-01") + timedelta(days=10 * MAX_WINDOWS - 1),) * 2)
    spans = days_to_redo(logged, timedelta(days=1))
    assert len(spans) == MAX_WINDOWS
    # each range is a logged day and the next; the last two were one day apart: merged
    assert spans[-1] == (at("2024-01-01") + timedelta(days=10 * (MAX_WINDOWS - 1)),
                         at("2024-01-01") + timedelta(days=10 * MAX_WINDOWS + 1))
    assert spans[0] == (at("2024-01-01"), at("2024-01-03"))
