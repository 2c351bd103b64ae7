"""The gaps between orders in a warm call: interpurchase_days takes each new order's previous
order from the carried state (`clientela.kpi.carried.previous_orders`) and
return_probability the gaps closed before it, counted by length (`gap_days`), instead of a
window over every order; the same answers, ties at one instant included."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from _warm_fixtures import SPAN, build, order

from clientela.kpi import carried, compute, warm
from clientela.metrics import retention
from clientela.model import INVALID_ORDER_STATUSES
from clientela.store import Store
from clientela.store.touched import GAPS_TABLE

DECEMBER = datetime(2024, 12, 1, 3)
"""The newest period's start (Sao Paulo), naive UTC: the state's instant."""
METRICS = ["interpurchase_days", "return_probability"]
"""The two readers of each order's previous and next order (one window, cold)."""
JANUARY = datetime(2025, 1, 1, 3)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = build(tmp_path / "warm.duckdb")
    compute(opened, METRICS, reuse=True, **SPAN)
    # o19: c1's order of 2024-12-05 01:00 (day 703), the one base order in December
    opened.upsert([order("n1", 0, 714, 5000),     # c0, 2024-12-16 01:00
                   order("n2", 1, 720, 1200),     # c1, 2024-12-21 20:00
                   order("n3", 1, 720, 1300),     # c1 again, the same instant
                   order("n4", 9, 716, 800)])     # c9: a first order, no gap
    yield opened
    opened.close()


def december(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {row["measure"]: row["value"] for row in rows
            if row["metric"] == "interpurchase_days" and row["period"] == "2024-12"}


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The metrics that asked for the window over every order, in order."""
    used: list[str] = []
    neighbours = retention._neighbours

    def spy(ctx: Any, until: datetime) -> Any:
        used.append(ctx.metric)
        return neighbours(ctx, until)

    monkeypatch.setattr(retention, "_neighbours", spy)
    return used


def test_the_previous_orders_come_from_the_state(store: Store, windows: list[str]) -> None:
    hot = compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in METRICS}
    assert windows == []  # neither read a window over every order
    # by hand, in seconds: o19 after c1's o13 of 2024-04-26 23:00 (before the state),
    # 222 d 2 h; n1 after c0's o18 of 2024-10-28 21:00 (before it), 48 d 4 h; n2 after
    # o19, 16 d 19 h; n3 after n2 at the same instant (the smaller id first), 0
    gaps = [222 * 86400 + 2 * 3600, 48 * 86400 + 4 * 3600, 16 * 86400 + 19 * 3600, 0]
    assert december(hot.rows()) == {
        "value": sum(gaps) / len(gaps) / 86400,
        "median": (gaps[2] + gaps[1]) / 2 / 86400,
        "intervals": 4.0,
    }
    assert hot.rows() == compute(store, METRICS, **SPAN).rows()


def test_switched_off_the_window_is_read(store: Store, windows: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carried, "PREVIOUS_FROM_STATE", False)
    hot = compute(store, METRICS, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert sorted(windows) == ["interpurchase_days", "return_probability"]
    assert hot.rows() == compute(store, METRICS, **SPAN).rows()


def test_periods_before_the_state_read_the_window(store: Store, windows: list[str]) -> None:
    longer = {**SPAN, "start": "2023-06"}  # June to December 2023 missing, and December 2024
    hot = compute(store, METRICS, reuse=True, **longer)
    assert warm.last_report.computed["interpurchase_days"][0] == "2023-06"
    assert "interpurchase_days" in windows
    assert hot.rows() == compute(store, METRICS, **longer).rows()


def kept_gaps(store: Store, as_of: datetime) -> dict[int, int]:
    rows = store.con.execute(f"SELECT days, gaps FROM {GAPS_TABLE} WHERE as_of = ?",
                             [as_of]).fetchall()
    return dict(rows)


def window_gaps(store: Store, until: datetime) -> dict[int, int]:
    """The gaps closed before `until` by whole days, in plain SQL: a window over every valid
    order of a known customer."""
    statuses = ", ".join(f"'{s}'" for s in INVALID_ORDER_STATUSES)
    rows = store.con.execute(f"""
        SELECT CAST(floor((epoch(placed_at) - epoch(prev)) / 86400) AS BIGINT) AS days,
               count(*)
        FROM (SELECT placed_at, lag(placed_at) OVER (PARTITION BY customer_id
                                                     ORDER BY placed_at, order_id) AS prev
              FROM orders WHERE status NOT IN ({statuses}) AND customer_id IS NOT NULL
                AND placed_at < ?)
        WHERE prev IS NOT NULL GROUP BY days""", [until]).fetchall()
    return dict(rows)


def test_the_kept_gaps_are_those_of_a_window_over_every_order(store: Store) -> None:
    # 24 base orders of 6 customers, 4 each: 3 gaps each, of which c1's last (o13 to o19)
    # closes in December, after the state
    kept = kept_gaps(store, DECEMBER)
    assert sum(kept.values()) == 17
    assert kept == window_gaps(store, DECEMBER)


def test_a_new_month_carries_the_gaps_forward(store: Store) -> None:
    longer = {**SPAN, "end": "2025-02"}
    store.upsert([order("n5", 0, 745, 4321)])  # c0, 2025-01-16: the new month
    hot = compute(store, METRICS, reuse=True, **longer)
    assert warm.last_report.carried == (
        f"{JANUARY.isoformat()} (carried from {DECEMBER.isoformat()})")
    # December's gaps: o19 and n1 to n3 (n4 is c9's first order)
    assert sum(kept_gaps(store, JANUARY).values()) == 17 + 4
    assert kept_gaps(store, JANUARY) == window_gaps(store, JANUARY)
    assert hot.rows() == compute(store, METRICS, **longer).rows()
