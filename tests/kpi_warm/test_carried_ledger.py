"""The loyalty ledger a warm call carries with the customer state
(`clientela.kpi.carried_ledger`): each customer's events before the state's instant summed
up as a balance row and one row per expiry of the lots still to expire; read with the events
since, the balances and points expiring equal a cold run's, and a write dated at or before
the instant leaves the state unused."""

from __future__ import annotations

from datetime import datetime

import pytest
from _warm_fixtures import LOYALTY, SPAN, add_loyalty, build, event
from test_carried_state import DECEMBER, JANUARY

from clientela.kpi import compute, warm
from clientela.store import Store
from clientela.store.touched import LEDGER_TABLE, STATES_TABLE


@pytest.fixture
def store(tmp_path) -> Store:
    opened = build(tmp_path / "warm.duckdb")
    add_loyalty(opened)
    compute(opened, LOYALTY, reuse=True, **SPAN)
    yield opened
    opened.close()


def kept(store: Store, at: datetime) -> dict[tuple[str, bool, datetime | None], int]:
    rows = store.con.execute(f"SELECT customer_id, lot, expires_at, points FROM {LEDGER_TABLE} "
                             "WHERE as_of = ?", [at]).fetchall()
    return {(cid, lot, expires): points for cid, lot, expires, points in rows}


def folded(store: Store, at: datetime) -> dict[tuple[str, bool, datetime | None], int]:
    """The rows by another route: each event before `at` but the reversals (read as they
    are) in Python, a lot still to expire at `at` under its expiry, everything else under
    the customer's balance row."""
    out: dict[tuple[str, bool, datetime | None], int] = {}
    for cid, points, expires in store.con.execute(
            "SELECT customer_id, points, expires_at FROM loyalty_events "
            "WHERE occurred_at < ? AND kind <> 'reverse'", [at]).fetchall():
        lot = points > 0 and (expires is None or expires >= at)
        key = (cid, lot, expires if lot else None)
        out[key] = out.get(key, 0) + points
    return {key: points for key, points in out.items() if points}


def test_the_first_warm_call_keeps_the_ledger_as_of_the_newest_period(store: Store) -> None:
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert kept(store, DECEMBER) == folded(store, DECEMBER)
    # c3 (by hand): orders o3, o9, o15, o21 on days 111, 333, 555, 777 % 730 = 47 earn 40,
    # 100, 160, 220; o3, o15 never... o15 is a fifth (i = 15): never expires; o3, o9, o21
    # expire a year on. Redeems on o3, o15 (i % 4 == 3): -16, -64. Before December 2024
    # (day 700): all of them; o3's lot (day 111) expired on day 476, o9's on day 698
    # (2024-11-29, before the instant), o21's (day 47) on day 412.
    c3 = {key[1:]: points for key, points in kept(store, DECEMBER).items() if key[0] == "c3"}
    assert c3 == {(False, None): 40 + 100 + 220 - 16 - 64, (True, None): 160}


def test_events_after_the_state_keep_it_and_warm_equals_cold(store: Store) -> None:
    store.upsert([event("n1", "earn", 0, 714, 300, expires_in=20),   # 2024-12-15: after it
                  event("n2", "redeem", 3, 715, -50),
                  event("n3", "expire", 3, 716, -60)])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {m: ["2024-12"] for m in LOYALTY}
    assert hot.rows() == compute(store, LOYALTY, **SPAN).rows()


@pytest.mark.parametrize("written", [
    event("n1", "adjust", 4, 600, -25),  # 2024-08-23
    event("n1", "redeem", 3, 715, -50, order_id="o3"),  # December, on an order of 2023
])
def test_an_event_dated_before_the_state_leaves_it_unused(store: Store, written) -> None:
    store.upsert([written])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert kept(store, DECEMBER) == folded(store, DECEMBER)
    assert hot.rows() == compute(store, LOYALTY, **SPAN).rows()


def test_a_reversal_after_the_state_of_a_lot_before_it(store: Store) -> None:
    """A lot earned before the state on an order the store does not hold, reversed after it:
    the state stays (no write is dated before it), and the expiry gives the reversal its
    lot's expiry from the earns in the ledger, the rest from the state."""
    store.upsert([event("n1", "earn", 1, 690, 500, order_id="gone", expires_in=50)])
    compute(store, LOYALTY, reuse=True, **SPAN)  # dated before the state: rebuilt with it
    store.upsert([event("n2", "reverse", 1, 716, -200, order_id="gone")])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    cold = compute(store, LOYALTY, **SPAN)
    assert hot.rows() == cold.rows()
    assert kept(store, DECEMBER) == folded(store, DECEMBER)
    # c1 at December's end (by hand): earns 20, 80, 140, 200 (o1, o7, o13, o19), redeems 32
    # and 80, an expiry of 30, and 500 - 200 of the lot: 598. Later than the 30 days: o13's
    # and o19's lots (2025-04, 2025-12), 340; in them, 300 of the lot (2025-01-09): of the
    # 258 left to spend first, all 258 expire (nothing else of c1's or anyone's does)
    assert cold.value("loyalty_points_expiring", period="2024-12") == 258


def test_an_earn_after_the_state_of_an_order_reversed_before_it(store: Store) -> None:
    """A reversal before the state of an order without an earn yet (the store does not hold
    the order): untied, it is no lot. Earned after the state, the order's lot gives the
    reversal its expiry, though the state stays: the reversal was never summed up in it."""
    store.upsert([event("n1", "reverse", 2, 695, -100, order_id="gone")])
    compute(store, LOYALTY, reuse=True, **SPAN)  # dated before the state: rebuilt with it
    store.upsert([event("n2", "earn", 2, 717, 400, order_id="gone", expires_in=30)])
    hot = compute(store, LOYALTY, reuse=True, **SPAN)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert hot.rows() == compute(store, LOYALTY, **SPAN).rows()


def test_a_new_month_carries_the_ledger_forward(store: Store) -> None:
    longer = {**SPAN, "end": "2025-02"}
    store.upsert([event("n1", "earn", 1, 745, 90, expires_in=10),
                  event("n2", "redeem", 2, 746, -20)])
    hot = compute(store, LOYALTY, reuse=True, **longer)
    assert warm.last_report.carried == (f"{JANUARY.isoformat()} "
                                        f"(carried from {DECEMBER.isoformat()})")
    assert store.con.execute(f"SELECT count(*) FROM {STATES_TABLE}").fetchone() == (2,)
    assert kept(store, JANUARY) == folded(store, JANUARY)
    assert hot.rows() == compute(store, LOYALTY, **longer).rows()
