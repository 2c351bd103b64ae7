"""What each kind of write logs as touched (clientela.store.touched), read straight from the
log: the dates the warm cache matches its kept answers against."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from _warm_fixtures import SOURCE, order

from clientela.demo.arrays import SOURCE as DEMO_SOURCE
from clientela.demo.guard import remove_demo
from clientela.model import Campaign, LoyaltyEvent, MarketingSpend, OrderLine
from clientela.store import BatchPart, Store
from clientela.store.touched import RESULTS_TABLE, TOUCHES_TABLE

MARCH = datetime(2024, 3, 16, 15, 0)
"""DAY0 + 440 days: where order "o1" below is placed."""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "log.duckdb")
    opened.upsert([order("o1", 0, 440, 5000)])
    yield opened
    opened.close()


def keep_something(store: Store) -> None:
    """One kept answer: from now on writes are logged."""
    store.con.execute(f"""INSERT INTO {RESULTS_TABLE} VALUES ('k', 'revenue', '{{}}', '', 'month',
        'UTC', 'BRL', '', 'v', '2024-01-01', '2024-02-01', '2024-01-01', '2024-02-01', false,
        0, '[]', now(), NULL, false, 0)""")


def logged(store: Store) -> list[tuple[str, datetime | None, datetime | None]]:
    return [(str(e), lo, hi) for e, lo, hi in store.con.execute(
        f"SELECT entity, lo, hi FROM {TOUCHES_TABLE} ORDER BY seq, lo NULLS FIRST").fetchall()]


def line(quantity: int) -> OrderLine:
    return OrderLine(source=SOURCE, order_id="o1", line_id="1", quantity=quantity,
                     unit_price=Decimal("10"), total=Decimal(10 * quantity))


def event(points: int, order_id: str | None, when: datetime) -> LoyaltyEvent:
    return LoyaltyEvent(source=SOURCE, event_id="e1", customer_id="c0", kind="earn",
                        points=points, occurred_at=when.replace(tzinfo=UTC), order_id=order_id)


def test_nothing_is_logged_while_no_answer_is_kept(store: Store) -> None:
    store.upsert([order("o2", 1, 10, 700)])
    assert logged(store) == []


def test_a_new_order_logs_its_day(store: Store) -> None:
    keep_something(store)
    store.upsert([order("o2", 1, 10, 700), order("o3", 1, 10, 900)])
    assert logged(store) == [("orders", datetime(2023, 1, 12, 1), datetime(2023, 1, 12, 1))]


def test_an_order_line_logs_its_orders_day(store: Store) -> None:
    store.upsert([line(1)])
    keep_something(store)
    store.upsert([line(3)])
    assert logged(store) == [("order_lines", MARCH, MARCH)]


def test_an_order_and_its_lines_in_one_batch(store: Store) -> None:
    keep_something(store)
    store.write_parts([BatchPart(type(order("o1", 0, 0, 1)), [order("o1", 0, 441, 5000)]),
                       BatchPart(OrderLine, [line(2)])])
    moved = datetime(2024, 3, 17, 16, 0)
    assert sorted(logged(store), key=str) == sorted([
        ("orders", MARCH, MARCH), ("orders", moved, moved),
        ("order_lines", moved, moved)], key=str)


def test_an_order_and_its_loyalty_events_date_each_other(store: Store) -> None:
    earned = datetime(2024, 5, 1, 12, 0)
    store.upsert([event(10, "o1", earned)])
    keep_something(store)
    store.upsert([event(20, "o1", earned)])
    assert logged(store) == [("loyalty_events", earned, earned), ("loyalty_events", MARCH, MARCH)]
    store.con.execute(f"DELETE FROM {TOUCHES_TABLE}")
    store.upsert([order("o1", 0, 440, 4000)])
    assert logged(store) == [("orders", MARCH, MARCH), ("orders", earned, earned)]


def test_a_local_day_is_widened_by_a_day_each_side(store: Store) -> None:
    keep_something(store)
    store.upsert([MarketingSpend(source=SOURCE, day=date(2024, 6, 10), channel="paid",
                                 amount=Decimal("100"))])
    assert logged(store) == [("marketing_spend", datetime(2024, 6, 9), datetime(2024, 6, 12))]


def test_a_campaign_is_logged_by_entity_and_a_replaced_demo_as_everything(store: Store) -> None:
    """Neither carries a date; a campaign row reaches the answers that read campaigns
    (`clientela.kpi.warm`), a demo replaced every answer."""
    keep_something(store)
    store.upsert([Campaign(source=SOURCE, campaign_id="k1", name="Spring", channel="email",
                           started_at=datetime(2024, 3, 1, tzinfo=UTC))])
    assert logged(store) == [("campaigns", None, None)]
    store.upsert([order("d1", 0, 3, 100).model_copy(update={"source": DEMO_SOURCE})])
    store.con.execute(f"DELETE FROM {TOUCHES_TABLE}")
    assert remove_demo(store) == 1
    assert logged(store) == [("*", None, None)]
