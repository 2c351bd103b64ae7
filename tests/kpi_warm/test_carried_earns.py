"""The scored orders across the carried state's instant (`clientela.kpi.carried_earns`): the
orders placed since it that an earn event dated before it names. With them, the newest
month's scored share reads the month's orders and earn events and gives the cold answer; a
write that makes such a pair drops the state."""

from __future__ import annotations

import pytest
from _warm_fixtures import LOYALTY, SPAN, add_earns, add_redemptions, event, kept_loyalty, order
from test_carried_state import DECEMBER

from clientela.kpi import compute, warm
from clientela.store import Store
from clientela.store.touched import EARN_LINKS_TABLE

SCORED = "loyalty_scored_share"


@pytest.fixture
def store(tmp_path) -> Store:
    opened = kept_loyalty(tmp_path / "warm.duckdb", add_redemptions, add_earns)
    yield opened
    opened.close()


def kept(store: Store) -> set[tuple[object, ...]]:
    return set(store.con.execute(f"SELECT source, order_id FROM {EARN_LINKS_TABLE} "
                                 "WHERE as_of = ?", [DECEMBER]).fetchall())


def december(store: Store, **kw: object) -> dict[str, float | None]:
    result = compute(store, [SCORED], **SPAN, **kw)
    return {m: result.value(SCORED, m, period="2024-12")
            for m in ("value", "scored_orders", "orders")}


def test_the_state_keeps_the_orders_since_it_that_an_earlier_earn_names(store: Store) -> None:
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert kept(store) == {("test", "s1")}  # not s2: its earn is dated in December


def test_a_new_day_reads_the_kept_orders_and_the_month_and_equals_cold(store: Store) -> None:
    store.upsert([order("s3", 1, 721, 900), order("s4", 2, 721, 700)])
    store.upsert([event("g3", "earn", 1, 721, 9, order_id="s3")])
    hot = december(store, reuse=True)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (kept)"
    assert warm.last_report.computed == {SCORED: ["2024-12"]}
    # December (by hand): o19 (its earn e19), s1 (g1, November's), s2 (g2), s3 (g3) scored;
    # p3, p4 (redemptions only) and s4 not: 4 of 7
    assert hot == {"value": 4 / 7, "scored_orders": 4, "orders": 7}
    assert hot == december(store)


def test_an_earlier_earn_on_an_order_since_written_later_drops_the_state(store: Store) -> None:
    """An earn event of August names p4, placed in December: written after the state, it
    dates p4 too, before the state, so the state is built again and keeps the pair."""
    store.upsert([event("g9", "earn", 5, 600, 15, order_id="p4")])
    hot = december(store, reuse=True)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert kept(store) == {("test", "s1"), ("test", "p4")}
    # o19, s1, s2 and now p4 of o19, p3, p4, s1, s2
    assert hot == {"value": 4 / 5, "scored_orders": 4, "orders": 5}
    assert hot == december(store)


def test_an_order_an_earlier_earn_named_arriving_later_drops_the_state(store: Store) -> None:
    """An earn event of November names s5, which the store does not hold yet; the order,
    placed in December, arrives after the state and dates the event too."""
    store.upsert([event("g5", "earn", 4, 680, 12, order_id="s5")])
    compute(store, LOYALTY, reuse=True, **SPAN)
    store.upsert([order("s5", 4, 722, 1200)])
    hot = december(store, reuse=True)
    assert warm.last_report.carried == f"{DECEMBER.isoformat()} (built from every order)"
    assert ("test", "s5") in kept(store)
    assert hot == {"value": 4 / 6, "scored_orders": 4, "orders": 6}
    assert hot == december(store)
