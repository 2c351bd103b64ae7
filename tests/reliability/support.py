"""Shared by the reliability tests: stores, pushes to the fakes, and what is "wrong" there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clientela_hubspot import HubSpotConfig, HubSpotDestination
from clientela_sendgrid import SendGridConfig, SendGridDestination
from destinations.fakes.hubspot import FakeHubSpot
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.fakes.sendgrid import FakeSendGrid
from destinations.helpers import AS_OF, build_store, customers, email, orders_for, push_then_close
from destinations.helpers import destination as mailchimp_destination

from clientela.consent import ConsentEvent, current_sql, record
from clientela.destinations.push import PushReport
from clientela.store import Store

__all__ = ["AS_OF", "build_store", "customers", "email", "orders_for"]


def push_mailchimp(path: Path, fake: FakeMailchimp, **options: Any) -> PushReport:
    """`dry_run` and `others` (the destinations read first) go to the push, the rest to the
    destination's configuration."""
    dry_run = options.pop("dry_run", False)
    others = options.pop("others", None)
    return push_then_close(path, "mailchimp", mailchimp_destination(fake, **options),
                           dry_run=dry_run, others=others)


def sendgrid_destination(base_url: str, api_key: str) -> SendGridDestination:
    config = SendGridConfig(api_key=api_key, base_url=base_url)
    return SendGridDestination(config, sleep=lambda s: None)


def push_sendgrid(path: Path, fake: FakeSendGrid, **options: Any) -> PushReport:
    return push_then_close(path, "sendgrid", sendgrid_destination(fake.url, fake.api_key),
                           **options)


HUBSPOT_TOKEN = "pat-na1-fake"
HUBSPOT_TYPES = {"7400001": "marketing", "7400003": "relationship"}
"""The fake portal's default types: Marketing Information for marketing, Customer Service
Communication for relationship; One to One (7400002) left unmapped."""


def hubspot_destination(base_url: str, **options: Any) -> HubSpotDestination:
    options.setdefault("subscription_types", HUBSPOT_TYPES)
    config = HubSpotConfig(access_token=HUBSPOT_TOKEN, base_url=base_url, **options)
    return HubSpotDestination(config, sleep=lambda s: None)


def push_hubspot(path: Path, fake: FakeHubSpot, **options: Any) -> PushReport:
    """`others` (the destinations read first) goes to the push, the rest to the
    destination's configuration."""
    others = options.pop("others", None)
    return push_then_close(path, "hubspot", hubspot_destination(fake.url, **options),
                           others=others)


def later() -> datetime:
    """A moment after anything already recorded (events compare by time)."""
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)


def consent_event(i: int, status: str, *, address: str | None = None,
                  source: str = "import", occurred_at: datetime | None = None) -> ConsentEvent:
    return ConsentEvent(customer_id=f"c{i:05d}", channel="email", purpose="marketing",
                        status=status, address=address or email(i),
                        occurred_at=occurred_at or later(), source=source, evidence="test")


def after_every_event(store: Store) -> datetime:
    """Now, or just after the newest event the store holds when that is later than now.

    An opt-out read from a destination whose clock counts whole seconds is dated at its
    second's last microsecond, so it can lie up to a second ahead; an opt-in made after it must
    still be newer. Dating it a whole second ahead instead (`later`) would make it newer than
    an unsubscribe the test makes after it, and which of the two wins would then depend on how
    fast the machine runs."""
    newest = store.con.execute("SELECT max(occurred_at) FROM consent_events").fetchone()
    now = datetime.now(UTC).replace(tzinfo=None)
    if newest is None or newest[0] is None or newest[0] < now:
        return now
    return newest[0] + timedelta(microseconds=1)


def opt(path: Path, i: int, status: str, **kwargs: Any) -> None:
    with Store(path) as store:
        record(store, [consent_event(i, status, occurred_at=after_every_event(store), **kwargs)])


def consenting(path: Path) -> set[str]:
    """E-mails (current addresses) with a current e-mail marketing opt-in."""
    with Store(path) as store:
        rows = store.con.execute(
            f"SELECT lower(c.email) FROM ({current_sql()}) k JOIN customers c USING "
            "(customer_id) WHERE k.channel = 'email' AND k.purpose = 'marketing' AND "
            "k.status = 'opted_in'").fetchall()
    return {str(row[0]) for row in rows}


def subscribed_without_consent(fake: FakeMailchimp, path: Path) -> set[str]:
    allowed = consenting(path)
    return {m.email for m in fake.members.values()
            if m.status in ("subscribed", "pending") and m.email not in allowed}


def wrong_tags(fake: FakeMailchimp, path: Path) -> set[str]:
    """Members whose tags are not exactly {their current segment} (consenting) or nothing."""
    with Store(path) as store:
        wanted = {str(e).lower(): f"rfm: {s}" for e, s in store.con.execute(
            "SELECT email, segment FROM push_state WHERE segment IS NOT NULL").fetchall()}
    allowed = consenting(path)
    bad = set()
    for member in fake.members.values():
        tags = fake.tags_of(member.email)
        expected = {wanted[member.email]} if member.email in wanted and member.email in allowed \
            else set()
        if tags != expected:
            bad.add(member.email)
    return bad
