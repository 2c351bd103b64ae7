"""Each built-in trigger on a hand-built store: who gets what, when, through which channel."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from channels.helpers import config

from clientela.config import ConfigError
from clientela.journeys.runner import JourneyRunner
from clientela.journeys.spec import parse_journeys
from clientela.store import Store

from .helpers import customer, earn, order, write

SP = ZoneInfo("America/Sao_Paulo")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def journey(name: str, trigger: str, text: str, **extra: object) -> dict[str, object]:
    return {"name": name, "trigger": trigger, "channels": ["sms", "email"], **extra,
            "steps": [{"name": "s1", "sms": {"text": {"pt_BR": text}},
                       "email": {"text": {"pt_BR": text}, "subject": {"pt_BR": "x"}}}]}


JOURNEYS = [
    journey("primeira", "first_order", "{first_name}: pedido {order_id} de {order_total}"),
    journey("pontos", "first_points", "{points} pontos"),
    journey("mensal", "monthly_redeemable", "{points} pontos, compras a partir de "
            "{minimum_purchase}", day_of_month=10, minimum_purchase=100),
    journey("expira", "points_expiring", "{points} pontos vencem em {expiry_date}"),
    journey("niver", "birthday", "parabéns {first_name}"),
    journey("saudade", "lapsed", "{days} dias", days=100),
    journey("posvenda", "post_purchase", "como foi o pedido {order_id}?"),
]


@pytest.fixture
def store(clientela_store_target: str, tmp_path: Path) -> Store:
    people = [customer(f"c{i}", phone=f"+551190000000{i}") for i in range(1, 9)]
    people[5] = customer("c6", phone="+5511900000006", birth_date=date(1990, 12, 12))
    orders = [
        order("o1", "c1", utc(2026, 12, 5, 14, 0), "250.50"),
        order("o1x", "c1", utc(2026, 12, 6, 14, 0), "10.00", status="cancelled"),
        order("o7", "c7", utc(2026, 9, 1, 12, 0)),
        order("o8", "c8", utc(2026, 12, 3, 16, 0), salesperson_id="s9"),
        order("o3", "c3", utc(2026, 1, 3, 16, 0)),
    ]
    events = [
        earn("e2", "c2", utc(2026, 12, 6, 15, 0), 40),
        earn("e3", "c3", utc(2026, 11, 1, 15, 0), 600),
        earn("e4", "c4", utc(2026, 11, 1, 15, 0), 100),
        earn("e5", "c5", utc(2026, 1, 1, 15, 0), 70, expires_at=utc(2026, 12, 25, 15, 0)),
    ]
    path = write(clientela_store_target, people, orders, events)
    with Store(path) as opened:
        yield opened


def test_each_trigger(store: Store) -> None:
    now = utc(2026, 12, 9, 0, 0)
    runner = JourneyRunner(store, config(), parse_journeys(JOURNEYS, "test"), SP, "BRL", 500, now)
    planned = runner.plan(now - timedelta(days=7), now + timedelta(days=7))
    got = {(p.origin, p.customer_id): (p.occurrence, p.due_at, p.medium, p.status, p.body)
           for p in planned}
    assert got == {
        ("primeira", "c1"): ("first", utc(2026, 12, 5, 14, 0), "sms", "planned",
                             "Ana: pedido o1 de R$\xa0250,50"),
        ("primeira", "c8"): ("first", utc(2026, 12, 3, 16, 0), "sms", "planned",
                             "Ana: pedido o8 de R$\xa0150,00"),
        ("pontos", "c2"): ("first", utc(2026, 12, 6, 15, 0), "sms", "planned", "40 pontos"),
        # the 10th at 10:00 in São Paulo; 600 >= 500 redeemable points, c4's 100 are not
        ("mensal", "c3"): ("2026-12", utc(2026, 12, 10, 13, 0), "sms", "planned",
                           "600 pontos, compras a partir de R$\xa0100,00"),
        # 15 days before the expiry, at 10:00 local
        ("expira", "c5"): ("2026-12-25", utc(2026, 12, 10, 13, 0), "sms", "planned",
                           "70 pontos vencem em 25/12/2026"),
        ("niver", "c6"): ("2026", utc(2026, 12, 12, 13, 0), "sms", "planned", "parabéns Ana"),
        # 100 days after the last order (09:00 in São Paulo, inside the window)
        ("saudade", "c7"): ("after:o7", utc(2026, 12, 10, 12, 0), "sms", "planned", "100 dias"),
        ("posvenda", "c8"): ("o8", utc(2026, 12, 10, 16, 0), "sms", "planned",
                             "como foi o pedido o8?"),
        ("posvenda", "c1"): ("o1", utc(2026, 12, 12, 14, 0), "sms", "planned",
                             "como foi o pedido o1?"),
    }
    # c3's first order (January) is long before the window: no welcome for it
    post = {p.customer_id: p.salesperson_id for p in planned if p.origin == "posvenda"}
    assert post == {"c8": "s9", "c1": None}


def test_rerun_plans_nothing_new_and_a_new_month_fires_again(store: Store) -> None:
    journeys = parse_journeys([JOURNEYS[2]], "test")
    now = utc(2026, 12, 11, 0, 0)
    first = JourneyRunner(store, config(), journeys, SP, "BRL", 500, now).run_plan()
    again = JourneyRunner(store, config(), journeys, SP, "BRL", 500, now).run_plan()
    later = JourneyRunner(store, config(), journeys, SP, "BRL", 500,
                          utc(2027, 1, 11, 0, 0)).run_plan()
    assert (first.new, again.new, later.new) == (1, 0, 1)
    assert [p.occurrence for p in later.planned] == ["2027-01"]


def test_audience_and_exit_on_order(store: Store) -> None:
    items = [journey("vip", "first_order", "oi", audience="total_spent > 200"),
             journey("dois", "post_purchase", "oi", days=1, exit_on_order=True) | {
                 "steps": [{"name": "a", "sms": {"text": {"pt_BR": "a"}},
                            "email": {"text": {"pt_BR": "a"}, "subject": {"pt_BR": "a"}}},
                           {"name": "b", "wait_days": 5, "sms": {"text": {"pt_BR": "b"}},
                            "email": {"text": {"pt_BR": "b"}, "subject": {"pt_BR": "b"}}}]}]
    store.upsert([order("o8b", "c8", utc(2026, 12, 6, 12, 0)),  # c8 ordered again
                  order("o5", "c5", utc(2026, 12, 6, 12, 0), "50.00")])  # c5's first, small
    now = utc(2026, 12, 9, 0, 0)
    runner = JourneyRunner(store, config(), parse_journeys(items, "t"), SP, "BRL", 500, now)
    planned = runner.plan(now - timedelta(days=7), now + timedelta(days=7))
    got = sorted((p.origin, p.step, p.customer_id, p.occurrence) for p in planned)
    # vip: c1 (250.50) and c8 (150 + 150) spent over 200 by now, c5 (50) did not. dois: a day after
    # each order; step b five days later, except after o8, since c8 ordered o8b in between
    assert got == [("dois", "a", "c1", "o1"), ("dois", "a", "c5", "o5"), ("dois", "a", "c8", "o8"),
                   ("dois", "a", "c8", "o8b"), ("dois", "b", "c1", "o1"), ("dois", "b", "c5", "o5"),
                   ("dois", "b", "c8", "o8b"),
                   ("vip", "s1", "c1", "first"), ("vip", "s1", "c8", "first")]


@pytest.mark.parametrize(("change", "message"), [
    ({"steps": [{"name": "s", "sms": {"text": {"pt_BR": "{pontos}"}}}]},
     "unknown variable(s) pontos"),
    ({"channels": ["whatsapp"], "steps": [{"name": "s", "whatsapp": {"variables": ["points"]}}]},
     "needs `template`"),
    ({"channels": ["whatsapp"], "steps": [{"name": "s", "whatsapp": {"template": "nao_aprovado"}}]},
     "not in the approved list"),
    ({"channels": ["email"], "steps": [{"name": "s", "email": {"text": {"pt_BR": "x"}}}]},
     "needs `subject`"),
    ({"channels": ["sms", "email"], "steps": [{"name": "s", "sms": {"text": {"pt_BR": "x"}}}]},
     "no template for channel 'email'"),
    ({"audience": "total_spent >"}, "not a valid expression"),
    ({"audience": "salary > 3"}, "unknown field 'salary'"),
    ({"trigger": "anniversary"}, "trigger"),
])
def test_templates_and_audiences_are_checked_at_load(change: dict[str, object],
                                                     message: str) -> None:
    item = {"name": "j", "trigger": "first_points", "channels": ["sms"],
            "steps": [{"name": "s", "sms": {"text": {"pt_BR": "{points}"}}}], **change}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_journeys([item], "clientela.toml", approved=["pontos_boas_vindas"])
