"""The journeys' triggers find a person's moments over all her records.

Maria is `web-1` (ordered online on 2026-09-01) and `pos-77` (her first order at the till,
2026-12-05, and 300 points there; 300 more online). With the two linked, the till's order
is no first order, her 600 points reach the 500 of the monthly reminder, and her birthday
(on both records) is wished once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from channels.helpers import config
from journeys.helpers import customer, earn, order, write

from clientela.journeys.runner import JourneyRunner
from clientela.journeys.spec import parse_journeys
from clientela.store import Store

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 9, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def journey(name: str, trigger: str, **extra: object) -> dict[str, object]:
    return {"name": name, "trigger": trigger, "channels": ["sms"], **extra,
            "steps": [{"name": "s1", "sms": {"text": {"pt_BR": "oi"}}}]}


JOURNEYS = parse_journeys([
    journey("primeira", "first_order"),
    journey("mensal", "monthly_redeemable", day_of_month=10),
    journey("niver", "birthday"),
], "test")


@pytest.fixture
def path(clientela_store_target: str, tmp_path: Path) -> Path:
    born = date(1990, 12, 12)
    return write(clientela_store_target,
                 [customer("web-1", phone="+5511900000001", birth_date=born),
                  customer("pos-77", phone="+5511900000002", birth_date=born)],
                 [order("o1", "web-1", utc(2026, 9, 1, 12, 0)),
                  order("o2", "pos-77", utc(2026, 12, 5, 12, 0))],
                 [earn("e1", "web-1", utc(2026, 9, 1, 12, 0), 300),
                  earn("e2", "pos-77", utc(2026, 12, 5, 12, 0), 300)])


def planned(path: Path) -> list[tuple[str, str, str]]:
    with Store(path) as store:
        runner = JourneyRunner(store, config(), JOURNEYS, SP, "BRL", 500, NOW)
        found = runner.plan(NOW - timedelta(days=7), NOW + timedelta(days=7))
    return sorted((p.origin, p.customer_id, p.status) for p in found)


def test_records_apart(path: Path) -> None:
    assert planned(path) == [("niver", "pos-77", "planned"), ("niver", "web-1", "planned"),
                             ("primeira", "pos-77", "planned")]


def test_as_one_person(path: Path) -> None:
    with Store(path) as store:
        store.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p-maria', 'cpf', ?), "
                          "('pos-77', 'p-maria', 'cpf', ?)", [datetime(2026, 12, 1)] * 2)
    # one birthday message (to the first of her records by id), the 600 points redeemable
    assert planned(path) == [("mensal", "pos-77", "planned"), ("niver", "pos-77", "planned")]


def test_a_rule_audience_reads_her_orders_on_every_record(path: Path) -> None:
    """`total_spent > 200`: 150 online plus 150 at the till is 300 as a person."""
    journeys = parse_journeys([journey("vip", "post_purchase", days=1,
                                       audience="total_spent > 200")], "test")

    def vip() -> list[str]:
        with Store(path) as store:
            runner = JourneyRunner(store, config(), journeys, SP, "BRL", 500, NOW)
            return [p.customer_id for p in runner.plan(NOW - timedelta(days=7),
                                                       NOW + timedelta(days=7))]

    assert vip() == []
    with Store(path) as store:
        store.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p-maria', 'cpf', ?), "
                          "('pos-77', 'p-maria', 'cpf', ?)", [datetime(2026, 12, 1)] * 2)
    assert vip() == ["pos-77"]  # the post-sale of o2, her till order


def test_an_order_on_her_other_record_ends_the_journey(path: Path) -> None:
    """A two-step post-sale journey exits when she orders again, wherever she orders."""
    steps = [{"name": "a", "sms": {"text": {"pt_BR": "a"}}},
             {"name": "b", "wait_days": 3, "sms": {"text": {"pt_BR": "b"}}}]
    journeys = parse_journeys([journey("dois", "post_purchase", days=1, exit_on_order=True)
                               | {"steps": steps}], "test")
    with Store(path) as store:
        store.upsert([order("o3", "web-1", utc(2026, 12, 7, 12, 0))])  # she orders online

    def second_steps() -> list[str]:
        with Store(path) as store:
            runner = JourneyRunner(store, config(), journeys, SP, "BRL", 500, NOW)
            found = runner.plan(NOW - timedelta(days=7), NOW + timedelta(days=7))
        return sorted(f"{p.customer_id}:{p.occurrence}" for p in found if p.step == "b")

    assert second_steps() == ["pos-77:o2", "web-1:o3"]
    with Store(path) as store:
        store.con.execute("INSERT INTO identity_links VALUES ('web-1', 'p-maria', 'cpf', ?), "
                          "('pos-77', 'p-maria', 'cpf', ?)", [datetime(2026, 12, 1)] * 2)
    assert second_steps() == ["web-1:o3"]  # o2's follow-up is dropped: she ordered since
