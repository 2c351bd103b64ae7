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
def path(tmp_path: Path) -> Path:
    born = date(1990, 12, 12)
    return write(tmp_path / "s.duckdb",
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
