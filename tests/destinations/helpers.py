"""A small, deterministic store for push tests, and shortcuts to push it to the fake."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from clientela_mailchimp import MailchimpConfig, MailchimpDestination

from clientela.destinations.api import Opener
from clientela.destinations.contacts import Segmentation
from clientela.destinations.push import PushReport, push
from clientela.store import Store
from clientela.testing.destination_contract import (
    AS_OF,
    add_points,
    contract_store,
    customers,
    email,
    order_today,
    orders_for,
)

from .fakes.mailchimp import FakeMailchimp

__all__ = [
    "API_KEY",
    "AS_OF",
    "add_points",
    "build_store",
    "config",
    "customers",
    "destination",
    "email",
    "mailchimp_section",
    "order_today",
    "orders_for",
    "push_then_close",
    "run",
    "segment_sizes",
    "state",
]

API_KEY = "0123456789abcdef0123456789abcdef-us21"


build_store = contract_store
"""The store the push tests share with the destination contract suite."""


def config(fake: FakeMailchimp, **options: Any) -> MailchimpConfig:
    return MailchimpConfig(api_key=API_KEY, list_id=fake.list_id, base_url=fake.url, **options)


def mailchimp_section(fake: FakeMailchimp, api_key: str = "${MC_KEY}",
                      section: str = "destinations.mailchimp") -> str:
    """The configuration section of a Mailchimp destination pointed at `fake`."""
    return (f'\n[{section}]\napi_key = "{api_key}"\nlist_id = "{fake.list_id}"\n'
            f'base_url = "{fake.url}"\n')


def destination(fake: FakeMailchimp, sleeps: Any = None, **options: Any) -> MailchimpDestination:
    return MailchimpDestination(config(fake, **options), sleep=sleeps or (lambda s: None))


def run(path: Path, fake: FakeMailchimp, *, dry_run: bool = False, sleeps: Any = None,
        segmentation: Segmentation | None = None, as_of: datetime = AS_OF,
        fields: list[str] | None = None, **options: Any) -> PushReport:
    return push_then_close(path, "mailchimp", destination(fake, sleeps, **options),
                           segmentation, as_of=as_of, dry_run=dry_run, fields=fields)


def push_then_close(path: Path, name: str, opened: Any, segmentation: Segmentation | None = None,
                    *, as_of: datetime = AS_OF, dry_run: bool = False,
                    fields: list[str] | None = None,
                    others: Mapping[str, Opener] | None = None) -> PushReport:
    """One push of the store at `path` to an opened destination (RFM segments unless told),
    which is closed afterwards whatever happens, as the CLI's push command does; `others`
    are read first."""
    try:
        with Store(path) as store:
            return push(store, name, opened, segmentation or Segmentation.rfm(),
                        as_of=as_of, dry_run=dry_run, fields=fields, others=others)
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


def learned_opt_outs(path: Path, source: str, opted_out: list[str], still: str
                     ) -> dict[str, str]:
    """After a push read opt-outs back from `source`: the customers in `opted_out` may no
    longer be e-mailed for marketing, `still` may, and the evidence the store recorded for
    that source by customer (what a test compares with the destination's own wording)."""
    from clientela.consent import can_contact

    with Store(path) as store:
        assert [c for c in opted_out if can_contact(store, c, "email", "marketing")] == []
        assert can_contact(store, still, "email", "marketing")
        return dict(store.con.execute(
            "SELECT customer_id, evidence FROM consent_events WHERE source = ?",
            [source]).fetchall())
