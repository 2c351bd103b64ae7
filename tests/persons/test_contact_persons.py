"""A consent opt-out from one source stops pushes and messages to the person's other
addresses; a journey messages a person once per step. Through the fakes (Mailchimp for the
push, Twilio and SendGrid for the messages), with `identity_links` filled by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from channels.helpers import (
    NOON,
    candidates,
    dispatcher,
    plan,
    sendgrid_route,
    step,
    twilio_route,
)
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.helpers import build_store, email, state
from destinations.helpers import run as push_to_mailchimp
from journeys.helpers import customer, write

from clientela.consent import ConsentEvent, record
from clientela.identity.analytics import identity_resolution
from clientela.model.entities import Customer
from clientela.store import Store

LINKED_AT = datetime(2025, 4, 1)
TILL_MAIL = "maria.loja@example.com"


def link(path: Path, *pairs: tuple[str, str]) -> None:
    with Store(path) as store:
        for customer_id, person_id in pairs:
            # by hand, over whatever the resolver found when the records landed
            store.con.execute("INSERT INTO identity_links VALUES (?, ?, 'cpf', ?) ON CONFLICT "
                              "(customer_id) DO UPDATE SET person_id = EXCLUDED.person_id",
                              [customer_id, person_id, LINKED_AT])


@pytest.fixture
def mailchimp() -> FakeMailchimp:
    with FakeMailchimp() as fake:
        yield fake


def till_record_with_opt_out(path: Path, at: datetime) -> None:
    """Maria at the till: a POS record with her other e-mail, who says no to marketing
    e-mails there (an event for the till's own address)."""
    with Store(path) as store:
        store.upsert([Customer(source="pos", customer_id="pos-1", email=TILL_MAIL,
                               cpf="529.982.247-25")])
        record(store, [ConsentEvent(customer_id="pos-1", channel="email", purpose="marketing",
                                    status="opted_out", address=TILL_MAIL, occurred_at=at,
                                    source="pos", evidence="said no at the till")])


def test_an_opt_out_at_the_till_unsubscribes_her_online_address(clientela_store_target: str, 
        tmp_path: Path, mailchimp: FakeMailchimp) -> None:
    path = clientela_store_target
    build_store(path, 6)
    push_to_mailchimp(path, mailchimp)
    assert mailchimp.member(email(1)).status == "subscribed"  # type: ignore[union-attr]
    till_record_with_opt_out(path, later())
    # linked after her till record landed (landing a record re-resolves it)
    link(path, ("pos-1", "c00001"))

    report = push_to_mailchimp(path, mailchimp)

    assert report.outcomes["unsubscribed"] == 1
    assert mailchimp.member(email(1)).status == "unsubscribed"  # type: ignore[union-attr]
    assert mailchimp.member(TILL_MAIL) is None  # the till's record has no consent to push
    others = {email(i): mailchimp.member(email(i)).status  # type: ignore[union-attr]
              for i in (0, 2, 3, 4, 5)}
    assert set(others.values()) == {"subscribed"}


def test_with_identity_off_the_till_opt_out_stays_at_the_till(clientela_store_target: str, 
        tmp_path: Path, mailchimp: FakeMailchimp) -> None:
    path = clientela_store_target
    build_store(path, 6)
    till_record_with_opt_out(path, later())
    link(path, ("pos-1", "c00001"))
    with identity_resolution(False):
        push_to_mailchimp(path, mailchimp)
    assert mailchimp.member(email(1)).status == "subscribed"  # type: ignore[union-attr]


def later() -> datetime:
    """After the customer rows' own consent (stated when they were loaded)."""
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)


def two_records(target: str) -> str:
    """Maria online (`web-1`, phone ...0001) and at the till (`pos-77`, phone ...0002), and
    João (`web-2`); everyone subscribed on every channel."""
    return write(target, [
        customer("web-1", phone="+5511987650001"),
        customer("pos-77", phone="+5511987650002", email="maria.loja@example.com"),
        customer("web-2", phone="+5511987650003")])


def test_a_stop_at_the_till_stops_messages_to_her_online_phone(
        clientela_store_target: str, tmp_path: Path, twilio) -> None:
    path = two_records(clientela_store_target)
    link(path, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with Store(path) as store:
        record(store, [ConsentEvent(customer_id="pos-77", channel="sms", purpose="marketing",
                                    status="opted_out", address="+5511987650002",
                                    occurred_at=later(), source="pos",
                                    evidence="STOP at the till")])
        planned = plan(store, step("sms"), candidates(["web-1", "web-2"]))
        sent = dispatcher(store, [twilio_route(twilio)]).run()
    # her till record is tried too, and is opted out as well: the first reason is kept
    assert [(p.customer_id, p.status, p.reason) for p in planned] == [
        ("web-1", "suppressed", "opted_out"), ("web-2", "planned", None)]
    assert sent.sent == 1
    assert [m.to for m in twilio.accepted] == ["+5511987650003"]


def test_an_opt_out_after_planning_is_checked_across_records_before_sending(clientela_store_target: str, 
        tmp_path: Path, twilio) -> None:
    path = two_records(clientela_store_target)
    link(path, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with Store(path) as store:
        plan(store, step("sms"), candidates(["web-1", "web-2"]))
        record(store, [ConsentEvent(customer_id="pos-77", channel="sms", purpose="marketing",
                                    status="opted_out", address="+5511987650002",
                                    occurred_at=NOON, source="pos", evidence="STOP")])
        report = dispatcher(store, [twilio_route(twilio)],
                            now=NOON + timedelta(minutes=5)).run()
    assert (report.sent, report.suppressed) == (1, {"opted_out": 1})
    assert [m.to for m in twilio.accepted] == ["+5511987650003"]


def test_one_message_per_person_and_step(clientela_store_target: str, tmp_path: Path, twilio) -> None:
    """Both of Maria's records are in the audience: one SMS, to the first candidate record;
    a later run that finds her other record plans nothing more."""
    path = two_records(clientela_store_target)
    link(path, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with Store(path) as store:
        planned = plan(store, step("sms"), candidates(["web-1", "pos-77", "web-2"]))
        again = plan(store, step("sms"), candidates(["pos-77"]))
        report = dispatcher(store, [twilio_route(twilio)]).run()
        rows = store.con.execute("SELECT customer_id, status FROM messages ORDER BY 1").fetchall()
    assert [(p.customer_id, p.status) for p in planned] == [("web-1", "planned"),
                                                           ("web-2", "planned")]
    assert [p.message_key for p in again] == [planned[0].message_key]  # the same key: no row
    assert rows == [("web-1", "sent"), ("web-2", "sent")]
    assert report.sent == 2
    assert sorted(m.to for m in twilio.accepted) == ["+5511987650001", "+5511987650003"]


def test_her_other_record_is_tried_when_the_first_cannot_be_reached(
        clientela_store_target: str, tmp_path: Path, sendgrid) -> None:
    """The till's record has no e-mail consent; her online record has: the e-mail goes
    there, once."""
    path = write(clientela_store_target, [
        customer("web-1"), customer("pos-77", email=None, consent_email="unknown")])
    link(path, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with Store(path) as store:
        planned = plan(store, step("email"), candidates(["pos-77"]))
        report = dispatcher(store, [sendgrid_route(sendgrid)]).run()
    assert [(p.customer_id, p.status, p.address) for p in planned] == [
        ("web-1", "planned", "web-1@example.com")]
    assert report.sent == 1


def test_without_links_each_record_is_messaged(clientela_store_target: str, tmp_path: Path, twilio) -> None:
    path = two_records(clientela_store_target)
    with Store(path) as store:
        planned = plan(store, step("sms"), candidates(["web-1", "pos-77"]))
    assert [(p.customer_id, p.status) for p in planned] == [("web-1", "planned"),
                                                           ("pos-77", "planned")]


def test_an_audience_of_persons_reaches_her_records(
        clientela_store_target: str, tmp_path: Path, twilio) -> None:
    """A segmenter reading persons names `p-maria`, no record: the message goes to the first
    of her records (by id) that can be reached, under her key."""
    path = two_records(clientela_store_target)
    link(path, ("web-1", "p-maria"), ("pos-77", "p-maria"))
    with Store(path) as store:
        planned = plan(store, step("sms"), candidates(["p-maria"]))
        again = plan(store, step("sms"), candidates(["web-1"]))
    assert [(p.customer_id, p.status) for p in planned] == [("pos-77", "planned")]
    assert [p.message_key for p in again] == [planned[0].message_key]


def test_every_record_of_a_person_named_by_no_record_gets_her_segment(clientela_store_target: str, 
        tmp_path: Path, mailchimp: FakeMailchimp) -> None:
    """The person id `p-ana` is none of her records' ids: both records still carry her
    person-level segment (computed once, over both records' orders) and are pushed."""
    path = clientela_store_target
    build_store(path, 6)
    link(path, ("c00001", "p-ana"), ("c00002", "p-ana"))
    push_to_mailchimp(path, mailchimp)
    pushed = state(path)
    assert {"c00001", "c00002"} <= set(pushed)
    assert pushed["c00001"][0] == pushed["c00002"][0] is not None
    assert mailchimp.tags_of(email(1)) == mailchimp.tags_of(email(2)) == {
        f"rfm: {pushed['c00001'][0]}"}
