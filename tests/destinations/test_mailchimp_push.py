"""The push engine with Mailchimp against its fake: budgets, consent, faults, crash, forget."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_mailchimp import MailchimpConfig, MailchimpDestination

from clientela.consent import can_contact, history
from clientela.destinations.contacts import Segmentation
from clientela.http import RetryPolicy
from clientela.store import Store
from clientela.testing.destination_contract import DestinationContract

from .conftest import N, Sleeps
from .fakes.mailchimp import FakeMailchimp
from .helpers import (
    API_KEY,
    AS_OF,
    add_points,
    build_store,
    email,
    orders_for,
    run,
    segment_sizes,
    state,
)

SETUP = 9 + 11
"""First push only: 9 merge fields (no CLV table in this store) and 11 RFM tags."""


def floor(sizes: dict[str, int]) -> int:
    return math.ceil(sum(sizes.values()) / 500) + sum(math.ceil(n / 500) for n in sizes.values())


def test_first_push_lands_everyone_at_the_floor(store_path: Path, mailchimp: FakeMailchimp) -> None:
    report = run(store_path, mailchimp)

    sizes = segment_sizes(store_path)
    assert sum(sizes.values()) == N and len(sizes) == 11
    assert report.outcomes["created"] == N and report.failed == 0
    assert len(mailchimp.upsert_calls()) == math.ceil(N / 500) == 3
    assert len(mailchimp.tag_calls()) == sum(math.ceil(n / 500) for n in sizes.values())
    assert mailchimp.write_count() == floor(sizes) + SETUP
    assert all(len(call.body["members"]) <= 500 for call in mailchimp.upsert_calls())
    assert len(mailchimp.members) == N
    assert {m.status for m in mailchimp.members.values()} == {"subscribed"}
    for segment, size in sizes.items():
        assert len(mailchimp.segment_members(f"rfm: {segment}")) == size
    kept = state(store_path)
    for i in (0, 1, 599, N - 1):
        segment = kept[f"c{i:05d}"][0]
        assert mailchimp.tags_of(email(i)) == {f"rfm: {segment}"}
        merge = mailchimp.member(email(i)).merge_fields  # type: ignore[union-attr]
        orders = orders_for(i)
        assert merge["ORDERS"] == len(orders)
        assert merge["SPENT"] == float(sum(o.total for o in orders))
        assert merge["SEGMENT"] == segment
        assert merge["POINTS"] == 0
    assert set(mailchimp.merge_fields) == {"SEGMENT", "RFM_R", "RFM_F", "RFM_M", "LAST_ORDER",
                                           "ORDERS", "SPENT", "TICKET", "POINTS"}
    with Store(store_path) as store:
        runs = store.con.execute("SELECT status FROM runs WHERE kind = 'push'").fetchall()
        logged = store.con.execute("SELECT outcome, count(*) FROM push_log GROUP BY 1").fetchall()
    assert runs == [("ok",)]
    assert logged == [("created", N)]


def test_one_percent_changed_costs_one_percent_of_the_calls(store_path: Path,
                                                            mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    changed = list(range(0, N, 100))  # 12 customers, 1%: loyalty points move no RFM rank
    add_points(store_path, changed, points=250)
    mailchimp.reset_calls()

    report = run(store_path, mailchimp)

    assert report.outcomes == {"updated": 12, "skipped": 0}
    assert report.unchanged == N - 12 and report.moved == 0
    assert [len(call.body["members"]) for call in mailchimp.upsert_calls()] == [12]
    assert mailchimp.write_count() == 1
    sent = mailchimp.upsert_calls()[0].body["members"]
    assert all("status" not in member for member in sent)  # existing members keep theirs
    assert mailchimp.member(email(100)).merge_fields["POINTS"] == 250  # type: ignore[union-attr]


def test_an_unsubscribe_in_mailchimp_reaches_the_store_and_takes_the_tag_away(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    run(store_path, mailchimp)
    kept = state(store_path)
    who = next(i for i in range(N) if kept[f"c{i:05d}"][0] == "Lost")
    mailchimp.unsubscribe(email(who))
    with Store(store_path) as store:  # a fresh order today: R becomes 5, the segment moves
        fresh = orders_for(who)[0].model_copy(update={"order_id": "fresh",
                                                      "placed_at": AS_OF - timedelta(hours=1)})
        store.upsert([fresh])
    mailchimp.reset_calls()

    report = run(store_path, mailchimp)

    assert report.consent["learned"] == 1
    assert state(store_path)[f"c{who:05d}"][0] is None
    member = mailchimp.member(email(who))
    assert member is not None and member.status == "unsubscribed"
    assert mailchimp.tags_of(email(who)) == set()
    # already unsubscribed there: no upsert, only the tag goes
    assert not [m for call in mailchimp.upsert_calls() for m in call.body["members"]
                if m["email_address"] == email(who)]
    assert [c.body["members_to_remove"] for c in mailchimp.tag_calls()
            if email(who) in c.body["members_to_remove"]] == [[email(who)]]
    with Store(store_path) as store:
        events = history(store, email(who))
        assert not can_contact(store, f"c{who:05d}", "email", "marketing")
    assert [(e.status, e.source) for e in events][-1] == ("opted_out", "mailchimp")
    assert report.failed == 0


def test_consent_decides_who_is_created(tmp_path: Path, mailchimp: FakeMailchimp) -> None:
    path = tmp_path / "consent.duckdb"
    consent = {1: "unknown", 2: "pending", 3: "unsubscribed", 4: "unknown", 5: "subscribed"}
    build_store(path, 40, consent)
    mailchimp.add_member(email(4), "subscribed")    # there without consent: unsubscribed
    mailchimp.add_member(email(5), "unsubscribed")  # said no in Mailchimp, later: stays so

    report = run(path, mailchimp)

    assert report.planned == {"create": 35, "unsubscribe": 1, "skip": 4}
    assert report.consent == {"subscribed": 35, "unsubscribed": 1, "skipped_no_consent": 3,
                              "already_unsubscribed": 1, "learned": 1}
    assert report.outcomes == {"created": 35, "unsubscribed": 1, "skipped": 4}
    assert mailchimp.member(email(1)) is None
    assert mailchimp.member(email(2)) is None
    assert mailchimp.member(email(3)) is None
    assert mailchimp.member(email(4)).status == "unsubscribed"  # type: ignore[union-attr]
    assert mailchimp.member(email(5)).status == "unsubscribed"  # type: ignore[union-attr]
    assert set(state(path)) == {f"c{i:05d}" for i in range(40)} - {"c00001", "c00002", "c00003",
                                                                   "c00005"}
    assert all(m.get("status") in ("subscribed", "unsubscribed")
               for call in mailchimp.upsert_calls() for m in call.body["members"])
    with Store(path) as store:
        skipped = store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                    "'skipped' ORDER BY 1").fetchall()
    assert skipped == [("c00001", "no e-mail consent (unknown)"),
                       ("c00002", "no e-mail consent (pending)"),
                       ("c00003", "no e-mail consent (unsubscribed)"),
                       ("c00005", "unsubscribed at the destination")]

    double = run(path, mailchimp, double_opt_in=True)

    assert double.outcomes == {"created": 2, "skipped": 2}
    assert mailchimp.member(email(1)).status == "pending"  # type: ignore[union-attr]
    assert mailchimp.member(email(2)).status == "pending"  # type: ignore[union-attr]
    assert mailchimp.member(email(3)) is None


def test_a_429_storm_is_ridden_out(store_path: Path, mailchimp: FakeMailchimp,
                                   sleeps: Sleeps) -> None:
    mailchimp.faults.throttles = 25
    mailchimp.faults.retry_after = "2"
    mailchimp.empty_429s = 5  # five of them with no body at all

    report = run(store_path, mailchimp, sleeps=sleeps, max_attempts=40)

    assert report.outcomes["created"] == N and report.failed == 0
    assert len(mailchimp.members) == N
    throttled = [c for c in mailchimp.calls if c.status == 429]
    assert len(throttled) == 25
    assert len(sleeps.waits) == 25 and min(sleeps.waits) >= 0.5
    assert len(mailchimp.upsert_calls()) == 3


def test_never_more_than_ten_connections(store_path: Path, mailchimp: FakeMailchimp) -> None:
    report = run(store_path, mailchimp, batch_size=20)

    assert report.outcomes["created"] == N
    assert len(mailchimp.upsert_calls()) == N // 20
    assert 1 <= mailchimp.max_in_flight <= 10
    assert mailchimp.concurrency_rejections == 0


def test_a_poisoned_row_does_not_stop_the_batch_and_is_retried(
        store_path: Path, mailchimp: FakeMailchimp) -> None:
    mailchimp.poisoned = {email(10)}       # refused inside a 200 answer
    mailchimp.batch_killers = {email(20)}  # makes Mailchimp refuse its whole request

    report = run(store_path, mailchimp, batch_size=8)

    assert report.outcomes["created"] == N - 2 and report.failed == 2
    assert len(mailchimp.members) == N - 2
    # the killer's batch of 8 is halved to 4, 2, 1: four refusals, three good halves
    refused = [c for c in mailchimp.calls if c.path.endswith(mailchimp.list_id) and c.status == 400]
    assert len(refused) == 4
    assert len(mailchimp.upsert_calls()) == N // 8 - 1 + 3
    assert set(state(store_path)) == {f"c{i:05d}" for i in range(N)} - {"c00010", "c00020"}
    with Store(store_path) as store:
        failed = dict(store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                        "'failed'").fetchall())
        status = store.con.execute("SELECT status FROM runs WHERE kind = 'push'").fetchall()
    assert set(failed) == {"c00010", "c00020"}
    assert "looks fake or invalid" in failed["c00010"] and "@" not in failed["c00010"].split("*")[0]
    assert status == [("partial",)]

    mailchimp.poisoned, mailchimp.batch_killers = set(), set()
    mailchimp.reset_calls()
    again = run(store_path, mailchimp)

    assert again.outcomes["created"] == 2 and again.failed == 0
    assert [len(c.body["members"]) for c in mailchimp.upsert_calls()] == [2]
    assert len(mailchimp.members) == N and len(state(store_path)) == N


def test_dry_run_makes_no_write_call(store_path: Path, mailchimp: FakeMailchimp) -> None:
    report = run(store_path, mailchimp, dry_run=True)

    assert mailchimp.write_count() == 0
    assert report.planned == {"create": N} and report.moved == N
    assert len(report.sample["create"]) == 5
    assert all("@" in line and "***" in line for line in report.sample["create"])
    with Store(store_path) as store:
        assert store.con.execute("SELECT count(*) FROM push_state").fetchone() == (0,)
        assert store.con.execute("SELECT count(*) FROM runs WHERE kind = 'push'").fetchone() == (0,)

    run(store_path, mailchimp)
    add_points(store_path, [7, 8, 9])
    mailchimp.reset_calls()
    again = run(store_path, mailchimp, dry_run=True)

    assert again.planned == {"update": 3} and again.unchanged == N - 3
    assert mailchimp.write_count() == 0


def test_a_rule_segment_adds_and_removes_its_tag(store_path: Path,
                                                 mailchimp: FakeMailchimp) -> None:
    rule = Segmentation.from_rule("win_back", "days_since_last_order >= 120 and total_spent > 1200")
    fields = ["orders", "total_spent", "last_order"]  # RFM scores would shift for everyone
    first = run(store_path, mailchimp, segmentation=rule, fields=fields)
    members = mailchimp.segment_members("win_back")
    with Store(store_path) as store:
        expected = store.con.execute("""
            SELECT count(*) FROM (SELECT customer_id, max(placed_at) AS last_at, sum(total) AS spent
            FROM orders GROUP BY 1) WHERE last_at <= TIMESTAMP '2024-07-01' - INTERVAL 120 DAY
            AND spent > 1200""").fetchone()
    assert expected is not None and first.outcomes["created"] == expected[0] == len(members) > 0
    leaving = sorted(members)[0]
    i = int(leaving[len("cliente"):len("cliente") + 5])
    with Store(store_path) as store:
        fresh = orders_for(i)[0].model_copy(update={"order_id": "back",
                                                    "placed_at": AS_OF - timedelta(hours=1)})
        store.upsert([fresh])
    mailchimp.reset_calls()

    second = run(store_path, mailchimp, segmentation=rule, fields=fields)

    assert second.outcomes == {"removed": 1, "skipped": 0}
    assert leaving not in mailchimp.segment_members("win_back")
    assert mailchimp.member(leaving) is not None  # still a member, just not tagged
    assert len(mailchimp.tag_calls()) == 1 and mailchimp.write_count() == 1


class TestMailchimpContract(DestinationContract):
    name, distribution = "mailchimp", "clientela-mailchimp"
    kill_settings: ClassVar[dict[str, Any]] = {"batch_size": 10, "max_connections": 1}
    store_databases = ("duckdb", "postgres")  # the push on a PostgreSQL store too

    @pytest.fixture
    def fake(self) -> Iterator[FakeMailchimp]:
        with FakeMailchimp() as server:
            yield server

    def settings(self, fake: FakeMailchimp, **options: Any) -> dict[str, Any]:
        return {"api_key": API_KEY, "list_id": fake.list_id, "base_url": fake.url, **options}

    def build(self, fake: FakeMailchimp, sleep: Any, **options: Any) -> MailchimpDestination:
        return MailchimpDestination(MailchimpConfig(**self.settings(fake, **options)),
                                    sleep=sleep)

    def audience(self, fake: FakeMailchimp) -> dict[str, str | None]:
        def segment(address: str) -> str | None:
            tags = sorted(fake.tags_of(address))
            return tags[0].split(": ", 1)[1] if tags else None
        return {m.email: segment(m.email) for m in fake.members.values()}

    def subscribed(self, fake: FakeMailchimp) -> set[str]:
        return {m.email for m in fake.members.values() if m.status == "subscribed"}

    def opt_out(self, fake: FakeMailchimp, address: str) -> None:
        fake.unsubscribe(address)

    def storm_wait(self, fake: FakeMailchimp) -> float:
        # mailchimp-marketing drops the answer's headers, Retry-After included: the shared
        # policy's wait for a 429 that says nothing
        return RetryPolicy().throttle_default
