"""Every consent scenario the push got wrong, against the fakes: store -> destinations,
destinations -> store, deletions, address changes, forget, dry run, run log and lock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clientela_hubspot import HubSpotConfig, HubSpotDestination
from destinations.fakes.hubspot import FakeHubSpot
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.fakes.sendgrid import FakeSendGrid
from destinations.helpers import add_points, push_then_close

from clientela.consent import ConsentEvent, can_contact, history, record
from clientela.destinations.forget import forget
from clientela.destinations.lock import PushLocked
from clientela.destinations.push import PushReport
from clientela.store import Store

from .support import (
    AS_OF,
    build_store,
    consenting,
    customers,
    email,
    opt,
    orders_for,
    push_mailchimp,
    push_sendgrid,
    subscribed_without_consent,
    wrong_tags,
)

N = 60


@pytest.fixture
def path(tmp_path: Path) -> Path:
    made = tmp_path / "store.duckdb"
    build_store(made, N)
    return made


@pytest.fixture
def mailchimp() -> FakeMailchimp:
    with FakeMailchimp() as fake:
        yield fake


def segment_of(path: Path, i: int) -> str | None:
    with Store(path) as store:
        row = store.con.execute("SELECT segment FROM push_state WHERE customer_id = ?",
                                [f"c{i:05d}"]).fetchone()
    return row[0] if row else None


def test_an_opt_out_imported_into_the_store_unsubscribes_and_untags(
        path: Path, mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    with Store(path) as store:  # an import saying three people unsubscribed
        store.upsert([c.model_copy(update={"consent_email": "unsubscribed"})
                      for c in customers(N) if c.customer_id in ("c00001", "c00002", "c00003")])
    mailchimp.reset_calls()

    report = push_mailchimp(path, mailchimp)

    assert report.outcomes["unsubscribed"] == 3 and report.failed == 0
    for i in (1, 2, 3):
        assert mailchimp.member(email(i)).status == "unsubscribed"  # type: ignore[union-attr]
        assert mailchimp.tags_of(email(i)) == set()
    # one batch subscribe carries the three statuses; each old tag loses them in one call
    assert [len(c.body["members"]) for c in mailchimp.upsert_calls()] == [3]
    assert subscribed_without_consent(mailchimp, path) == set()
    assert wrong_tags(mailchimp, path) == set()
    mailchimp.reset_calls()
    assert push_mailchimp(path, mailchimp).outcomes["unsubscribed"] == 0
    assert mailchimp.write_count() == 0


def test_members_already_subscribed_there_without_consent_are_unsubscribed(
        tmp_path: Path, mailchimp: FakeMailchimp) -> None:
    path = tmp_path / "none.duckdb"
    build_store(path, 20, {i: "unknown" for i in range(15)})
    for i in range(15):
        mailchimp.add_member(email(i), "subscribed")

    report = push_mailchimp(path, mailchimp)

    assert report.outcomes["unsubscribed"] == 15 and report.outcomes["created"] == 5
    assert subscribed_without_consent(mailchimp, path) == set()
    assert all(mailchimp.tags_of(email(i)) == set() for i in range(15))


def test_a_new_member_always_gets_an_explicit_status(path: Path,
                                                     mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    sent = [m for c in mailchimp.upsert_calls() for m in c.body["members"]]
    assert len(sent) == N and all(m.get("status") == "subscribed" for m in sent)


def test_a_changed_address_is_a_new_contact_without_consent(path: Path,
                                                            mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    old_segment = segment_of(path, 7)
    new = "nova.cliente7@example.com"
    with Store(path) as store:
        store.upsert([customers(N)[7].model_copy(update={"email": new})])
    mailchimp.reset_calls()

    report = push_mailchimp(path, mailchimp)

    assert mailchimp.member(new) is None  # no consent for the new address yet
    assert mailchimp.member(email(7)).status == "unsubscribed"  # type: ignore[union-attr]
    assert mailchimp.tags_of(email(7)) == set()
    assert report.consent["unsubscribed"] == 1 and report.consent["skipped_no_consent"] == 1
    assert old_segment is not None
    assert subscribed_without_consent(mailchimp, path) == set()

    opt(path, 7, "opted_in", address=new)  # the person opts in with the new address
    push_mailchimp(path, mailchimp)
    assert mailchimp.member(new).status == "subscribed"  # type: ignore[union-attr]
    assert mailchimp.tags_of(new) == {f"rfm: {segment_of(path, 7)}"}
    assert mailchimp.member(email(7)).status == "unsubscribed"  # type: ignore[union-attr]
    assert wrong_tags(mailchimp, path) == set()


def test_a_member_deleted_there_is_not_recreated_after_a_new_order(
        path: Path, mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    mailchimp.delete_permanently(email(9))
    with Store(path) as store:
        store.upsert([orders_for(9)[0].model_copy(update={
            "order_id": "new", "placed_at": AS_OF - timedelta(hours=2)})])

    report = push_mailchimp(path, mailchimp)

    assert mailchimp.member(email(9)) is None
    assert report.consent["not_recreated_deleted"] == 1
    with Store(path) as store:
        assert not can_contact(store, "c00009", "email", "marketing")
        assert history(store, email(9))[-1].source == "mailchimp"
    again = push_mailchimp(path, mailchimp)  # re-examined (a read), still not re-created
    assert again.consent["not_recreated_deleted"] == 1 and mailchimp.member(email(9)) is None

    opt(path, 9, "opted_in")  # a newer opt-in: back, subscribed and tagged
    push_mailchimp(path, mailchimp)
    assert mailchimp.member(email(9)).status == "subscribed"  # type: ignore[union-attr]
    assert mailchimp.tags_of(email(9)) == {f"rfm: {segment_of(path, 9)}"}


def test_an_archived_member_is_not_recreated_either(path: Path,
                                                    mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    mailchimp.unsubscribe(email(4), "archived")
    push_mailchimp(path, mailchimp)
    with Store(path) as store:
        store.upsert([orders_for(4)[0].model_copy(update={
            "order_id": "new", "placed_at": AS_OF - timedelta(hours=2)})])
    push_mailchimp(path, mailchimp)
    assert mailchimp.member(email(4)).status == "archived"  # type: ignore[union-attr]


def test_an_unsubscribe_in_mailchimp_reaches_the_store_and_sendgrid(
        path: Path, mailchimp: FakeMailchimp) -> None:
    with FakeSendGrid() as sendgrid:
        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)
        assert sendgrid.lists_of(email(11))
        mailchimp.unsubscribe(email(11))
        mailchimp.unsubscribe(email(12), "cleaned")

        learned = push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)

        assert learned.consent["learned"] == 2
        with Store(path) as store:
            assert not can_contact(store, "c00011", "email", "marketing")
            assert [e.evidence for e in history(store, "c00012")][-1].startswith(
                "cleaned at mailchimp")
        assert sendgrid.lists_of(email(11)) == set() and sendgrid.lists_of(email(12)) == set()
        assert mailchimp.tags_of(email(11)) == set() and mailchimp.tags_of(email(12)) == set()


def test_a_sendgrid_suppression_reaches_the_store_and_mailchimp(
        path: Path, mailchimp: FakeMailchimp) -> None:
    with FakeSendGrid() as sendgrid:
        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)
        sendgrid.global_unsubscribes.add(email(13))

        push_sendgrid(path, sendgrid)
        push_mailchimp(path, mailchimp)

        assert mailchimp.member(email(13)).status == "unsubscribed"  # type: ignore[union-attr]
        assert mailchimp.tags_of(email(13)) == set()
        assert subscribed_without_consent(mailchimp, path) == set()


def push_hubspot(path: Path, fake: FakeHubSpot) -> PushReport:
    """HubSpot with its "Marketing Information" type (101) standing for e-mail marketing and
    "Order updates" (303) for relationship messages."""
    config = HubSpotConfig(access_token=fake.token, base_url=fake.url,
                           subscription_types={"101": "marketing", "303": "relationship"})
    return push_then_close(path, "hubspot", HubSpotDestination(config, sleep=lambda s: None))


def test_a_hubspot_unsubscribe_from_one_subscription_type_reaches_the_store_and_the_others(
        path: Path, mailchimp: FakeMailchimp) -> None:
    with FakeHubSpot() as hubspot, FakeSendGrid() as sendgrid:
        hubspot.add_subscription_type("101", "Marketing Information")
        hubspot.add_subscription_type("303", "Order updates")
        push_hubspot(path, hubspot)
        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)
        hubspot.unsubscribe_from(email(14), "101")  # marketing only; still gets order updates
        hubspot.unsubscribe_from(email(15), "303")  # order updates only

        learned = push_hubspot(path, hubspot)
        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)

        assert learned.consent["learned"] == 2
        with Store(path) as store:
            assert not can_contact(store, "c00014", "email", "marketing")
            assert can_contact(store, "c00015", "email", "marketing")
            assert [(e.purpose, e.evidence) for e in history(store, "c00015")
                    if e.source == "hubspot"] == [
                ("relationship", "unsubscribed at hubspot (HubSpot: unsubscribed from "
                 "subscription type Order updates (303))")]
        assert mailchimp.member(email(14)).status == "unsubscribed"  # type: ignore[union-attr]
        assert mailchimp.tags_of(email(14)) == set() and sendgrid.lists_of(email(14)) == set()
        assert mailchimp.member(email(15)).status == "subscribed"  # type: ignore[union-attr]
        assert mailchimp.tags_of(email(15)) and sendgrid.lists_of(email(15))
        assert subscribed_without_consent(mailchimp, path) == set()


def test_a_mailchimp_unsubscribe_reaches_hubspots_marketing_subscription_type(
        path: Path, mailchimp: FakeMailchimp) -> None:
    with FakeHubSpot() as hubspot:
        hubspot.add_subscription_type("101", "Marketing Information")
        hubspot.add_subscription_type("303", "Order updates")
        push_hubspot(path, hubspot)
        push_mailchimp(path, mailchimp)
        mailchimp.unsubscribe(email(16))

        push_mailchimp(path, mailchimp)
        push_hubspot(path, hubspot)

        assert [(c.body, c.status) for c in hubspot.unsubscribe_calls()] == [
            ({"emailAddress": email(16), "subscriptionId": "101"}, 200)]
        assert hubspot.unsubscribed_from == {(email(16), "101"): "api"}
        assert hubspot.contact(email(16)).properties["clientela_segment_rfm"] == ""  # type: ignore[union-attr]
        hubspot.reset_calls()
        push_hubspot(path, hubspot)  # re-run: nothing new is sent, nothing learned back
        assert hubspot.unsubscribe_calls() == [] and hubspot.write_count() == 0


def test_an_old_unsubscribe_does_not_outrank_a_newer_opt_in_at_either_destination(
        path: Path, mailchimp: FakeMailchimp) -> None:
    """Unsubscribed at both two minutes ago, opted in again at checkout a minute ago: each
    destination dates the unsubscribe when it happened, so neither flips the store's consent
    after the other acted on it (SendGrid's used to be dated at the read, and took the
    opt-in away after Mailchimp had tagged the member)."""
    person = email(20)
    with FakeSendGrid() as sendgrid:
        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)
        two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
        mailchimp.unsubscribe(person)
        mailchimp.member(person).last_changed = two_minutes_ago  # type: ignore[union-attr]
        sendgrid.global_unsubscribes.add(person)
        sendgrid.first_seen[person] = int(two_minutes_ago.timestamp())
        with Store(path) as store:
            record(store, [ConsentEvent(
                customer_id="c00020", channel="email", purpose="marketing", status="opted_in",
                address=person, occurred_at=(two_minutes_ago + timedelta(minutes=1)).replace(
                    tzinfo=None), source="checkout", evidence="box ticked")])

        push_mailchimp(path, mailchimp)
        push_sendgrid(path, sendgrid)

        allowed = consenting(path)
        assert person in allowed
        with Store(path) as store:
            learned = {(e.source, e.occurred_at) for e in history(store, "c00020")
                       if e.status == "opted_out"}
        # both state whole seconds: dated at the second's end (see the next test)
        at_end = two_minutes_ago.replace(microsecond=999_999, tzinfo=None)
        assert learned == {("mailchimp", at_end), ("sendgrid", at_end)}
        assert mailchimp.member(person).status == "unsubscribed"  # type: ignore[union-attr]
        assert subscribed_without_consent(mailchimp, path) == set()
        assert {m.email for m in mailchimp.members.values() if mailchimp.tags_of(m.email)} \
            <= allowed
        assert {c.email for c in sendgrid.contacts.values() if sendgrid.lists_of(c.email)} \
            <= allowed
        assert sendgrid.violations == []  # SendGrid's suppression itself is left alone



def test_an_opt_out_dated_in_whole_seconds_wins_over_an_opt_in_of_the_same_second(
        path: Path) -> None:
    """SendGrid (like Mailchimp and Agile CRM) dates an unsubscribe in whole seconds, rounded
    down. An opt-in at 12:00:00.400 and an unsubscribe SendGrid reports as 12:00:00 cannot be
    ordered, and consent comes first: the opt-out wins. (CI once saw the opt-in win when
    the suppression fell in the same second as the store's build.)"""
    from clientela.destinations.api import RemoteConsent
    from clientela.destinations.inbound import learn

    # after the store's own opt-ins (dated at its build), at .400 of a second
    opted_in = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=400_000,
                                                                  tzinfo=None)
    second = opted_in.replace(microsecond=0)
    with Store(path) as store:
        record(store, [ConsentEvent(
            customer_id="c00021", channel="email", purpose="marketing", status="opted_in",
            address=email(21), occurred_at=opted_in, source="checkout", evidence="box ticked")])
        found = [RemoteConsent(email(21), "suppressed", second, "x"),
                 RemoteConsent(email(22), "suppressed", second + timedelta(microseconds=5), "x")]
        assert learn(store.con, "sendgrid", found, at=second + timedelta(minutes=5)) == 2
        assert not can_contact(store, "c00021", "email", "marketing")
        dated = {e.customer_id: e.occurred_at for e in history(store, "c00021") + history(
            store, "c00022") if e.source == "sendgrid"}
    assert dated == {"c00021": second + timedelta(microseconds=999_999),
                     "c00022": second + timedelta(microseconds=5)}  # a fraction is kept

def test_forget_records_a_forget_event_and_deletes_everywhere(
        path: Path, mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    opened = {"mailchimp": lambda: __import__("destinations.helpers", fromlist=["x"]).destination(
        mailchimp)}
    with Store(path) as store:
        report = forget(store, email(3), opened, source="shopify",
                        evidence="customers/redact for ana@example.com")
        events = history(store, "c00003")
        assert report.done and mailchimp.member(email(3)) is None
        assert not can_contact(store, "c00003", "email", "marketing")
        assert {(e.source, e.status) for e in events if e.source == "shopify"} == {
            ("shopify", "opted_out")}
        assert len([e for e in events if e.source == "shopify"]) == 6  # 3 channels x 2 purposes
        assert all(e.address is None for e in events)
        assert all("ana@example.com" not in e.evidence for e in events)
    push_mailchimp(path, mailchimp)
    assert mailchimp.member(email(3)) is None


def test_the_dry_run_tells_the_truth_and_writes_nothing(path: Path,
                                                        mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    mailchimp.unsubscribe(email(20))
    mailchimp.delete_permanently(email(21))
    with Store(path) as store:
        store.upsert([c.model_copy(update={"consent_email": "unsubscribed"})
                      for c in customers(N) if c.customer_id == "c00022"])
        store.upsert([orders_for(21)[0].model_copy(update={
            "order_id": "new", "placed_at": AS_OF - timedelta(hours=2)})])
        before = {t: store.count(t) for t in ("consent_events", "push_state", "push_log", "runs",
                                              "push_consent_reads")}
    mailchimp.reset_calls()

    report = push_mailchimp(path, mailchimp, dry_run=True)

    assert mailchimp.write_count() == 0
    with Store(path) as store:
        assert {t: store.count(t) for t in before} == before
    assert report.consent["learned"] == 1
    assert report.consent["unsubscribed"] == 1          # 22: opted out in the store
    assert report.consent["untagged"] == 1              # 20: unsubscribed there, still tagged
    assert report.consent["not_recreated_deleted"] == 1  # 21: deleted there
    assert report.consent_sample["unsubscribed"] == ["c00022 c***@e***.com: "
                                                      f"{segment_of(path, 22)} -> -"]
    real = push_mailchimp(path, mailchimp)
    assert {k: real.consent[k] for k in ("unsubscribed", "untagged", "not_recreated_deleted")} \
        == {"unsubscribed": 1, "untagged": 1, "not_recreated_deleted": 1}


def test_the_floor_holds_for_a_push_without_consent_change(path: Path,
                                                           mailchimp: FakeMailchimp) -> None:
    push_mailchimp(path, mailchimp)
    add_points(path, [0, 10, 20], points=99)  # a field change that moves nobody
    mailchimp.reset_calls()

    report = push_mailchimp(path, mailchimp)

    assert report.outcomes["updated"] == 3
    assert mailchimp.write_count() == math.ceil(3 / 500)
    reads = sorted(c.path.rsplit("/", 1)[-1] for c in mailchimp.calls if c.method == "GET")
    # the consent read (one per opt-out status), one status look-up per changed contact,
    # and what `prepare` always read (merge fields, tags)
    assert len(reads) == 3 + 3 + 2
    assert reads[-5:] == ["members"] * 3 + ["merge-fields", "segments"]


def test_a_killed_run_is_marked_interrupted_and_pushes_never_overlap(
        path: Path, mailchimp: FakeMailchimp) -> None:
    with Store(path) as store:
        store.start_run("push", "mailchimp:rfm")  # as a SIGKILL leaves it
    push_mailchimp(path, mailchimp)
    with Store(path) as store:
        runs = store.con.execute("SELECT status, message FROM runs WHERE kind = 'push' "
                                 "ORDER BY started_at").fetchall()
        stats = store.con.execute("SELECT stats FROM runs WHERE status = 'ok'").fetchone()
    assert [r[0] for r in runs] == ["interrupted", "ok"]
    assert "killed or crashed" in runs[0][1]
    assert stats is not None and '"healed": true' in stats[0]

    from clientela.destinations.lock import push_lock

    mailchimp.reset_calls()
    with push_lock(path, "mailchimp"), pytest.raises(PushLocked, match="another push to "
                                                     "mailchimp is running on this store"):
        push_mailchimp(path, mailchimp)  # as if another push held it
    assert mailchimp.calls == []
    push_mailchimp(path, mailchimp)  # the lock is free again
