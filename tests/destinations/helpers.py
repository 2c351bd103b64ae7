"""A small, deterministic store for push tests, and shortcuts to push it to the fake."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from clientela_mailchimp import MailchimpConfig, MailchimpDestination

from clientela.destinations.contacts import Segmentation
from clientela.destinations.push import PushReport, push
from clientela.model.entities import Customer, LoyaltyEvent, Order
from clientela.store import Store

from .fakes.mailchimp import FakeMailchimp

AS_OF = datetime(2024, 7, 1)
API_KEY = "0123456789abcdef0123456789abcdef-us21"


def email(i: int) -> str:
    return f"cliente{i:05d}@example.com"


def customers(n: int, consent: dict[int, str] | None = None) -> list[Customer]:
    consent = consent or {}
    return [Customer(source="test", customer_id=f"c{i:05d}", email=email(i), first_name=f"N{i}",
                     phone=f"+55 11 9{i:04d}-0000",
                     consent_email=consent.get(i, "subscribed")) for i in range(n)]


def orders_for(i: int) -> list[Order]:
    count = 1 + (i * 7) % 5
    made = []
    for k in range(count):
        days = (i * 37 + k * 53) % 700 + 1
        total = Decimal(20 + (i * 13 + k * 29) % 480) + Decimal("0.90")
        made.append(Order(source="test", order_id=f"o{i:05d}-{k}", customer_id=f"c{i:05d}",
                          status="paid", placed_at=AS_OF - timedelta(days=days, hours=i % 24),
                          subtotal=total, total=total, channel="web"))
    return made


def build_store(path: Path, n: int, consent: dict[int, str] | None = None) -> None:
    with Store(path) as store:
        store.upsert(customers(n, consent))
        store.upsert([order for i in range(n) for order in orders_for(i)])


def add_points(path: Path, who: list[int], points: int = 120, tag: str = "a") -> None:
    with Store(path) as store:
        store.upsert([LoyaltyEvent(source="test", event_id=f"l{tag}{i}", customer_id=f"c{i:05d}",
                                   kind="earn", points=points, occurred_at=AS_OF - timedelta(days=2))
                      for i in who])


def config(fake: FakeMailchimp, **options: Any) -> MailchimpConfig:
    return MailchimpConfig(api_key=API_KEY, list_id=fake.list_id, base_url=fake.url, **options)


def destination(fake: FakeMailchimp, sleeps: Any = None, **options: Any) -> MailchimpDestination:
    return MailchimpDestination(config(fake, **options), sleep=sleeps or (lambda s: None))


def run(path: Path, fake: FakeMailchimp, *, dry_run: bool = False, sleeps: Any = None,
        segmentation: Segmentation | None = None, as_of: datetime = AS_OF,
        fields: list[str] | None = None, **options: Any) -> PushReport:
    opened = destination(fake, sleeps, **options)
    try:
        with Store(path) as store:
            return push(store, "mailchimp", opened, segmentation or Segmentation.rfm(),
                        as_of=as_of, dry_run=dry_run, fields=fields)
    finally:
        opened.close()


def state(path: Path, segmentation: str = "rfm") -> dict[str, tuple[str | None, str]]:
    """customer_id -> (segment, email) as push_state has it."""
    with Store(path) as store:
        rows = store.con.execute("SELECT customer_id, segment, email FROM push_state WHERE "
                                 "segmentation = ?", [segmentation]).fetchall()
    return {cid: (segment, mail) for cid, segment, mail in rows}


def segment_sizes(path: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for segment, _ in state(path).values():
        assert segment is not None
        sizes[segment] = sizes.get(segment, 0) + 1
    return sizes
