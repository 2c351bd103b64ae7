"""The push engine with HubSpot against its fake: budgets, consent, 207 rows, 429 storms, forget."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from clientela_hubspot import HubSpotConfig, HubSpotDestination

from clientela.destinations.contacts import Segmentation
from clientela.destinations.forget import forget
from clientela.destinations.push import PushReport
from clientela.http import HttpError
from clientela.segments.rfm import DEFAULT_SEGMENTS
from clientela.store import Store
from clientela.testing.destination_contract import DestinationContract

from .conftest import N, Sleeps
from .fakes.hubspot import FakeHubSpot
from .helpers import (
    AS_OF,
    add_points,
    build_store,
    email,
    learned_opt_outs,
    orders_for,
    push_then_close,
    segment_sizes,
    state,
)

TOKEN = "pat-na1-fake"
SEGMENT = "clientela_segment_rfm"
SETUP = 2
"""First push only: the property group, then every property in one batch/create."""


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN) as fake:
        yield fake


def open_hubspot(fake: FakeHubSpot, sleeps: Any = None, **options: Any) -> HubSpotDestination:
    config = HubSpotConfig(access_token=TOKEN, base_url=fake.url, **options)
    return HubSpotDestination(config, sleep=sleeps or (lambda s: None))


def run(path: Path, fake: FakeHubSpot, *, sleeps: Any = None, dry_run: bool = False,
        segmentation: Segmentation | None = None, fields: list[str] | None = None,
        **options: Any) -> PushReport:
    return push_then_close(path, "hubspot", open_hubspot(fake, sleeps, **options),
                           segmentation, dry_run=dry_run, fields=fields)


def failed(path: Path) -> dict[str, str]:
    with Store(path) as store:
        return dict(store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                      "'failed'").fetchall())


def test_first_push_upserts_everyone_at_the_floor(store_path: Path, hubspot: FakeHubSpot) -> None:
    report = run(store_path, hubspot)

    sizes = segment_sizes(store_path)
    assert report.outcomes["created"] == N and report.failed == 0
    assert len(hubspot.upsert_calls()) == math.ceil(N / 100) == 12
    assert hubspot.write_count() == 12 + SETUP
    assert all(len(c.body["inputs"]) <= 100 for c in hubspot.upsert_calls())
    assert all(i["idProperty"] == "email" for c in hubspot.upsert_calls() for i in c.body["inputs"])
    assert hubspot.reads() == []  # everyone has consent: no lookup needed
    assert len(hubspot.contacts) == N
    segment = hubspot.properties[SEGMENT]
    assert segment["type"] == "enumeration" and segment["groupName"] == "clientela"
    assert {o["value"] for o in segment["options"]} == {r.segment for r in DEFAULT_SEGMENTS}
    assert set(sizes) <= {r.segment for r in DEFAULT_SEGMENTS}
    kept = state(store_path)
    for i in (0, 1, 599, N - 1):
        props = hubspot.contact(email(i)).properties  # type: ignore[union-attr]
        orders = orders_for(i)
        assert props[SEGMENT] == kept[f"c{i:05d}"][0]
        assert props["clientela_orders"] == str(len(orders))
        assert float(props["clientela_total_spent"]) == float(sum(o.total for o in orders))
        assert props["clientela_last_order"] == max(o.placed_at for o in orders).date().isoformat()
    assert hubspot.violations == []


def test_one_percent_changed_is_one_call(store_path: Path, hubspot: FakeHubSpot) -> None:
    run(store_path, hubspot)
    add_points(store_path, list(range(0, N, 100)), points=250)
    hubspot.reset_calls()

    report = run(store_path, hubspot)

    assert report.outcomes == {"updated": 12, "skipped": 0}
    assert [len(c.body["inputs"]) for c in hubspot.upsert_calls()] == [12]
    assert hubspot.write_count() == 1
    assert hubspot.contact(email(100)).properties["clientela_loyalty_points"] == "250"  # type: ignore[union-attr]


def test_a_move_is_the_same_upsert_and_a_rule_exit_clears_the_property(
        store_path: Path, hubspot: FakeHubSpot) -> None:
    rule = Segmentation.from_rule("win_back", "days_since_last_order >= 120 and total_spent > 1200")
    fields = ["orders", "total_spent", "last_order"]
    first = run(store_path, hubspot, segmentation=rule, fields=fields)
    members = sorted(e for e, c in hubspot.contacts.items()
                     if c.properties.get("clientela_segment_win_back") == "win_back")
    assert first.outcomes["created"] == len(members) > 0
    leaving = members[0]
    i = int(leaving[len("cliente"):len("cliente") + 5])
    with Store(store_path) as store:
        fresh = orders_for(i)[0].model_copy(update={"order_id": "back",
                                                    "placed_at": AS_OF - timedelta(hours=1)})
        store.upsert([fresh])
    hubspot.reset_calls()

    second = run(store_path, hubspot, segmentation=rule, fields=fields)

    assert second.outcomes == {"removed": 1, "skipped": 0}
    assert hubspot.contact(leaving).properties["clientela_segment_win_back"] == ""  # type: ignore[union-attr]
    assert [c.body["inputs"] for c in hubspot.upsert_calls()] == [
        [{"idProperty": "email", "id": leaving,
          "properties": {"clientela_segment_win_back": ""}}]]
    assert len(hubspot.reads()) == 1  # a remove is looked up: never re-create anyone


def test_consent_decides_who_is_created_and_nobody_is_subscribed(
        tmp_path: Path, hubspot: FakeHubSpot) -> None:
    path = tmp_path / "consent.duckdb"
    build_store(path, 40, {1: "unknown", 2: "pending", 3: "unsubscribed", 4: "unsubscribed"})
    hubspot.add_contact(email(4), hs_marketable_status="false")  # a CRM record already

    report = run(path, hubspot)

    assert report.planned == {"create": 36, "unsubscribe": 1, "skip": 3}
    assert all(hubspot.contact(email(i)) is None for i in (1, 2, 3))
    four = hubspot.contact(email(4))  # held without consent: only its segment is cleared
    assert four is not None and four.properties["hs_marketable_status"] == "false"
    assert four.properties.get(SEGMENT) == "" and "clientela_orders" not in four.properties
    assert hubspot.violations == []
    sent = [i for c in hubspot.upsert_calls() for i in c.body["inputs"]]
    assert not any(set(i["properties"]) - {SEGMENT} - {p for p in i["properties"]
                                                       if p.startswith("clientela_")}
                   for i in sent)
    (read,) = hubspot.reads()
    assert sorted(i["id"] for i in read.body["inputs"]) == sorted(email(i) for i in (1, 2, 3, 4))
    with Store(path) as store:
        skipped = store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                    "'skipped' ORDER BY 1").fetchall()
    assert skipped == [("c00001", "no e-mail consent (unknown)"),
                       ("c00002", "no e-mail consent (pending)"),
                       ("c00003", "no e-mail consent (unsubscribed)")]

    double = run(path, hubspot, double_opt_in=True)

    assert double.outcomes == {"created": 2, "skipped": 1}
    assert hubspot.contact(email(3)) is None and hubspot.violations == []

    del hubspot.contacts[email(4)]  # deleted in HubSpot by someone; the store still says no
    add_points(path, [4])
    again = run(path, hubspot)
    assert again.outcomes == {"skipped": 2} and hubspot.contact(email(4)) is None


@pytest.mark.parametrize(("retry_after", "least"), [(None, 10.0), ("3", 3.0)])
def test_a_429_storm_is_retried_on_post(store_path: Path, hubspot: FakeHubSpot, sleeps: Sleeps,
                                        retry_after: str | None, least: float) -> None:
    hubspot.faults.every_nth_throttled = 3  # a steady storm: every third request, POSTs too
    hubspot.faults.retry_after = retry_after  # None: HubSpot's usual, only the window header

    report = run(store_path, hubspot, sleeps=sleeps, max_attempts=5)

    assert report.outcomes["created"] == N and report.failed == 0
    # 17 calls must succeed (the opt-out search, 2 reads, 2 setup writes, 12 upserts);
    # request 3k is throttled
    assert len(hubspot.calls) == 25
    throttled = [c for c in hubspot.calls if c.status == 429]
    assert len(throttled) == 8 == len(sleeps.waits) and min(sleeps.waits) == least
    assert any(c.method == "POST" and c.path.endswith("/batch/upsert") for c in throttled)
    assert len(hubspot.upsert_calls()) == 12 and len(hubspot.contacts) == N


def test_a_daily_limit_is_not_waited_out(store_path: Path, hubspot: FakeHubSpot,
                                         sleeps: Sleeps) -> None:
    original = hubspot.throttled

    def daily(retry_after: str | None) -> Any:
        reply = original(retry_after)
        reply.body["policyName"] = "DAILY"
        return reply

    hubspot.throttled = daily  # type: ignore[method-assign]
    hubspot.faults.every_nth_throttled = 1

    with pytest.raises(Exception, match="daily API limit"):
        run(store_path, hubspot, sleeps=sleeps)
    assert sleeps.waits == []


def test_a_poisoned_row_in_a_207_fails_alone_and_is_retried(store_path: Path,
                                                            hubspot: FakeHubSpot) -> None:
    hubspot.poisoned = {email(10)}       # refused inside a 207 multi-status answer
    hubspot.batch_killers = {email(20)}  # makes HubSpot refuse its whole batch (400)

    report = run(store_path, hubspot)

    assert report.outcomes["created"] == N - 2 and report.failed == 2
    assert len(hubspot.contacts) == N - 2
    errors = failed(store_path)
    assert set(errors) == {"c00010", "c00020"}
    assert errors["c00010"].startswith("VALIDATION_ERROR: Contact c") and "@" in errors["c00010"]
    assert "example.com" not in errors["c00010"]  # masked
    assert "Property values were not valid" in errors["c00020"]
    # the killer's batch of 100 is halved to 50, 25, 12, 6, 3, 1 (or 2 then 1): refusals per level
    refused = [c for c in hubspot.calls if c.path.endswith("/batch/upsert") and c.status == 400]
    killer_batch = next(c.body["inputs"] for c in hubspot.calls if c.status == 400)
    ids = [i["id"] for i in killer_batch]
    assert len(refused) == halvings(len(ids), ids.index(email(20)))
    assert [c.status for c in hubspot.upsert_calls()].count(207) == 1
    assert set(state(store_path)) == {f"c{i:05d}" for i in range(N)} - {"c00010", "c00020"}

    hubspot.poisoned, hubspot.batch_killers = set(), set()
    hubspot.reset_calls()
    again = run(store_path, hubspot)

    assert again.outcomes["created"] == 2 and again.failed == 0
    assert [len(c.body["inputs"]) for c in hubspot.upsert_calls()] == [2]
    assert len(hubspot.contacts) == N and len(state(store_path)) == N


def halvings(size: int, position: int) -> int:
    count, start, end = 1, 0, size
    while end - start > 1:
        middle = start + (end - start) // 2
        start, end = (start, middle) if position < middle else (middle, end)
        count += 1
    return count


def test_an_unconfirmed_row_is_never_counted_as_sent() -> None:
    from clientela.destinations.api import Change, Contact

    rows = [Change(Contact(f"c{i}", f"p{i}@example.com", "subscribed", "A", {}), "create")
            for i in range(3)]
    answer = {"status": "COMPLETE", "results": [
        {"id": "1", "properties": {"email": "p0@example.com"}},
        {"id": "2", "properties": {"email": "p2@example.com"}}]}

    outcomes = HubSpotDestination._settle(rows, answer)

    assert [(o.customer_id, o.ok) for o in outcomes] == [("c0", True), ("c1", False), ("c2", True)]
    assert outcomes[1].error == "HubSpot's answer did not confirm this contact"


def test_the_fake_refuses_what_hubspot_refuses(hubspot: FakeHubSpot) -> None:
    def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(f"{hubspot.url}{path}", method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    upsert = "/crm/v3/objects/contacts/batch/upsert"
    many = {"inputs": [{"idProperty": "email", "id": f"p{i}@example.com", "properties": {}}
                       for i in range(101)]}
    status, body = post(upsert, many)
    assert status == 400 and body["category"] == "VALIDATION_ERROR" and "101" in body["message"]
    twice = {"inputs": [{"idProperty": "email", "id": "a@example.com", "properties": {}}] * 2}
    assert post(upsert, twice)[0] == 409
    status, body = post(upsert, {"inputs": [{"idProperty": "email", "id": "a@example.com",
                                             "properties": {"nope": "1"}}]})
    assert status == 400 and "does not exist" in body["message"]
    hubspot.poisoned = {"b@example.com"}
    status, body = post(upsert, {"inputs": [
        {"idProperty": "email", "id": "a@example.com", "properties": {}},
        {"idProperty": "email", "id": "b@example.com", "properties": {}}]})
    assert status == 207 and body["numErrors"] == 1 and len(body["results"]) == 1
    assert body["errors"][0]["context"] == {"ids": ["b@example.com"]}


def test_forget_is_a_gdpr_delete(store_path: Path, hubspot: FakeHubSpot) -> None:
    run(store_path, hubspot)
    person = email(42)
    opener = {"hubspot": lambda: open_hubspot(hubspot)}
    hubspot.reset_calls()

    with Store(store_path) as store:
        report = forget(store, person.upper(), opener)

    assert report.done and report.outcomes == {"hubspot": "deleted"}
    assert hubspot.contact(person) is None and hubspot.gdpr_deleted == [person]
    (delete,) = hubspot.writes()
    assert delete.path == "/crm/v3/objects/contacts/gdpr-delete"
    assert delete.body == {"objectId": person, "idProperty": "email"}
    assert open_hubspot(hubspot).forget("nobody@example.com").status == "absent"
    assert hubspot.gdpr_deleted == [person]  # an absent address is not blocklisted
    assert "c00042" not in state(store_path)


def test_opt_outs_and_hard_bounces_are_read_back_never_opt_ins(hubspot: FakeHubSpot) -> None:
    from clientela_hubspot.optouts import parse_modified

    for i in range(5):
        hubspot.add_contact(email(i))
    hubspot.add_contact(email(5), hs_marketable_status="true")  # opted in there: not learned
    hubspot.unsubscribe(email(1))
    hubspot.hard_bounce(email(2), "MAILBOX_FULL")
    hubspot.unsubscribe(email(3))
    hubspot.hard_bounce(email(3))  # both: the unsubscribe is what it says
    opened = open_hubspot(hubspot)

    found = opened.read_consent(None)

    assert [(r.email, r.status, r.detail) for r in found] == [
        (email(1), "unsubscribed", "HubSpot: unsubscribed from all email (hs_email_optout)"),
        (email(2), "bounced", "HubSpot: hard bounce (MAILBOX_FULL)"),
        (email(3), "unsubscribed", "HubSpot: unsubscribed from all email (hs_email_optout)")]
    for item in found:  # dated when the contact last changed there, naive UTC
        assert item.occurred_at == parse_modified(
            hubspot.contact(item.email).properties["lastmodifieddate"])  # type: ignore[union-attr]
    (search,) = hubspot.searches()
    assert search.body["limit"] == 100 and search.body["sorts"] == [
        {"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert [g["filters"] for g in search.body["filterGroups"]] == [
        [{"propertyName": "hs_email_optout", "operator": "EQ", "value": "true"}],
        [{"propertyName": "hs_email_hard_bounce_reason_enum", "operator": "HAS_PROPERTY"}]]
    assert hubspot.write_count() == 0


def test_a_later_read_asks_only_for_what_changed_since(hubspot: FakeHubSpot) -> None:
    from datetime import UTC, datetime

    from clientela_hubspot.optouts import epoch_ms

    for i in range(3):
        hubspot.add_contact(email(i))
    hubspot.unsubscribe(email(0))
    hubspot.contact(email(0)).properties["lastmodifieddate"] = "2024-06-01T10:00:00.000Z"  # type: ignore[union-attr]
    hubspot.unsubscribe(email(1))
    hubspot.contact(email(1)).properties["lastmodifieddate"] = "2024-06-03T10:00:00.250Z"  # type: ignore[union-attr]
    since = datetime(2024, 6, 2, 12, 0)
    opened = open_hubspot(hubspot)

    found = opened.read_consent(since)

    assert [(r.email, r.occurred_at) for r in found] == [
        (email(1), datetime(2024, 6, 3, 10, 0, 0, 250_000))]
    ms = str(epoch_ms(since))
    assert ms == str(int(datetime(2024, 6, 2, 12, tzinfo=UTC).timestamp()) * 1000)
    (search,) = hubspot.searches()
    assert all({"propertyName": "lastmodifieddate", "operator": "GTE", "value": ms} in g["filters"]
               for g in search.body["filterGroups"])


def test_many_opt_outs_are_paged_paced_and_a_429_is_waited_out(hubspot: FakeHubSpot,
                                                               sleeps: Sleeps) -> None:
    for i in range(250):
        hubspot.add_contact(email(i))
        hubspot.unsubscribe(email(i))
    hubspot.search_throttles = 2  # the search limit answers 429 with Retry-After: 1
    opened = open_hubspot(hubspot, sleeps)

    found = opened.read_consent(None)

    assert sorted(r.email for r in found) == sorted(email(i) for i in range(250))
    pages = [c for c in hubspot.searches() if c.status == 200]
    assert [c.body["after"] for c in pages] == ["0", "100", "200"]
    assert len(hubspot.searches()) == 5 and sleeps.waits.count(1.0) == 2
    paced = [w for w in sleeps.waits if w != 1.0]  # pages 2 and 3 wait for the 4-a-second limit
    assert len(paced) <= 2 and all(0 < w <= 0.25 for w in paced)


def test_pages_are_paced_to_four_searches_a_second(hubspot: FakeHubSpot) -> None:
    from clientela.testing.fake_server import VirtualClock

    for i in range(1_000):
        hubspot.add_contact(email(i))
        hubspot.unsubscribe(email(i))
    clock = VirtualClock()
    hubspot.search_clock = clock  # HubSpot's window, on the time the client sleeps through
    opened = HubSpotDestination(HubSpotConfig(access_token=TOKEN, base_url=hubspot.url),
                                sleep=clock.sleep, clock=clock)

    found = opened.read_consent(None)

    assert len(found) == 1_000 and len(hubspot.searches()) == 10  # never a 429
    assert clock.slept == [0.25] * 9

    hubspot.reset_calls()
    hubspot.search_clock = lambda: 0.0  # one frozen second: only pacing keeps a read inside it
    unpaced = HubSpotDestination(HubSpotConfig(access_token=TOKEN, base_url=hubspot.url,
                                               throttle_attempts=1), sleep=lambda s: None)
    unpaced.optouts._pace = lambda: None  # type: ignore[method-assign]
    with pytest.raises(HttpError) as refused:
        unpaced.read_consent(None)
    assert refused.value.status == 429
    assert [c.status for c in hubspot.searches()] == [200] * 4 + [429]


def test_more_than_one_query_can_hold_starts_again_from_the_last_date(
        hubspot: FakeHubSpot, monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela_hubspot import optouts

    from .fakes import hubspot as fake_module

    monkeypatch.setattr(optouts, "SEARCH_CAP", 300)
    monkeypatch.setattr(fake_module, "SEARCH_CAP", 300)  # HubSpot's is 10,000
    for i in range(350):
        hubspot.add_contact(email(i))
        hubspot.unsubscribe(email(i))
        hubspot.contact(email(i)).properties["lastmodifieddate"] = fake_module.stamp(  # type: ignore[union-attr]
            1_717_200_000 + i)
    opened = open_hubspot(hubspot)

    found = opened.read_consent(None)

    assert sorted(r.email for r in found) == sorted(email(i) for i in range(350))
    searches = hubspot.searches()
    assert all(c.status == 200 for c in searches)  # never paged past the cap
    assert [c.body["after"] for c in searches] == ["0", "100", "200", "0"]
    restart = searches[-1].body["filterGroups"][0]["filters"][-1]
    assert restart == {"propertyName": "lastmodifieddate", "operator": "GTE",
                       "value": str((1_717_200_000 + 299) * 1000)}


def test_more_contacts_on_one_date_than_a_query_can_hold_is_a_failed_read_not_a_loop(
        hubspot: FakeHubSpot, monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela_hubspot import optouts

    from clientela.connectors import ConnectorError

    from .fakes import hubspot as fake_module

    monkeypatch.setattr(optouts, "SEARCH_CAP", 300)
    monkeypatch.setattr(fake_module, "SEARCH_CAP", 300)  # HubSpot's is 10,000
    for i in range(350):  # every one modified in the same second: no later date to restart at
        hubspot.add_contact(email(i))
        hubspot.unsubscribe(email(i))
        hubspot.contact(email(i)).properties["lastmodifieddate"] = fake_module.stamp(  # type: ignore[union-attr]
            1_717_200_000)
    seconds = iter(range(1_000))
    hubspot.search_clock = lambda: float(next(seconds))  # a second apart: never throttled
    opened = open_hubspot(hubspot)

    with pytest.raises(ConnectorError, match="more than 10,000 opted-out contacts share one "
                                             "lastmodifieddate"):
        opened.read_consent(None)

    searches = hubspot.searches()
    assert all(c.status == 200 for c in searches)  # never paged past the cap
    assert [c.body["after"] for c in searches] == ["0", "100", "200", "0", "100", "200"]


def test_an_opt_out_in_hubspot_reaches_the_store_and_clears_the_segment(
        store_path: Path, hubspot: FakeHubSpot) -> None:
    run(store_path, hubspot)
    hubspot.unsubscribe(email(7))
    hubspot.hard_bounce(email(8))
    hubspot.reset_calls()

    report = run(store_path, hubspot)

    assert report.consent["learned"] == 2
    evidence = learned_opt_outs(store_path, "hubspot", ["c00007", "c00008"], still="c00009")
    assert evidence == {
        "c00007": "unsubscribed at hubspot (HubSpot: unsubscribed from all email (hs_email_optout))",
        "c00008": "bounced at hubspot (HubSpot: hard bounce (BAD_MAILBOX))"}
    assert hubspot.contact(email(7)).properties[SEGMENT] == ""  # type: ignore[union-attr]
    assert hubspot.contact(email(8)).properties[SEGMENT] == ""  # type: ignore[union-attr]
    assert hubspot.violations == []  # the opt-out itself is never written back
    hubspot.reset_calls()
    assert run(store_path, hubspot).consent.get("learned", 0) == 0  # read once, not again


class TestHubSpotContract(DestinationContract):
    name, distribution = "hubspot", "clientela-hubspot"
    kill_settings: ClassVar[dict[str, Any]] = {"batch_size": 10, "max_connections": 1}

    @pytest.fixture
    def fake(self) -> Iterator[FakeHubSpot]:
        """A portal with HubSpot's default subscription types that already holds the store's
        opted-out customers (a CRM gets contacts from elsewhere too): each push
        unsubscribes them from the marketing type."""
        with FakeHubSpot(TOKEN) as server:
            for i in self.opted_out():
                server.add_contact(email(i))
            yield server

    def opted_out(self) -> list[int]:
        return [i for i, status in self.no_consent.items() if status == "unsubscribed"]

    def settings(self, fake: FakeHubSpot, **options: Any) -> dict[str, Any]:
        return {"access_token": TOKEN, "base_url": fake.url,
                "subscription_types": {"7400001": "marketing", "7400003": "relationship"},
                **options}

    def extra_after_kill(self, fake: FakeHubSpot) -> None:
        # every per-type unsubscribe, across the killed push and its re-run, sent once
        sent = sorted((c.body["emailAddress"], c.body["subscriptionId"])
                      for c in fake.unsubscribe_calls())
        assert sent == [(email(i), "7400001") for i in self.opted_out()]
        assert fake.violations == []

    def build(self, fake: FakeHubSpot, sleep: Any, **options: Any) -> HubSpotDestination:
        return HubSpotDestination(HubSpotConfig(**self.settings(fake, **options)), sleep=sleep)

    def audience(self, fake: FakeHubSpot) -> dict[str, str | None]:
        return {address.lower(): contact.properties.get(SEGMENT) or None
                for address, contact in fake.contacts.items()}

    def subscribed(self, fake: FakeHubSpot) -> set[str]:
        # a CRM record is never made marketable by a push; only HubSpot's own forms do that
        return {address.lower() for address, contact in fake.contacts.items()
                if contact.properties.get("hs_marketable_status") == "true"}

    def opt_out(self, fake: FakeHubSpot, address: str) -> None:
        fake.unsubscribe(address)

    def extra_unchanged(self, fake: FakeHubSpot) -> None:
        # the subscription types (the mapping is checked), the opt-out search (nothing new),
        # then one batch read, of the four without consent (are they there already?), no write
        assert [(c.method, c.path) for c in fake.calls] == [
            ("GET", "/communication-preferences/v3/definitions"),
            ("POST", "/crm/v3/objects/contacts/search"),
            ("POST", "/crm/v3/objects/contacts/batch/read")]
