"""The push engine with Agile CRM against its fake: calls per contact, tags moved, consent,
429s, a refused row, forget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clientela_agilecrm import AgileCRMConfig, AgileCRMDestination

from clientela.consent import ConsentEvent, record
from clientela.destinations.contacts import Segmentation
from clientela.destinations.forget import forget
from clientela.destinations.push import PushReport, push
from clientela.http import HttpError
from clientela.store import Store
from clientela.testing.destination_contract import DestinationContract

from .conftest import Sleeps
from .fakes.agilecrm import FakeAgileCRM
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

N = 300
LOOKUPS = -(-N // 50)
"""`POST contacts/search/email` calls for N contacts, 50 e-mails each."""


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agilecrm") / "template.duckdb"
    build_store(path, N)
    return path


@pytest.fixture
def store_path(_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    path.write_bytes(_template.read_bytes())
    return path


@pytest.fixture
def agile() -> Iterator[FakeAgileCRM]:
    with FakeAgileCRM() as fake:
        yield fake  # type: ignore[misc]


def destination(fake: FakeAgileCRM, sleeps: Any = None, **options: Any) -> AgileCRMDestination:
    config = AgileCRMConfig(email=fake.user, api_key=fake.api_key, base_url=fake.url, **options)
    return AgileCRMDestination(config, sleep=sleeps or (lambda s: None))


def run(path: Path, fake: FakeAgileCRM, *, sleeps: Any = None,
        segmentation: Segmentation | None = None, fields: list[str] | None = None,
        **options: Any) -> PushReport:
    return push_then_close(path, "agilecrm", destination(fake, sleeps, **options),
                           segmentation, fields=fields)


def tag(segment: str) -> str:
    return f"rfm_{segment}"


def test_first_push_creates_each_contact_with_its_tag_in_one_call(store_path: Path,
                                                                  agile: FakeAgileCRM) -> None:
    report = run(store_path, agile)

    assert report.outcomes["created"] == N and report.failed == 0
    assert sum(segment_sizes(store_path).values()) == N
    assert len(agile.creates()) == N and agile.write_count() == N
    assert len(agile.writes(r"/search/email$")) == LOOKUPS == 6
    kept = state(store_path)
    for i in (0, 1, 150, N - 1):
        segment = kept[f"c{i:05d}"][0]
        assert segment is not None
        person = agile.by_email(email(i))
        assert person is not None and person.tags == [tag(segment)]
        assert person.properties["RFM segment"] == segment
        assert person.properties["Orders"] == str(len(orders_for(i)))
        assert person.properties["Total spent"] == str(sum(o.total for o in orders_for(i)))
        assert person.properties["Loyalty points"] == "0"
        assert person.properties["first_name"] == f"cliente{i:05d}"


def test_one_percent_changed_costs_one_look_up_and_one_update_each(store_path: Path,
                                                                   agile: FakeAgileCRM) -> None:
    run(store_path, agile)
    add_points(store_path, [0, 100, 200], points=250)
    agile.reset_calls()

    report = run(store_path, agile)

    assert report.outcomes == {"updated": 3, "skipped": 0} and report.moved == 0
    assert [(c.method, c.path) for c in agile.calls] == [  # the opt-out read: 3 pages of 100
        ("GET", "/dev/api/contacts")] * 3 + [("POST", "/dev/api/contacts/search/email")] + [
        ("PUT", "/dev/api/contacts/edit-properties")] * 3
    person = agile.by_email(email(100))
    assert person is not None and person.properties["Loyalty points"] == "250"


def test_only_subscribed_contacts_are_created(tmp_path: Path, agile: FakeAgileCRM) -> None:
    path = tmp_path / "consent.duckdb"
    build_store(path, 40, {1: "unknown", 2: "pending", 3: "unsubscribed", 4: "unsubscribed"})
    agile.add_person(email(4))  # in the CRM without consent: kept, out of every segment

    report = run(path, agile)

    assert report.planned == {"create": 36, "unsubscribe": 1, "skip": 3}
    assert report.outcomes == {"created": 36, "unsubscribed": 1, "skipped": 3}
    assert report.notes and "no e-mail subscription status" in report.notes[0]
    assert [agile.by_email(email(i)) for i in (1, 2, 3)] == [None, None, None]
    assert len(agile.people) == 37

    lenient = run(path, agile, create_without_consent=True)

    assert lenient.outcomes == {"created": 3, "skipped": 0} and len(agile.people) == 40


def test_a_customer_moving_segment_loses_the_old_tag(store_path: Path,
                                                     agile: FakeAgileCRM) -> None:
    run(store_path, agile)
    kept = state(store_path)
    i = next(k for k in range(N) if kept[f"c{k:05d}"][0] == "Lost")
    with Store(store_path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": "fresh", "placed_at": AS_OF - timedelta(hours=1)})])
    agile.reset_calls()

    report = run(store_path, agile)

    now = state(store_path)[f"c{i:05d}"][0]
    assert now is not None and now != "Lost" and report.failed == 0
    assert agile.tags_of(email(i)) == [tag(now)]
    person = agile.by_email(email(i))
    assert person is not None
    mine = [(c.path.rsplit("/", 2)[-2:], c.body) for c in agile.writes()
            if isinstance(c.body, dict) and c.body.get("id") == person.id]
    assert mine == [(["contacts", "edit-properties"], mine[0][1]),
                    (["edit", "tags"], {"id": person.id, "tags": [tag(now)]}),
                    (["delete", "tags"], {"id": person.id, "tags": ["rfm_Lost"]})]
    # every mover costs three writes, everyone else one
    movers = report.moved
    assert agile.write_count() == 3 * movers + (report.outcomes["updated"] - movers)


def test_a_refused_row_fails_alone_and_is_retried_next_push(store_path: Path,
                                                            agile: FakeAgileCRM) -> None:
    agile.poisoned = {email(10)}

    report = run(store_path, agile)

    assert report.outcomes["created"] == N - 1 and report.failed == 1
    assert report.errors[0][0] == "c00010" and "Invalid email address" in report.errors[0][1]
    assert agile.by_email(email(10)) is None
    agile.poisoned = set()
    agile.reset_calls()

    again = run(store_path, agile)

    assert again.outcomes == {"created": 1, "skipped": 0} and agile.write_count() == 1


def test_a_contact_deleted_in_agile_is_recreated_only_after_a_newer_opt_in(
        store_path: Path, agile: FakeAgileCRM) -> None:
    run(store_path, agile)
    gone = agile.by_email(email(5))
    assert gone is not None
    del agile.people[gone.id]
    add_points(store_path, [5], points=30)

    first = run(store_path, agile)
    second = run(store_path, agile)

    assert first.outcomes == {"failed": 1, "skipped": 0}
    assert second.outcomes == {"skipped": 1} and second.consent["not_recreated_deleted"] == 1
    assert agile.by_email(email(5)) is None
    with Store(store_path) as store:
        record(store, [ConsentEvent(customer_id="c00005", channel="email", purpose="marketing",
                                    status="opted_in", address=email(5),
                                    occurred_at=datetime.now(UTC) + timedelta(seconds=1),
                                    source="import", evidence="signed up again")])
    third = run(store_path, agile)
    assert third.outcomes == {"created": 1, "skipped": 0}
    person = agile.by_email(email(5))
    assert person is not None and person.properties["Loyalty points"] == "30"


def test_pacing_keeps_to_the_configured_rate(store_path: Path, agile: FakeAgileCRM,
                                             sleeps: Sleeps) -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        clock[0] += seconds

    config = AgileCRMConfig(email=agile.user, api_key=agile.api_key, base_url=agile.url,
                            requests_per_minute=100)
    opened = AgileCRMDestination(config, clock=lambda: clock[0], sleep=sleep)
    with Store(store_path) as store:
        push(store, "agilecrm", opened, Segmentation.rfm(), as_of=AS_OF)
    opened.close()

    assert len(agile.calls) == 1 + N + LOOKUPS == 307  # the opt-out read of an empty account
    assert sleeps.waits == [60.0, 60.0, 60.0]


def test_forget_deletes_the_contact(store_path: Path, agile: FakeAgileCRM) -> None:
    run(store_path, agile)
    person = email(42)
    agile.reset_calls()

    def opener() -> AgileCRMDestination:
        return destination(agile)

    with Store(store_path) as store:
        report = forget(store, person.upper(), {"agilecrm": opener})
    with Store(store_path) as store:
        again = forget(store, person, {"agilecrm": opener})

    assert report.outcomes == {"agilecrm": "deleted"} and report.done
    assert agile.by_email(person) is None and len(agile.people) == N - 1
    assert [c.method for c in agile.writes()] == ["DELETE"]
    assert again.outcomes == {"agilecrm": "absent"}


def test_wrong_credentials_stop_the_push(store_path: Path, agile: FakeAgileCRM) -> None:
    config = AgileCRMConfig(email=agile.user, api_key="wrong-key", base_url=agile.url)
    opened = AgileCRMDestination(config, sleep=lambda s: None)
    with Store(store_path) as store, pytest.raises(HttpError, match="answered 401"):
        push(store, "agilecrm", opened, Segmentation.rfm(), as_of=AS_OF)
    opened.close()
    assert agile.people == {} and agile.count(status=401) == 1


def test_unsubscribes_from_all_hard_bounces_and_spam_are_read_back(agile: FakeAgileCRM) -> None:
    for i in range(7):
        agile.add_person(email(i))
    agile.unsubscribe(email(0))                       # from every campaign: an opt-out
    agile.unsubscribe(email(1), kind="CURRENT")       # from one campaign only: not
    agile.bounce(email(2), at=1_719_000_000)          # hard bounce
    agile.bounce(email(3), kind="SOFT_BOUNCE")        # soft: not
    agile.bounce(email(4), kind="SPAM", at=1_719_000_500)
    agile.bounce(email(5), at=1_719_000_900)
    agile.unsubscribe(email(5))                       # both: the person's own word is kept
    opened = destination(agile, consent_page_size=2)

    found = opened.read_consent(None)

    changed = {i: datetime.fromtimestamp(agile.by_email(email(i)).updated_time, UTC)  # type: ignore[union-attr]
               .replace(tzinfo=None) for i in (0, 5)}
    assert [(r.email, r.status, r.occurred_at, r.detail) for r in found] == [
        (email(0), "unsubscribed", changed[0], "Agile CRM: unsubscribed from all campaigns"),
        (email(2), "bounced", datetime(2024, 6, 21, 20, 0), "Agile CRM: hard bounce"),
        (email(4), "complained", datetime(2024, 6, 21, 20, 8, 20), "Agile CRM: marked as spam"),
        (email(5), "unsubscribed", changed[5], "Agile CRM: unsubscribed from all campaigns")]
    listings = [entry.query for entry in agile.log if entry.path == "/dev/api/contacts"]
    assert len(listings) == 4 and listings[0] == {"page_size": "2"}  # 7 contacts, 2 a page
    assert all(q["page_size"] == "2" and q["cursor"] for q in listings[1:])
    assert agile.write_count() == 0


def test_a_later_read_keeps_only_what_changed_since(agile: FakeAgileCRM, sleeps: Sleeps) -> None:
    for i in range(3):
        agile.add_person(email(i))
    agile.unsubscribe(email(0))
    agile.by_email(email(0)).updated_time = 1_719_000_000  # type: ignore[union-attr]
    agile.unsubscribe(email(1))
    agile.by_email(email(1)).updated_time = 1_719_100_000  # type: ignore[union-attr]
    agile.bounce(email(2), at=1_719_000_000)
    agile.by_email(email(2)).updated_time = 1_719_100_000  # type: ignore[union-attr]
    agile.faults.throttles, agile.faults.retry_after = 1, "7"
    opened = destination(agile, sleeps)

    found = opened.read_consent(datetime(2024, 6, 22, 12, 0))  # 1_719_057_600

    assert [(r.email, r.status) for r in found] == [(email(1), "unsubscribed")]
    assert sleeps.waits == [7.0] and agile.count(status=429) == 1


def test_an_unsubscribe_in_agile_crm_reaches_the_store_and_drops_the_tag(
        store_path: Path, agile: FakeAgileCRM) -> None:
    run(store_path, agile)
    held = {i: list(agile.tags_of(email(i))) for i in (7, 8)}
    assert all(held.values())
    agile.unsubscribe(email(7))
    agile.bounce(email(8))
    agile.reset_calls()

    report = run(store_path, agile)

    assert report.consent["learned"] == 2
    evidence = learned_opt_outs(store_path, "agilecrm", ["c00007", "c00008"], still="c00009")
    assert evidence == {
        "c00007": "unsubscribed at agilecrm (Agile CRM: unsubscribed from all campaigns)",
        "c00008": "bounced at agilecrm (Agile CRM: hard bounce)"}
    assert agile.tags_of(email(7)) == [] and agile.tags_of(email(8)) == []
    agile.reset_calls()
    assert run(store_path, agile).consent.get("learned", 0) == 0  # read once, not again


class TestAgileCRMContract(DestinationContract):
    name, distribution = "agilecrm", "clientela-agilecrm"
    storm, exact_waits = 8, True

    @pytest.fixture
    def fake(self) -> Iterator[FakeAgileCRM]:
        with FakeAgileCRM() as server:
            yield server  # type: ignore[misc]

    def settings(self, fake: FakeAgileCRM, **options: Any) -> dict[str, Any]:
        return {"email": fake.user, "api_key": fake.api_key, "base_url": fake.url, **options}

    def build(self, fake: FakeAgileCRM, sleep: Any, **options: Any) -> AgileCRMDestination:
        return AgileCRMDestination(AgileCRMConfig(**self.settings(fake, **options)), sleep=sleep)

    def audience(self, fake: FakeAgileCRM) -> dict[str, str | None]:
        return {p.email.lower(): p.properties.get("RFM segment") or None
                for p in fake.people.values()}

    def subscribed(self, fake: FakeAgileCRM) -> set[str]:
        # Agile CRM has no subscription status: who carries a segment tag is who is targeted
        return {p.email.lower() for p in fake.people.values()
                if any(tag.startswith("rfm_") for tag in p.tags)}

    def opt_out(self, fake: FakeAgileCRM, address: str) -> None:
        fake.unsubscribe(address)

    def extra_unchanged(self, fake: FakeAgileCRM) -> None:
        # the opt-out read (one page of contacts), one look-up, of the four without consent
        # (are they there already?), nothing else
        assert [(c.method, c.path) for c in fake.calls] == [
            ("GET", "/dev/api/contacts"), ("POST", "/dev/api/contacts/search/email")]


def test_one_reading_of_a_contacts_email_for_lookups_and_opt_outs() -> None:
    """The push's lookup table and the opt-outs read back key by the store's form of an
    address (trimmed, lower-case), whatever case Agile CRM kept it in."""
    from clientela_agilecrm.contact import email_of

    typed = {"properties": [{"name": "first_name", "value": "Ana"},
                            {"name": "email", "value": " Ana.Souza@Example.COM "}]}
    assert email_of(typed) == "ana.souza@example.com"
    assert email_of({"properties": [{"name": "email", "value": ""}]}) is None
    assert email_of({"properties": None}) is None
    assert email_of("not a contact") is None
