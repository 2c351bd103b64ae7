"""The push engine with SendGrid against its fake: budgets, jobs, consent, suppressions, faults."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_sendgrid import SendGridConfig, SendGridDestination, floor

from clientela.consent import ConsentEvent, record
from clientela.destinations.forget import forget
from clientela.destinations.push import PushReport
from clientela.store import Store
from clientela.testing.destination_contract import DestinationContract

from .conftest import N, Sleeps
from .fakes.sendgrid import FakeSendGrid
from .helpers import (
    add_points,
    build_store,
    email,
    order_today,
    orders_for,
    push_then_close,
    segment_sizes,
    state,
)

API_KEY = "SG.fake-key"
SETUP = 9 + 11
"""First push only: 9 custom fields (no CLV table in this store) and 11 RFM lists."""
POLL = 0.25
NOW = 1_700_000_000.0
"""The client's clock; the fake's X-RateLimit-Reset is 60 s later."""


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(API_KEY) as fake:
        yield fake


def open_sendgrid(fake: FakeSendGrid, sleeps: Any = None, **options: Any) -> SendGridDestination:
    config = SendGridConfig(api_key=API_KEY, base_url=fake.url, poll_interval=POLL, **options)
    return SendGridDestination(config, sleep=sleeps or (lambda s: None), clock=lambda: NOW)


def run(path: Path, fake: FakeSendGrid, *, sleeps: Any = None, dry_run: bool = False,
        **options: Any) -> PushReport:
    return push_then_close(path, "sendgrid", open_sendgrid(fake, sleeps, **options),
                           dry_run=dry_run)


def failed(path: Path) -> dict[str, str]:
    with Store(path) as store:
        return dict(store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                      "'failed'").fetchall())


def logged_segment(path: Path, customer_id: str) -> str:
    with Store(path) as store:
        row = store.con.execute("SELECT segment FROM push_log WHERE customer_id = ? ORDER BY "
                                "logged_at LIMIT 1", [customer_id]).fetchone()
    assert row is not None
    return str(row[0])


def move_to_a_new_segment(path: Path, who: int) -> None:
    order_today(path, [who], tag="fresh")  # R becomes 5, the segment moves


def test_first_push_lands_everyone_in_their_list_at_the_floor(
        store_path: Path, sendgrid: FakeSendGrid, sleeps: Sleeps) -> None:
    report = run(store_path, sendgrid, sleeps=sleeps)

    sizes = segment_sizes(store_path)
    assert report.outcomes["created"] == N and report.failed == 0
    assert len(sizes) == 11
    assert len(sendgrid.upsert_calls()) == floor(sizes, 0, {}) == 11
    assert sendgrid.write_count() == 11 + SETUP
    assert len(sendgrid.setup_calls()) == SETUP
    for call in sendgrid.upsert_calls():  # one list per request, custom fields by id
        assert len(call.body["list_ids"]) == 1
        assert all(set(c["custom_fields"]) <= set(sendgrid.fields) for c in call.body["contacts"])
    for segment, size in sizes.items():
        assert len(sendgrid.list_members(f"rfm: {segment}")) == size
    kept = state(store_path)
    for i in (0, 1, 599, N - 1):
        current = kept[f"c{i:05d}"][0]
        assert sendgrid.lists_of(email(i)) == {f"rfm: {current}"}
        values = sendgrid.values(email(i))
        orders = orders_for(i)
        assert values["clientela_orders"] == len(orders)
        assert values["clientela_total_spent"] == float(sum(o.total for o in orders))
        assert values["clientela_rfm_segment"] == current
        last = max(o.placed_at for o in orders).date()
        assert values["clientela_last_order"] == last.strftime("%m/%d/%Y")
    # every job polled to its end: pending once, then completed; one wait between rounds
    assert sendgrid.polls() == 2 * 11
    assert sleeps.waits == [POLL]
    assert sendgrid.violations == []


def test_one_percent_changed_is_one_upsert_without_lists(store_path: Path,
                                                         sendgrid: FakeSendGrid) -> None:
    run(store_path, sendgrid)
    add_points(store_path, list(range(0, N, 100)), points=250)  # 12 people, no RFM move
    sendgrid.reset_calls()

    report = run(store_path, sendgrid)

    assert report.outcomes == {"updated": 12, "skipped": 0} and report.moved == 0
    assert sendgrid.write_count() == 1 == floor({}, 12, {})
    (call,) = sendgrid.upsert_calls()
    assert "list_ids" not in call.body and len(call.body["contacts"]) == 12
    assert sendgrid.values(email(100))["clientela_loyalty_points"] == 250
    assert len(sendgrid.contacts) == N


def test_a_contact_who_moves_leaves_the_old_list(store_path: Path, sendgrid: FakeSendGrid) -> None:
    run(store_path, sendgrid)
    kept = state(store_path)
    who = next(i for i in range(N) if kept[f"c{i:05d}"][0] == "Lost")
    move_to_a_new_segment(store_path, who)
    sendgrid.reset_calls()

    report = run(store_path, sendgrid)

    now = state(store_path)[f"c{who:05d}"][0]
    assert now not in (None, "Lost") and report.outcomes["updated"] >= 1
    assert sendgrid.lists_of(email(who)) == {f"rfm: {now}"}
    moved = report.moved
    removals = sendgrid.list_removals()
    assert sum(len(c.query["contact_ids"].split(",")) for c in removals) == moved
    assert all(c.path.endswith("/contacts") for c in removals)
    assert report.failed == 0


def test_consent_decides_who_is_added_and_who_leaves(tmp_path: Path,
                                                     sendgrid: FakeSendGrid) -> None:
    path = tmp_path / "consent.duckdb"
    build_store(path, 40, {1: "unknown", 2: "pending", 3: "unsubscribed"})

    report = run(path, sendgrid)

    assert report.planned == {"create": 37, "skip": 3}
    assert all(sendgrid.contact(email(i)) is None for i in (1, 2, 3))
    with Store(path) as store:
        skipped = store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                    "'skipped' ORDER BY 1").fetchall()
        # customer 5 unsubscribes in the store after being pushed
        record(store, [ConsentEvent(customer_id="c00005", channel="email", purpose="marketing",
                                    status="opted_out", address=email(5),
                                    occurred_at=datetime.now(UTC), source="import",
                                    evidence="form")])
    assert skipped == [("c00001", "no e-mail consent (unknown)"),
                       ("c00002", "no e-mail consent (pending)"),
                       ("c00003", "no e-mail consent (unsubscribed)")]
    was = state(path)["c00005"][0]
    assert sendgrid.lists_of(email(5)) == {f"rfm: {was}"}
    sendgrid.reset_calls()

    second = run(path, sendgrid)

    assert second.planned == {"remove": 1, "skip": 3}
    assert second.outcomes == {"removed": 1, "skipped": 3}
    assert sendgrid.lists_of(email(5)) == set()      # out of the list...
    assert sendgrid.contact(email(5)) is not None    # ...but not deleted
    assert sendgrid.upsert_calls() == [] and len(sendgrid.list_removals()) == 1
    assert "c00005" not in state(path)

    with Store(path) as store:  # consent given again: back in as new
        record(store, [ConsentEvent(customer_id="c00005", channel="email", purpose="marketing",
                                    status="opted_in", address=email(5),
                                    occurred_at=datetime.now(UTC), source="import",
                                    evidence="form")])
    third = run(path, sendgrid)
    assert third.outcomes == {"created": 1, "skipped": 3}
    assert sendgrid.lists_of(email(5)) == {f"rfm: {was}"}


def test_suppressed_addresses_are_never_added(tmp_path: Path, sendgrid: FakeSendGrid) -> None:
    path = tmp_path / "suppressed.duckdb"
    build_store(path, 40)
    sendgrid.global_unsubscribes = {email(7)}
    sendgrid.group_unsubscribes = {42: {email(8)}, 43: {email(9)}}

    report = run(path, sendgrid)

    assert report.planned == {"create": 37, "skip": 3}
    assert sendgrid.violations == []
    assert all(sendgrid.contact(email(i)) is None for i in (7, 8, 9))
    with Store(path) as store:
        skipped = store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                    "'skipped' ORDER BY 1").fetchall()
    assert skipped == [("c00007", "suppressed in SendGrid (global unsubscribe)"),
                       ("c00008", "suppressed in SendGrid (unsubscribe group 42)"),
                       ("c00009", "suppressed in SendGrid (unsubscribe group 43)")]

    # group 42 is not this store's mail: in another store, its suppressions are not read
    other = tmp_path / "other.duckdb"
    build_store(other, 40)
    sendgrid.reset_calls()
    only = run(other, sendgrid, suppression_groups=[43])

    assert only.outcomes == {"created": 38, "skipped": 2}
    assert sendgrid.contact(email(8)) is not None and sendgrid.violations == [email(8)]
    with Store(path) as store:  # the first store learned all three as opt-outs
        learned = store.con.execute("SELECT customer_id, source FROM consent_events WHERE "
                                    "status = 'opted_out' ORDER BY 1").fetchall()
    assert learned == [("c00007", "sendgrid"), ("c00008", "sendgrid"), ("c00009", "sendgrid")]

    sendgrid.violations.clear()
    sendgrid.global_unsubscribes.add(email(10))  # unsubscribes after being pushed
    add_points(path, [10, 11])
    sendgrid.reset_calls()
    later = run(path, sendgrid)

    assert later.outcomes["removed"] == 1 and later.outcomes["updated"] == 1
    assert sendgrid.lists_of(email(10)) == set() and sendgrid.violations == []
    assert [len(c.body["contacts"]) for c in sendgrid.upsert_calls()] == [1]


def test_a_429_storm_waits_for_the_rate_limit_reset(store_path: Path, sendgrid: FakeSendGrid,
                                                    sleeps: Sleeps) -> None:
    sendgrid.faults.every_nth_throttled = 3  # a steady storm: every third request, PUTs too

    report = run(store_path, sendgrid, sleeps=sleeps, max_attempts=5)

    assert report.outcomes["created"] == N and report.failed == 0
    # 57 calls must succeed: 2 suppression reads, 2 + 20 setup, 11 PUTs, 22 polls
    assert len(sendgrid.calls) == 85
    throttled = [c for c in sendgrid.calls if c.status == 429]
    assert len(throttled) == 28
    retries = [w for w in sleeps.waits if w != POLL]
    assert len(retries) == 28 and min(retries) == 60.0  # X-RateLimit-Reset minus now
    assert any(c.method == "PUT" for c in throttled)
    assert len(sendgrid.upsert_calls()) == 11 and len(sendgrid.contacts) == N


def test_a_poisoned_row_fails_alone_and_is_retried(store_path: Path,
                                                   sendgrid: FakeSendGrid) -> None:
    sendgrid.poisoned = {email(10)}       # refused by the import job (errors file)
    sendgrid.batch_killers = {email(20)}  # makes the PUT itself fail with 400

    report = run(store_path, sendgrid)

    assert report.outcomes["created"] == N - 2 and report.failed == 2
    assert len(sendgrid.contacts) == N - 2
    errors = failed(store_path)
    assert set(errors) == {"c00010", "c00020"}
    assert "not valid for Marketing Campaigns" in errors["c00010"]
    assert "email is invalid" in errors["c00020"] and "@" not in errors["c00020"].split("*")[0]
    # the killer's request is halved until it stands alone: one refusal per level
    with Store(store_path) as store:
        group = [r[0] for r in store.con.execute(
            "SELECT customer_id FROM push_log WHERE segment = ? ORDER BY customer_id",
            [logged_segment(store_path, "c00020")]).fetchall()]
    refused = [c for c in sendgrid.calls if c.method == "PUT" and c.status == 400]
    assert len(refused) == halvings(len(group), group.index("c00020"))
    assert set(state(store_path)) == {f"c{i:05d}" for i in range(N)} - {"c00010", "c00020"}

    sendgrid.poisoned, sendgrid.batch_killers = set(), set()
    sendgrid.reset_calls()
    again = run(store_path, sendgrid)

    assert again.outcomes["created"] == 2 and again.failed == 0
    segments = {logged_segment(store_path, "c00010"), logged_segment(store_path, "c00020")}
    assert len(sendgrid.upsert_calls()) == len(segments)
    assert len(sendgrid.contacts) == N and len(state(store_path)) == N


def halvings(size: int, position: int) -> int:
    """Requests `isolate` sends that contain the bad row: one per halving, down to one row."""
    count, start, end = 1, 0, size
    while end - start > 1:
        middle = start + (end - start) // 2
        start, end = (start, middle) if position < middle else (middle, end)
        count += 1
    return count


def test_a_failed_or_unreadable_job_fails_its_contacts_for_the_next_push(
        store_path: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.failing_jobs = 1                 # the first job to run fails as a whole
    sendgrid.poisoned = {email(3)}
    sendgrid.silent_errors = 1                # ...and the errored job gives no errors file

    report = run(store_path, sendgrid)

    sizes = {}
    with Store(store_path) as store:
        for segment, count in store.con.execute("SELECT segment, count(*) FROM push_log "
                                                "GROUP BY 1").fetchall():
            sizes[segment] = count
    errors = failed(store_path)
    failed_job = [e for e in errors.values() if e.endswith("failed")]
    unreadable = [e for e in errors.values() if "could not be read" in e]
    poisoned_segment = logged_segment(store_path, "c00003")
    assert len(unreadable) == sizes[poisoned_segment]
    assert len(failed_job) == report.failed - len(unreadable) > 0
    assert len(failed_job) in sizes.values()
    assert report.outcomes["created"] == N - report.failed
    assert len(sendgrid.contacts) == N - len(failed_job) - 1  # the errored job applied the rest

    sendgrid.poisoned = set()
    again = run(store_path, sendgrid)

    assert again.outcomes["created"] == report.failed and again.failed == 0
    assert len(sendgrid.contacts) == N and len(state(store_path)) == N


def test_requests_are_cut_at_the_byte_limit_too(store_path: Path, sendgrid: FakeSendGrid) -> None:
    sendgrid.max_bytes = 20_000

    report = run(store_path, sendgrid, max_request_bytes=20_000)

    assert report.outcomes["created"] == N and report.failed == 0
    puts = sendgrid.upsert_calls()
    assert all(c.size <= 20_000 for c in puts)
    assert not [c for c in sendgrid.calls if c.status == 413]
    total = sum(len(json.dumps(contact)) + 1 for c in puts for contact in c.body["contacts"])
    assert len(puts) >= max(11, math.ceil(total / 20_000))
    assert len(puts) <= 11 + math.ceil(total / (20_000 - 600))


def test_the_fake_refuses_what_sendgrid_refuses(sendgrid: FakeSendGrid) -> None:
    def put(body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(f"{sendgrid.url}/v3/marketing/contacts", method="PUT",
                                         data=json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {API_KEY}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    many = {"contacts": [{"email": f"p{i}@example.com"} for i in range(30_001)]}
    status, body = put(many)
    assert status == 400 and body["errors"][0]["field"] == "contacts"
    sendgrid.max_bytes = 1_000
    status, body = put({"contacts": [{"email": f"p{i}@example.com"} for i in range(100)]})
    assert status == 413 and "maximum" in body["errors"][0]["message"]
    sendgrid.max_bytes = 10**9
    status, body = put({"contacts": [{"email": "a@example.com",
                                      "custom_fields": {"clientela_orders": 3}}]})
    assert (status, body["errors"][0]["message"]) == (400, "invalid custom field ids supplied")
    status, body = put({"contacts": [{"email": "a@example.com"}]})
    assert status == 202 and sendgrid.contact("a@example.com") is None  # not before the job ran


def test_forget_deletes_the_contact(store_path: Path, sendgrid: FakeSendGrid) -> None:
    run(store_path, sendgrid)
    person = email(42)
    opener = {"sendgrid": lambda: open_sendgrid(sendgrid)}
    sendgrid.reset_calls()

    with Store(store_path) as store:
        report = forget(store, person.upper(), opener)

    assert report.done and report.outcomes == {"sendgrid": "deleted"}
    assert sendgrid.contact(person) is None
    (delete,) = sendgrid.writes()
    assert (delete.method, delete.path) == ("DELETE", "/v3/marketing/contacts")
    assert "@" not in delete.query["ids"]
    assert open_sendgrid(sendgrid).forget(person).status == "absent"
    assert "c00042" not in state(store_path)


class TestSendGridContract(DestinationContract):
    name, distribution = "sendgrid", "clientela-sendgrid"
    kill_settings: ClassVar[dict[str, Any]] = {"batch_size": 10, "max_connections": 1, "poll_interval": 0.01}

    @pytest.fixture
    def fake(self) -> Iterator[FakeSendGrid]:
        with FakeSendGrid(API_KEY) as server:
            yield server

    def settings(self, fake: FakeSendGrid, **options: Any) -> dict[str, Any]:
        return {"api_key": API_KEY, "base_url": fake.url, "poll_interval": POLL, **options}

    def build(self, fake: FakeSendGrid, sleep: Any, **options: Any) -> SendGridDestination:
        return SendGridDestination(SendGridConfig(**self.settings(fake, **options)),
                                   sleep=sleep, clock=lambda: NOW)

    def audience(self, fake: FakeSendGrid) -> dict[str, str | None]:
        def segment(address: str) -> str | None:
            lists = sorted(fake.lists_of(address))
            return lists[0].split(": ", 1)[1] if lists else None
        return {c.email.lower(): segment(c.email) for c in fake.contacts.values()}

    def subscribed(self, fake: FakeSendGrid) -> set[str]:
        return {c.email.lower() for c in fake.contacts.values()
                if c.list_ids and c.email.lower() not in fake.global_unsubscribes}

    def opt_out(self, fake: FakeSendGrid, address: str) -> None:
        fake.global_unsubscribes.add(address)

    def storm_wait(self, fake: FakeSendGrid) -> float:
        return 60.0  # the fake sends no Retry-After: X-RateLimit-Reset minus now

    def extra_unchanged(self, fake: FakeSendGrid) -> None:
        # nothing but the consent read: new global unsubscribes, and the group suppressions
        assert [(c.method, c.path) for c in fake.calls] == [
            ("GET", "/v3/suppression/unsubscribes"), ("GET", "/v3/asm/suppressions")]
