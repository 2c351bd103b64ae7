"""HubSpot subscription types both ways, against the fake: per-type unsubscribes read back
into the ledger with their purpose, store opt-outs written to the types mapped to their
purpose, once, never a resubscribe, and the errors HubSpot answers on the way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clientela_hubspot import HubSpotConfig, HubSpotDestination
from clientela_hubspot.optouts import parse_modified
from pydantic import ValidationError

from clientela.config import ConfigError
from clientela.consent import ConsentEvent, can_contact, record
from clientela.destinations.contacts import Segmentation
from clientela.destinations.forget import forget
from clientela.destinations.push import PushReport
from clientela.http import HttpError
from clientela.store import Store

from .conftest import Sleeps
from .fakes.hubspot import FakeHubSpot, stamp
from .helpers import (
    AS_OF,
    add_points,
    build_store,
    customers,
    email,
    orders_for,
    push_then_close,
)

TOKEN = "pat-na1-fake"
SEGMENT = "clientela_segment_rfm"
TYPES = {"101": "marketing", "202": "marketing", "303": "relationship"}
"""Marketing Information and Newsletter stand for marketing, Order updates for relationship;
404 (Surveys) exists in the account and is left unmapped."""


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(TOKEN, types={}) as fake:
        fake.add_subscription_type("101", "Marketing Information")
        fake.add_subscription_type("202", "Newsletter")
        fake.add_subscription_type("303", "Order updates", purpose="Customer service")
        fake.add_subscription_type("404", "Surveys")
        yield fake


@pytest.fixture
def path(tmp_path: Path) -> Path:
    made = tmp_path / "store.duckdb"
    build_store(made, 40)
    return made


def open_hubspot(fake: FakeHubSpot, sleeps: Any = None, **options: Any) -> HubSpotDestination:
    options.setdefault("subscription_types", TYPES)
    config = HubSpotConfig(access_token=TOKEN, base_url=fake.url, **options)
    return HubSpotDestination(config, sleep=sleeps or (lambda s: None))


def run(path: Path, fake: FakeHubSpot, *, dry_run: bool = False, **options: Any) -> PushReport:
    return push_then_close(path, "hubspot", open_hubspot(fake, **options), dry_run=dry_run)


def opt_out(path: Path, *people: int, purpose: str = "marketing", after: float = 1.0) -> None:
    """The store records an opt-out of e-mail for `purpose` (say, at the till), `after`
    seconds from now."""
    when = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=after)
    with Store(path) as store:
        record(store, [ConsentEvent(customer_id=f"c{i:05d}", channel="email", purpose=purpose,
                                    status="opted_out", address=email(i), occurred_at=when,
                                    source="pos", evidence="asked at the till")
                       for i in people])


def events(path: Path, source: str = "hubspot") -> list[tuple[str, str, datetime, str]]:
    with Store(path) as store:
        return [tuple(row) for row in store.con.execute(  # type: ignore[misc]
            "SELECT customer_id, purpose, occurred_at, evidence FROM consent_events "
            "WHERE source = ? ORDER BY 1, 2", [source]).fetchall()]


def at_ms(moment: datetime) -> str:
    """A HubSpot `lastmodifieddate` for a naive-UTC moment."""
    return stamp(moment.replace(tzinfo=UTC).timestamp())


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(("mapping", "message"), [
    ({"news": "marketing"}, "subscription type id 'news': expected HubSpot's numeric id"),
    ({"101": "promotions"},
     "subscription type 101: purpose 'promotions', expected one of marketing, relationship"),
])
def test_a_wrong_mapping_is_refused_naming_the_field(mapping: dict[str, str],
                                                     message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        HubSpotConfig(access_token=TOKEN, subscription_types=mapping)
    (problem,) = refused.value.errors()
    assert problem["loc"] == ("subscription_types",) and message in problem["msg"]


def test_an_id_the_account_does_not_have_is_named_before_any_search(
        hubspot: FakeHubSpot) -> None:
    opened = open_hubspot(hubspot, subscription_types={"101": "marketing", "999": "marketing"})

    with pytest.raises(ConfigError) as refused:
        opened.read_consent(None)

    assert str(refused.value) == (
        "[destinations.hubspot] subscription_types: 999 is not a subscription type of this "
        "HubSpot account; it has: 101 (Marketing Information), 202 (Newsletter), "
        "303 (Order updates), 404 (Surveys)")
    assert [(c.method, c.path) for c in hubspot.calls] == [
        ("GET", "/communication-preferences/v3/definitions")]


# -- HubSpot -> store ----------------------------------------------------------------------


def test_per_type_unsubscribes_are_read_with_the_purpose_they_stand_for(
        hubspot: FakeHubSpot) -> None:
    for i in range(8):
        hubspot.add_contact(email(i))
    hubspot.unsubscribe_from(email(0), "101")
    hubspot.unsubscribe_from(email(1), "303")
    hubspot.unsubscribe_from(email(2), "404")  # unmapped: ignored
    hubspot.unsubscribe(email(3))  # from all e-mail: every purpose a type stands for
    hubspot.unsubscribe_from(email(4), "202")
    hubspot.unsubscribe_from(email(4), "303")
    hubspot.hard_bounce(email(5))
    hubspot.unsubscribe_from(email(6), "101")
    hubspot.unsubscribe_from(email(6), "202")
    opened = open_hubspot(hubspot)

    found = opened.read_consent(None)

    assert [(r.email, r.status, r.purposes, r.detail) for r in found] == [
        (email(0), "unsubscribed", ("marketing",),
         "HubSpot: unsubscribed from subscription type Marketing Information (101)"),
        (email(1), "unsubscribed", ("relationship",),
         "HubSpot: unsubscribed from subscription type Order updates (303)"),
        (email(3), "unsubscribed", ("marketing", "relationship"),
         "HubSpot: unsubscribed from all email (hs_email_optout)"),
        (email(4), "unsubscribed", ("marketing", "relationship"),
         "HubSpot: unsubscribed from subscription type Newsletter (202), Order updates (303)"),
        (email(5), "bounced", ("marketing", "relationship"), "HubSpot: hard bounce (BAD_MAILBOX)"),
        (email(6), "unsubscribed", ("marketing",), "HubSpot: unsubscribed from subscription "
         "type Marketing Information (101), Newsletter (202)")]
    for item in found:  # to the millisecond, never padded to the end of a second
        assert item.whole_seconds is False
        assert item.occurred_at == parse_modified(
            hubspot.contact(item.email).properties["lastmodifieddate"])  # type: ignore[union-attr]
    definitions, search = hubspot.calls
    assert (definitions.method, definitions.path) == (
        "GET", "/communication-preferences/v3/definitions")
    assert [g["filters"] for g in search.body["filterGroups"]] == [  # one search, five groups
        [{"propertyName": "hs_email_optout", "operator": "EQ", "value": "true"}],
        [{"propertyName": "hs_email_hard_bounce_reason_enum", "operator": "HAS_PROPERTY"}],
        [{"propertyName": "hs_email_optout_101", "operator": "EQ", "value": "true"}],
        [{"propertyName": "hs_email_optout_202", "operator": "EQ", "value": "true"}],
        [{"propertyName": "hs_email_optout_303", "operator": "EQ", "value": "true"}]]
    assert search.body["properties"] == [
        "email", "hs_email_optout", "hs_email_hard_bounce_reason_enum", "lastmodifieddate",
        "hs_email_optout_101", "hs_email_optout_202", "hs_email_optout_303"]
    assert opened.optouts.unsubscribed == {
        email(0): {"101"}, email(1): {"303"}, email(3): {"101", "202", "303"},
        email(4): {"202", "303"}, email(5): set(), email(6): {"101", "202"}}
    assert hubspot.write_count() == 0


def test_more_types_than_one_search_holds_take_a_second_search(hubspot: FakeHubSpot) -> None:
    for i in range(3):
        hubspot.add_contact(email(i))
    hubspot.add_subscription_type("505", "Events")
    hubspot.unsubscribe_from(email(0), "505")  # only the second search's group finds it
    hubspot.unsubscribe_from(email(1), "101")
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    mapping = {"101": "marketing", "202": "marketing", "303": "relationship",
               "404": "relationship", "505": "marketing"}

    found = open_hubspot(hubspot, subscription_types=mapping).read_consent(since)

    assert [(r.email, r.purposes) for r in found] == [(email(0), ("marketing",)),
                                                      (email(1), ("marketing",))]
    first, second = hubspot.searches()
    assert [g["filters"][0]["propertyName"] for g in first.body["filterGroups"]] == [
        "hs_email_optout", "hs_email_hard_bounce_reason_enum", "hs_email_optout_101",
        "hs_email_optout_202", "hs_email_optout_303"]
    assert [g["filters"] for g in second.body["filterGroups"]] == [
        [{"propertyName": "hs_email_optout_404", "operator": "EQ", "value": "true"},
         {"propertyName": "lastmodifieddate", "operator": "GTE",
          "value": str(int(since.replace(tzinfo=UTC).timestamp() * 1000))}],
        [{"propertyName": "hs_email_optout_505", "operator": "EQ", "value": "true"},
         {"propertyName": "lastmodifieddate", "operator": "GTE",
          "value": str(int(since.replace(tzinfo=UTC).timestamp() * 1000))}]]


def test_a_per_type_unsubscribe_reaches_the_ledger_for_its_purpose_only(
        path: Path, hubspot: FakeHubSpot) -> None:
    run(path, hubspot)
    # the next whole second: after every opt-in the store recorded so far
    whole_second = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    hubspot.unsubscribe_from(email(5), "101")
    hubspot.contact(email(5)).properties["lastmodifieddate"] = at_ms(whole_second)  # type: ignore[union-attr]
    hubspot.unsubscribe_from(email(6), "303")
    hubspot.unsubscribe_from(email(7), "404")  # unmapped
    six = parse_modified(hubspot.contact(email(6)).properties["lastmodifieddate"])  # type: ignore[union-attr]
    hubspot.reset_calls()

    report = run(path, hubspot)

    assert report.consent["learned"] == 2
    assert events(path) == [
        # HubSpot dates to the millisecond, rounded down: an opt-out is taken at the
        # millisecond's last microsecond (.000999), not at the end of the second
        ("c00005", "marketing", whole_second + timedelta(microseconds=999),
         "unsubscribed at hubspot (HubSpot: unsubscribed from subscription type "
         "Marketing Information (101))"),
        ("c00006", "relationship", six + timedelta(microseconds=999),
         "unsubscribed at hubspot (HubSpot: unsubscribed from subscription type "
         "Order updates (303))")]
    with Store(path) as store:
        assert not can_contact(store, "c00005", "email", "marketing")
        assert can_contact(store, "c00006", "email", "marketing")  # relationship only
        assert can_contact(store, "c00007", "email", "marketing")
    assert hubspot.contact(email(5)).properties[SEGMENT] == ""  # type: ignore[union-attr]
    assert hubspot.contact(email(6)).properties[SEGMENT] != ""  # type: ignore[union-attr]
    # c5 left 101 there; the store's marketing opt-out also ends 202, the other marketing type
    assert [c.body for c in hubspot.unsubscribe_calls()] == [
        {"emailAddress": email(5), "subscriptionId": "202"}]
    assert hubspot.unsubscribed_from == {(email(5), "101"): "person", (email(6), "303"): "person",
                                         (email(7), "404"): "person", (email(5), "202"): "api"}
    hubspot.reset_calls()
    again = run(path, hubspot)  # the writes moved lastmodifieddate: read again, nothing new
    assert again.consent.get("learned", 0) == 0 and hubspot.write_count() == 0


# -- store -> HubSpot ----------------------------------------------------------------------


def test_an_opt_out_in_the_store_unsubscribes_from_each_marketing_type_once(
        path: Path, hubspot: FakeHubSpot) -> None:
    run(path, hubspot)
    opt_out(path, 3, 4)
    hubspot.reset_calls()

    report = run(path, hubspot)

    assert report.outcomes["unsubscribed"] == 2 and report.failed == 0
    assert report.consent["unsubscribed"] == 2
    assert sorted((c.body["emailAddress"], c.body["subscriptionId"], c.status)
                  for c in hubspot.unsubscribe_calls()) == [
        (email(3), "101", 200), (email(3), "202", 200),
        (email(4), "101", 200), (email(4), "202", 200)]
    assert {k for k, by in hubspot.unsubscribed_from.items() if by == "api"} == {
        (email(3), "101"), (email(3), "202"), (email(4), "101"), (email(4), "202")}
    for i in (3, 4):
        props = hubspot.contact(email(i)).properties  # type: ignore[union-attr]
        assert props[SEGMENT] == "" and props["hs_email_optout_101"] == "true"
        assert "hs_email_optout_303" not in props
    assert hubspot.violations == []  # the subscription properties are never upserted

    hubspot.reset_calls()
    again = run(path, hubspot)
    assert hubspot.unsubscribe_calls() == [] and hubspot.write_count() == 0
    assert again.consent.get("learned", 0) == 0  # reading our own unsubscribes back: an echo


def test_no_opt_in_is_not_an_opt_out(tmp_path: Path, hubspot: FakeHubSpot) -> None:
    """A contact HubSpot holds that the store has no consent for (or that only awaits one)
    leaves its segment, and is not unsubscribed: HubSpot's API could never undo it."""
    path = tmp_path / "unknown.duckdb"
    build_store(path, 10, {1: "unknown", 2: "pending", 3: "unsubscribed"})
    for i in (1, 2, 3):
        hubspot.add_contact(email(i))

    dry = run(path, hubspot, dry_run=True)
    report = run(path, hubspot)

    assert dry.consent["unsubscribed"] == 1 and dry.consent["untagged"] == 2
    assert report.outcomes["unsubscribed"] == 3
    assert [(c.body["emailAddress"], c.body["subscriptionId"])
            for c in hubspot.unsubscribe_calls()] == [(email(3), "101"), (email(3), "202")]


def test_without_a_marketing_type_nothing_is_unsubscribed(path: Path,
                                                          hubspot: FakeHubSpot) -> None:
    run(path, hubspot, subscription_types={"303": "relationship"})
    opt_out(path, 3)

    report = run(path, hubspot, subscription_types={"303": "relationship"})

    assert report.outcomes["unsubscribed"] == 1 and hubspot.unsubscribe_calls() == []
    assert hubspot.contact(email(3)).properties[SEGMENT] == ""  # type: ignore[union-attr]
    assert any("no subscription type is mapped to `marketing`" in n for n in report.notes)


def test_a_refused_unsubscribe_fails_the_contact_masked_and_is_retried_whole(
        path: Path, hubspot: FakeHubSpot) -> None:
    run(path, hubspot)
    hubspot.requires_legal_basis = True  # data-privacy settings on: a legal basis is required
    opt_out(path, 3)

    report = run(path, hubspot)

    assert report.failed == 1 and report.outcomes["unsubscribed"] == 0
    ((who, why),) = report.errors
    assert who == "c00003" and why == (
        "unsubscribe from subscription type 101: HubSpot 400 VALIDATION_ERROR: A legal basis "
        "is required to update the subscription status of a contact in a portal with GDPR "
        "enabled")
    assert hubspot.contact(email(3)).properties[SEGMENT] != ""  # type: ignore[union-attr]
    hubspot.reset_calls()

    fixed = run(path, hubspot, legal_basis="LEGITIMATE_INTEREST_CLIENT")

    assert fixed.failed == 0 and fixed.outcomes["unsubscribed"] == 1
    assert [c.body for c in hubspot.unsubscribe_calls()] == [
        {"emailAddress": email(3), "subscriptionId": s, "legalBasis": "LEGITIMATE_INTEREST_CLIENT",
         "legalBasisExplanation": "The person opted out of this kind of e-mail; recorded by "
         "clientela."} for s in ("101", "202")]
    assert hubspot.contact(email(3)).properties[SEGMENT] == ""  # type: ignore[union-attr]


def test_a_rerun_after_a_crash_sends_nothing_new(path: Path, hubspot: FakeHubSpot) -> None:
    """Unsubscribed from both types, then the segment write fails (as if the run died before
    its batch was committed): the next run neither fails nor unsubscribes anyone again."""
    run(path, hubspot)
    opt_out(path, 3, 4)
    hubspot.batch_killers = {email(3)}  # its segment write is refused after its unsubscribes

    first = run(path, hubspot)

    assert first.failed == 1 and first.outcomes["unsubscribed"] == 1
    assert {k for k, by in hubspot.unsubscribed_from.items() if by == "api"} == {
        (email(3), "101"), (email(3), "202"), (email(4), "101"), (email(4), "202")}
    hubspot.batch_killers = set()
    hubspot.reset_calls()

    second = run(path, hubspot)

    assert second.failed == 0 and second.outcomes == {"unsubscribed": 1, "skipped": 0}
    assert hubspot.unsubscribe_calls() == []  # the read saw c3 unsubscribed from both types
    assert hubspot.contact(email(3)).properties[SEGMENT] == ""  # type: ignore[union-attr]


def test_already_unsubscribed_is_done_and_other_refusals_are_errors(
        hubspot: FakeHubSpot, sleeps: Sleeps) -> None:
    hubspot.add_contact(email(1))
    hubspot.unsubscribe_from(email(1), "101")
    hubspot.add_contact(email(2))
    hubspot.unsubscribe(email(2))
    opened = open_hubspot(hubspot, sleeps)

    opened.subscriptions.unsubscribe(email(1), "101")  # HubSpot: already unsubscribed
    opened.subscriptions.unsubscribe(email(2), "202")  # unsubscribed from all e-mail
    with pytest.raises(HttpError) as refused:
        opened.subscriptions.unsubscribe(email(1), "999")

    assert [(c.status, c.body["subscriptionId"]) for c in hubspot.unsubscribe_calls()] == [
        (400, "101"), (400, "202"), (400, "999")]
    assert refused.value.status == 400 and "Subscription 999 does not exist" in str(refused.value)
    assert hubspot.unsubscribed_from == {(email(1), "101"): "person"}

    hubspot.faults.throttles, hubspot.faults.retry_after = 2, "3"
    opened.subscriptions.unsubscribe(email(1), "202")
    assert sleeps.waits == [3.0, 3.0]
    assert [c.status for c in hubspot.unsubscribe_calls()][3:] == [429, 429, 200]
    assert hubspot.unsubscribed_from[(email(1), "202")] == "api"


def test_leaving_a_rule_without_an_opt_in_is_not_an_opt_out(tmp_path: Path,
                                                            hubspot: FakeHubSpot) -> None:
    """Invited under double opt-in, never answered, then out of the rule's segment: the
    contact leaves the segment and keeps HubSpot's "not specified" status."""
    path = tmp_path / "invited.duckdb"
    build_store(path, 40, {i: "unknown" for i in range(40)})
    rule = Segmentation.from_rule("win_back", "days_since_last_order >= 120 and total_spent > 1200")

    def push_rule() -> PushReport:
        return push_then_close(path, "hubspot", open_hubspot(hubspot, double_opt_in=True), rule)

    first = push_rule()
    members = sorted(e for e, c in hubspot.contacts.items()
                     if c.properties.get("clientela_segment_win_back") == "win_back")
    assert first.outcomes["created"] == len(members) > 0
    leaving = members[0]
    i = int(leaving[len("cliente"):len("cliente") + 5])
    with Store(path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": "back", "placed_at": AS_OF - timedelta(hours=1)})])

    second = push_rule()

    assert second.outcomes["unsubscribed"] == 1 and second.failed == 0
    assert hubspot.contact(leaving).properties["clientela_segment_win_back"] == ""  # type: ignore[union-attr]
    assert hubspot.unsubscribe_calls() == [] and hubspot.unsubscribed_from == {}


def test_a_former_address_is_unsubscribed_from_the_marketing_types(
        path: Path, hubspot: FakeHubSpot) -> None:
    """The store records an opt-out for an address a customer no longer has; HubSpot's
    contact for it leaves the marketing types and its segment, the new address starts without
    consent (not created)."""
    run(path, hubspot)
    new = "nova.cliente7@example.com"
    with Store(path) as store:
        store.upsert([customers(40)[7].model_copy(update={"email": new})])

    report = run(path, hubspot)

    assert report.failed == 0 and hubspot.contact(new) is None
    assert [(c.body["emailAddress"], c.body["subscriptionId"])
            for c in hubspot.unsubscribe_calls()] == [(email(7), "101"), (email(7), "202")]
    assert hubspot.contact(email(7)).properties[SEGMENT] == ""  # type: ignore[union-attr]


# -- relationship opt-outs: store -> HubSpot -----------------------------------------------


def api_unsubscribes(fake: FakeHubSpot) -> list[tuple[str, str, int]]:
    """(address, type id, status) of every unsubscribe call, in order."""
    return [(c.body["emailAddress"], c.body["subscriptionId"], c.status)
            for c in fake.unsubscribe_calls()]


def forget_the_change(fake: FakeHubSpot, i: int) -> None:
    """Date the contact's last change long before the next opt-out read looks."""
    fake.contact(email(i)).properties["lastmodifieddate"] = at_ms(datetime(2024, 1, 1))  # type: ignore[union-attr]


def test_a_relationship_opt_out_unsubscribes_from_the_relationship_types_once(
        path: Path, hubspot: FakeHubSpot) -> None:
    """Still consenting to marketing, the contact keeps its segment and its marketing types;
    it leaves Order updates (303) once: not again on the next push, nor when its fields
    change later (the read that found it has moved on by then)."""
    run(path, hubspot)
    opt_out(path, 8, purpose="relationship")
    hubspot.reset_calls()

    dry = run(path, hubspot, dry_run=True)
    assert dry.consent["opted_out_relationship"] == 1 and hubspot.write_count() == 0
    report = run(path, hubspot)

    assert report.failed == 0 and report.outcomes["updated"] == 1
    assert report.consent["opted_out_relationship"] == 1
    assert api_unsubscribes(hubspot) == [(email(8), "303", 200)]
    props = hubspot.contact(email(8)).properties  # type: ignore[union-attr]
    assert props["hs_email_optout_303"] == "true" and props[SEGMENT] != ""
    assert "hs_email_optout_101" not in props and "hs_email_optout_202" not in props
    assert hubspot.violations == []
    with Store(path) as store:
        assert store.con.execute("SELECT opt_outs FROM push_state WHERE customer_id = 'c00008'"
                                 ).fetchall() == [("relationship",)]
        assert can_contact(store, "c00008", "email", "marketing")

    hubspot.reset_calls()
    again = run(path, hubspot)
    assert hubspot.write_count() == 0 and again.consent.get("learned", 0) == 0
    forget_the_change(hubspot, 8)  # out of the next read: only the push state knows now
    add_points(path, [8], points=300)
    hubspot.reset_calls()
    later = run(path, hubspot)
    assert later.outcomes["updated"] == 1 and api_unsubscribes(hubspot) == []


def test_an_opt_out_of_every_purpose_reaches_every_mapped_type(
        path: Path, hubspot: FakeHubSpot) -> None:
    run(path, hubspot)
    opt_out(path, 3)
    opt_out(path, 3, purpose="relationship")
    hubspot.reset_calls()

    report = run(path, hubspot)

    assert report.failed == 0 and report.outcomes["unsubscribed"] == 1
    assert api_unsubscribes(hubspot) == [(email(3), "101", 200), (email(3), "202", 200),
                                         (email(3), "303", 200)]
    assert (email(3), "404") not in hubspot.unsubscribed_from  # unmapped: never touched
    assert hubspot.contact(email(3)).properties[SEGMENT] == ""  # type: ignore[union-attr]


def test_a_relationship_opt_out_of_a_contact_without_marketing_consent(
        tmp_path: Path, hubspot: FakeHubSpot) -> None:
    """Held by HubSpot without an opt-in: out of the segment, out of 303 for the opt-out
    the ledger holds, the marketing types untouched (no opt-in is not an opt-out). Not held:
    nothing is written about them in HubSpot."""
    path = tmp_path / "quiet.duckdb"
    build_store(path, 10, {1: "unknown", 2: "unknown"})
    hubspot.add_contact(email(1))
    opt_out(path, 1, 2, purpose="relationship")

    report = run(path, hubspot)

    assert report.failed == 0 and report.consent["untagged"] == 1
    assert api_unsubscribes(hubspot) == [(email(1), "303", 200)]
    assert hubspot.contact(email(2)) is None and (email(2), "303") not in hubspot.unsubscribed_from


def test_a_relationship_opt_out_rerun_after_a_crash_sends_nothing_again(
        path: Path, hubspot: FakeHubSpot) -> None:
    """Unsubscribed from 303, then its upsert is refused (as if the run died before its
    batch was committed): the next run reads it unsubscribed and does not call again."""
    run(path, hubspot)
    opt_out(path, 8, 9, purpose="relationship")
    hubspot.batch_killers = {email(8)}

    first = run(path, hubspot)

    assert first.failed == 1 and first.outcomes["updated"] == 1
    assert sorted(api_unsubscribes(hubspot)[-2:]) == [(email(8), "303", 200),
                                                      (email(9), "303", 200)]
    hubspot.batch_killers = set()
    hubspot.reset_calls()

    second = run(path, hubspot)

    assert second.failed == 0 and second.outcomes["updated"] == 1
    assert api_unsubscribes(hubspot) == []
    with Store(path) as store:
        assert store.con.execute("SELECT customer_id, opt_outs FROM push_state WHERE "
                                 "opt_outs IS NOT NULL ORDER BY 1").fetchall() == [
            ("c00008", "relationship"), ("c00009", "relationship")]


def test_an_opt_in_after_an_opt_out_never_resubscribes(path: Path, hubspot: FakeHubSpot) -> None:
    """HubSpot's API may not resubscribe someone who left a type (only the person can, in
    its preferences page): a newer opt-in in the store is not written back, and a newer
    opt-out after it finds the contact still unsubscribed there (the read before any
    unsubscribe), so nothing is sent."""
    run(path, hubspot)
    opt_out(path, 8, purpose="relationship")
    run(path, hubspot)
    with Store(path) as store:
        record(store, [ConsentEvent(
            customer_id="c00008", channel="email", purpose="relationship", status="opted_in",
            address=email(8), occurred_at=datetime.now(UTC).replace(tzinfo=None)
            + timedelta(seconds=2), source="pos", evidence="asked again at the till")])
    forget_the_change(hubspot, 8)
    hubspot.reset_calls()

    report = run(path, hubspot)

    assert report.failed == 0 and report.outcomes["updated"] == 1
    assert [c.path for c in hubspot.writes()] == ["/crm/v3/objects/contacts/batch/upsert"]
    assert hubspot.unsubscribed_from[(email(8), "303")] == "api"
    with Store(path) as store:
        assert can_contact(store, "c00008", "email", "relationship")
        assert store.con.execute("SELECT opt_outs FROM push_state WHERE customer_id = 'c00008'"
                                 ).fetchall() == [(None,)]
    opt_out(path, 8, purpose="relationship", after=3.0)  # after the opt-in
    forget_the_change(hubspot, 8)  # not in the opt-out read: the contact's read says it
    hubspot.reset_calls()

    last = run(path, hubspot)

    assert last.failed == 0 and api_unsubscribes(hubspot) == []
    assert [c.path for c in hubspot.writes()] == ["/crm/v3/objects/contacts/batch/upsert"]


def test_without_a_relationship_type_the_push_says_so(path: Path, hubspot: FakeHubSpot) -> None:
    opt_out(path, 8, purpose="relationship")

    report = run(path, hubspot, subscription_types={"101": "marketing"})

    assert report.failed == 0 and api_unsubscribes(hubspot) == []
    assert any("no subscription type is mapped to `relationship`" in n for n in report.notes)


def test_a_relationship_unsubscribe_waits_out_429s_and_a_400_fails_only_that_contact(
        path: Path, hubspot: FakeHubSpot, sleeps: Sleeps) -> None:
    """HubSpot throttles the first relationship unsubscribe twice (Retry-After 3): it is
    waited out and sent once. Then, with a legal basis required, a second contact's is
    refused: that contact fails (masked), is not upserted, and is retried whole."""
    run(path, hubspot)
    opt_out(path, 8, purpose="relationship")

    def throttle_the_first_unsubscribe(request: Any, number: int) -> None:
        if request.path.endswith("/unsubscribe") and not hubspot.unsubscribe_calls():
            hubspot.on_request = None
            hubspot.faults.throttles, hubspot.faults.retry_after = 2, "3"

    hubspot.on_request = throttle_the_first_unsubscribe
    hubspot.reset_calls()
    report = run(path, hubspot, sleeps=sleeps)

    assert report.failed == 0 and sleeps.waits.count(3.0) == 2
    assert api_unsubscribes(hubspot) == [(email(8), "303", 429), (email(8), "303", 429),
                                         (email(8), "303", 200)]
    hubspot.requires_legal_basis = True
    opt_out(path, 9, purpose="relationship")
    hubspot.reset_calls()

    refused = run(path, hubspot)

    assert refused.failed == 1 and hubspot.upsert_calls() == []
    assert refused.errors == [("c00009", "unsubscribe from subscription type 303: HubSpot 400 "
                               "VALIDATION_ERROR: A legal basis is required to update the "
                               "subscription status of a contact in a portal with GDPR "
                               "enabled")]
    hubspot.reset_calls()
    fixed = run(path, hubspot, legal_basis="PERFORMANCE_OF_CONTRACT")
    assert fixed.failed == 0 and fixed.outcomes["updated"] == 1
    assert api_unsubscribes(hubspot) == [(email(9), "303", 200)]


# -- opt-outs beyond the pushed segmentation's changes -------------------------------------


WIN_BACK = Segmentation.from_rule("win_back", "days_since_last_order >= 120 and total_spent > 1200")


def push_win_back(path: Path, fake: FakeHubSpot, *, dry_run: bool = False,
                  **options: Any) -> PushReport:
    return push_then_close(path, "hubspot", open_hubspot(fake, **options), WIN_BACK,
                           dry_run=dry_run)


def outside_win_back(fake: FakeHubSpot) -> list[int]:
    """Customers HubSpot holds that are not in the win_back segment."""
    return [i for i in range(40) if fake.contact(email(i)) is not None and fake.contact(
        email(i)).properties.get("clientela_segment_win_back") != "win_back"]  # type: ignore[union-attr]


def test_an_opt_out_reaches_a_contact_outside_the_pushed_segmentation_once(
        path: Path, hubspot: FakeHubSpot) -> None:
    """Sent by an RFM push, then only the win_back rule is pushed: her opt-out of
    relationship e-mail (and another's of everything) still reaches HubSpot, on the next
    push of any segmentation, once. A contact HubSpot no longer holds is written nothing."""
    run(path, hubspot)
    push_win_back(path, hubspot)
    relationship, everything, gone = outside_win_back(hubspot)[:3]
    del hubspot.contacts[email(gone)]  # deleted in HubSpot since
    opt_out(path, relationship, everything, gone, purpose="relationship")
    opt_out(path, everything)
    hubspot.reset_calls()

    dry = push_win_back(path, hubspot, dry_run=True)
    assert dry.consent["opt_outs_written"] == 2 and hubspot.write_count() == 0
    report = push_win_back(path, hubspot)

    assert report.failed == 0 and report.consent["opt_outs_written"] == 2
    assert sorted(api_unsubscribes(hubspot)) == sorted([
        (email(relationship), "303", 200), (email(everything), "101", 200),
        (email(everything), "202", 200), (email(everything), "303", 200)])
    assert {k for k, by in hubspot.unsubscribed_from.items() if by == "api"} == {
        (email(relationship), "303"), (email(everything), "101"), (email(everything), "202"),
        (email(everything), "303")}
    assert hubspot.violations == []
    with Store(path) as store:
        assert store.con.execute(
            "SELECT customer_id, purpose, target FROM push_opt_outs ORDER BY 1, 3").fetchall() == \
            sorted([(f"c{everything:05d}", "marketing", "101"),
                    (f"c{everything:05d}", "marketing", "202"),
                    (f"c{everything:05d}", "relationship", "303"),
                    (f"c{gone:05d}", "relationship", "303"),  # not held: settled, nothing sent
                    (f"c{relationship:05d}", "relationship", "303")])

    hubspot.reset_calls()
    again = push_win_back(path, hubspot)
    assert hubspot.write_count() == 0 and again.consent.get("opt_outs_written", 0) == 0
    for i in (relationship, everything):
        forget_the_change(hubspot, i)  # out of the opt-out read: HubSpot's contact says it
    hubspot.reset_calls()
    rfm = run(path, hubspot)  # their RFM rows changed: they are handed over, nothing re-sent
    # but to the one HubSpot lost, whom the RFM push creates again (she consents to
    # marketing): her opt-out goes with her
    assert rfm.failed == 0 and api_unsubscribes(hubspot) == [(email(gone), "303", 200)]
    assert hubspot.contact(email(everything)).properties[SEGMENT] == ""  # type: ignore[union-attr]
    with Store(path) as store:  # an erasure takes her address out of what was handed too
        forget(store, email(relationship), {"hubspot": lambda: open_hubspot(hubspot)})
        assert store.con.execute("SELECT customer_id FROM push_opt_outs WHERE email = ? OR "
                                 "customer_id = ?", [email(relationship),
                                                     f"c{relationship:05d}"]).fetchall() == []


def test_a_marketing_unsubscribe_is_sent_once_when_the_contact_changes_later(
        path: Path, hubspot: FakeHubSpot) -> None:
    """Unsubscribed from the marketing types, out of its segment; then its fields change
    (points) after the opt-out read has moved on: an upsert, and no unsubscribe again (on
    main: two calls HubSpot refused with 400 "already unsubscribed")."""
    run(path, hubspot)
    opt_out(path, 3)
    run(path, hubspot)
    assert sorted(api_unsubscribes(hubspot)) == [(email(3), "101", 200), (email(3), "202", 200)]
    forget_the_change(hubspot, 3)
    add_points(path, [3], points=300)
    hubspot.reset_calls()

    report = run(path, hubspot)

    assert report.failed == 0 and report.outcomes["unsubscribed"] == 1
    assert api_unsubscribes(hubspot) == []
    assert [c.path for c in hubspot.writes()] == ["/crm/v3/objects/contacts/batch/upsert"]


def test_a_type_mapped_later_is_written_for_those_who_opted_out_before_once(
        path: Path, hubspot: FakeHubSpot) -> None:
    """Mapped at first: 101 (marketing) and 303 (relationship). Later the user maps 202 to
    marketing and 404 to relationship: the next push unsubscribes the contacts already
    opted out from the new types only, once; a contact still consenting is not touched."""
    first = {"101": "marketing", "303": "relationship"}
    run(path, hubspot, subscription_types=first)
    opt_out(path, 3)
    opt_out(path, 8, purpose="relationship")
    run(path, hubspot, subscription_types=first)
    assert sorted(api_unsubscribes(hubspot)) == [(email(3), "101", 200), (email(8), "303", 200)]
    for i in (3, 8):
        forget_the_change(hubspot, i)
    hubspot.reset_calls()
    later = {**first, "202": "marketing", "404": "relationship"}

    report = run(path, hubspot, subscription_types=later)

    assert report.failed == 0 and report.consent["opt_outs_written"] == 2
    assert sorted(api_unsubscribes(hubspot)) == [(email(3), "202", 200), (email(8), "404", 200)]
    assert sorted(k for k, by in hubspot.unsubscribed_from.items() if by == "api") == sorted([
        (email(3), "101"), (email(8), "303"), (email(3), "202"), (email(8), "404")])
    hubspot.reset_calls()
    again = run(path, hubspot, subscription_types=later)
    assert hubspot.write_count() == 0 and again.consent.get("opt_outs_written", 0) == 0


def test_a_refused_opt_out_beyond_the_changes_fails_the_contact_and_is_retried(
        path: Path, hubspot: FakeHubSpot) -> None:
    run(path, hubspot, subscription_types={"101": "marketing"})
    opt_out(path, 8, purpose="relationship")
    run(path, hubspot, subscription_types={"101": "marketing"})  # no relationship type yet
    hubspot.requires_legal_basis = True
    hubspot.reset_calls()

    refused = run(path, hubspot)

    assert refused.failed == 1 and refused.errors == [
        ("c00008", "unsubscribe from subscription type 303: HubSpot 400 VALIDATION_ERROR: A "
         "legal basis is required to update the subscription status of a contact in a portal "
         "with GDPR enabled")]
    hubspot.reset_calls()
    fixed = run(path, hubspot, legal_basis="PERFORMANCE_OF_CONTRACT")
    assert fixed.failed == 0 and api_unsubscribes(hubspot) == [(email(8), "303", 200)]
