"""The push engine with RD Station Marketing against its fake: calls, consent, limits, forget.

Time is a `Clock` shared by the fake (which enforces 120 calls a minute and
24 PATCHes per contact a day on it) and the destination (which paces and
backs off on it), so every wait is an exact number and no test sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clientela_rdstation import RDStationConfig, RDStationDestination

from clientela.destinations.contacts import Segmentation
from clientela.destinations.forget import forget
from clientela.destinations.push import PushReport
from clientela.store import Store
from clientela.testing.destination_contract import DestinationContract

from .fakes.rdstation import OPTED_OUT, Clock, FakeRDStation
from .helpers import (
    AS_OF,
    add_points,
    build_store,
    email,
    orders_for,
    push_then_close,
    segment_sizes,
    state,
)

N = 300
FIELDS = 9 + 1
"""Custom fields created on the first push: 9 clientela fields (no CLV table) + the segment."""
GRANTED = [{"category": "communications", "type": "consent", "status": "granted"}]


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rdstation") / "template.duckdb"
    build_store(path, N)
    return path


@pytest.fixture
def store_path(_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    path.write_bytes(_template.read_bytes())
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rd(clock: Clock) -> Iterator[FakeRDStation]:
    with FakeRDStation(clock) as fake:
        yield fake  # type: ignore[misc]


def config(fake: FakeRDStation, **options: Any) -> RDStationConfig:
    settings: dict[str, Any] = {"access_token": fake.access_token, "refresh_token":
                                fake.refresh_token, "client_id": fake.client_id,
                                "client_secret": fake.client_secret, "base_url": fake.url}
    settings.update(options)
    return RDStationConfig(**settings)


def run(path: Path, fake: FakeRDStation, *, segmentation: Segmentation | None = None,
        as_of: datetime = AS_OF, fields: list[str] | None = None, dry_run: bool = False,
        **options: Any) -> PushReport:
    opened = RDStationDestination(config(fake, **options), clock=fake.clock,
                                  sleep=fake.clock.sleep)
    return push_then_close(path, "rdstation", opened, segmentation, as_of=as_of,
                           fields=fields, dry_run=dry_run)


def who_in(path: Path, segment: str) -> int:
    kept = state(path)
    return next(i for i in range(N) if kept.get(f"c{i:05d}", (None,))[0] == segment)


def move_out_of(path: Path, segment: str) -> int:
    """A fresh order today for someone in `segment`: R becomes 5, so the segment changes."""
    i = who_in(path, segment)
    with Store(path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": f"fresh{i}", "placed_at": AS_OF - timedelta(hours=1)})])
    return i


def test_first_push_creates_each_contact_with_one_call(store_path: Path, rd: FakeRDStation,
                                                       clock: Clock) -> None:
    report = run(store_path, rd)

    sizes = segment_sizes(store_path)
    assert sum(sizes.values()) == N and report.outcomes["created"] == N and report.failed == 0
    assert len(rd.upserts()) == N and rd.tag_posts() == []
    assert rd.write_count() == N + FIELDS
    assert all("email" not in call.body for call in rd.upserts())
    assert len(rd.contacts) == N
    kept = state(store_path)
    for i in (0, 1, 150, N - 1):
        segment = kept[f"c{i:05d}"][0]
        assert segment is not None
        lead = rd.contacts[email(i)]
        assert lead.tags == ["rfm-" + segment.lower().replace(" ", "-")]
        assert lead.legal_bases == GRANTED
        assert lead.fields["cf_clientela_segment_rfm"] == segment
        assert lead.fields["cf_clientela_rfm_segment"] == segment
        assert lead.fields["cf_clientela_orders"] == len(orders_for(i))
        assert lead.fields["cf_clientela_total_spent"] == float(sum(o.total for o in orders_for(i)))
        assert lead.fields["cf_clientela_loyalty_points"] == 0
    assert {f for f in rd.fields if f.startswith("cf_")} == {
        "cf_clientela_rfm_segment", "cf_clientela_r", "cf_clientela_f", "cf_clientela_m",
        "cf_clientela_last_order", "cf_clientela_orders", "cf_clientela_total_spent",
        "cf_clientela_avg_ticket", "cf_clientela_loyalty_points", "cf_clientela_segment_rfm"}
    # 1 field list + 10 field creates + N look-ups + N upserts, at 120 a minute: paced, never 429
    requests = 1 + FIELDS + 2 * N
    assert len(rd.calls) == requests == 611
    assert rd.count(status=429) == 0
    assert clock.sleeps == pytest.approx([60.0] * ((requests - 1) // 120))


def test_one_percent_changed_costs_one_upsert_each(store_path: Path, rd: FakeRDStation) -> None:
    run(store_path, rd)
    changed = [0, 100, 200]  # loyalty points move no RFM rank
    add_points(store_path, changed, points=250)
    rd.reset_calls()

    report = run(store_path, rd)

    assert report.outcomes == {"updated": 3, "skipped": 0} and report.moved == 0
    assert rd.write_count() == 3 and len(rd.upserts()) == 3
    assert [c.method for c in rd.calls] == ["GET", "PATCH", "PATCH", "PATCH"]  # fields, no look-ups
    assert all("legal_bases" not in c.body and "tags" not in c.body for c in rd.upserts())
    assert rd.contacts[email(100)].fields["cf_clientela_loyalty_points"] == 250


def test_consent_is_sent_only_for_those_who_gave_it(tmp_path: Path, rd: FakeRDStation) -> None:
    path = tmp_path / "consent.duckdb"
    consent = {1: "unknown", 2: "pending", 3: "unsubscribed", 4: "subscribed", 5: "unsubscribed"}
    build_store(path, 40, consent)
    declined = [{"category": "communications", "type": "consent", "status": "declined"}]
    rd.add_contact(email(4), legal_bases=declined)  # said no in RD Station: never re-granted
    rd.add_contact(email(5), legal_bases=GRANTED)   # unsubscribed in the store: opt-out sent

    report = run(path, rd)

    assert report.planned == {"create": 35, "update": 1, "unsubscribe": 1, "skip": 3}
    assert report.outcomes == {"created": 35, "updated": 1, "unsubscribed": 1, "skipped": 3}
    for i in (1, 2, 3):
        assert email(i) not in rd.contacts
    assert rd.contacts[email(4)].legal_bases == declined
    assert rd.contacts[email(5)].legal_bases == declined
    bodies = {c.path.split(":", 1)[1]: c.body for c in rd.upserts()}
    assert "legal_bases" not in bodies[email(4)] and "tags" not in bodies[email(4)]
    assert bodies[email(5)] == {"cf_clientela_segment_rfm": "", "legal_bases": declined}
    assert bodies[email(0)]["legal_bases"] == GRANTED
    assert sum(1 for b in bodies.values() if b.get("legal_bases") == GRANTED) == 35
    assert rd.patched_tags_on_existing == 0
    with Store(path) as store:
        skipped = store.con.execute("SELECT customer_id, error FROM push_log WHERE outcome = "
                                    "'skipped' ORDER BY 1").fetchall()
    assert skipped == [("c00001", "no e-mail consent (unknown)"),
                       ("c00002", "no e-mail consent (pending)"),
                       ("c00003", "no e-mail consent (unsubscribed)")]


def test_a_customer_moving_segment_gets_the_new_tag_and_field(store_path: Path,
                                                              rd: FakeRDStation) -> None:
    run(store_path, rd)
    i = move_out_of(store_path, "Lost")
    rd.reset_calls()

    report = run(store_path, rd)

    now = state(store_path)[f"c{i:05d}"][0]
    assert now is not None and now != "Lost"
    assert report.failed == 0
    new_tag = "rfm-" + now.lower().replace(" ", "-")
    assert [c.body for c in rd.tag_posts() if email(i) in c.path] == [{"tags": [new_tag]}]
    lead = rd.contacts[email(i)]
    assert lead.fields["cf_clientela_segment_rfm"] == now
    # RD Station's API cannot remove a tag: the old one stays, the segment field is the truth
    assert lead.tags == ["rfm-lost", new_tag]
    assert all("tags" not in c.body for c in rd.upserts())
    moved_calls = [c for c in rd.writes() if email(i) in c.path]
    assert [c.method for c in moved_calls] == ["PATCH", "POST"]


def test_a_rule_segment_is_cleared_when_the_customer_leaves_it(store_path: Path,
                                                               rd: FakeRDStation) -> None:
    rule = Segmentation.from_rule("win_back", "days_since_last_order >= 120 and total_spent > 1200")
    fields = ["orders", "total_spent", "last_order"]
    first = run(store_path, rd, segmentation=rule, fields=fields)
    members = sorted(e for e, lead in rd.contacts.items() if "win_back" in lead.tags)
    assert first.outcomes["created"] == len(members) > 0
    i = int(members[0][len("cliente"):len("cliente") + 5])
    with Store(store_path) as store:
        store.upsert([orders_for(i)[0].model_copy(update={
            "order_id": "back", "placed_at": AS_OF - timedelta(hours=1)})])
    rd.reset_calls()

    second = run(store_path, rd, segmentation=rule, fields=fields)

    assert second.outcomes == {"removed": 1, "skipped": 0}
    assert [c.body for c in rd.writes()] == [{"cf_clientela_segment_win_back": ""}]
    assert rd.contacts[members[0]].fields["cf_clientela_orders"] == len(orders_for(i))


def test_a_429_storm_waits_what_rd_station_says(store_path: Path, rd: FakeRDStation,
                                                clock: Clock) -> None:
    rd.faults.throttles, rd.faults.retry_after = 6, "17"

    report = run(store_path, rd)

    assert report.outcomes["created"] == N and report.failed == 0
    assert rd.count(status=429) == 6  # the storm only: pacing kept the account limit
    assert clock.sleeps[:6] == [17.0] * 6  # remaining_time from the 429 body, each time
    assert len(rd.contacts) == N


def test_the_daily_per_contact_limit_fails_only_that_contact(store_path: Path, rd: FakeRDStation,
                                                              clock: Clock) -> None:
    run(store_path, rd)
    add_points(store_path, [7, 8], points=90)
    rd.patches[email(7)].extend([clock()] * 24)  # 24 updates already today
    rd.reset_calls()

    report = run(store_path, rd)

    assert report.outcomes == {"updated": 1, "failed": 1, "skipped": 0}
    assert report.errors[0][0] == "c00007" and "lead_limiter" in report.errors[0][1]
    assert len(rd.writes(status=429)) == 1  # not retried: waiting a day helps no push
    clock.sleep(86_400)
    rd.reset_calls()

    again = run(store_path, rd)

    assert again.outcomes == {"updated": 1, "skipped": 0} and len(rd.upserts()) == 1


def test_a_bad_row_fails_alone_and_is_retried_next_push(store_path: Path,
                                                        rd: FakeRDStation) -> None:
    rd.poisoned = {email(10)}

    report = run(store_path, rd)

    assert report.outcomes["created"] == N - 1 and report.failed == 1
    assert report.errors[0][0] == "c00010"
    assert "answered 400" in report.errors[0][1] and "Email is invalid" in report.errors[0][1]
    assert "cliente00010" not in report.errors[0][1]  # the path's e-mail is masked
    assert email(10) not in rd.contacts and len(rd.contacts) == N - 1
    with Store(store_path) as store:
        runs = store.con.execute("SELECT status FROM runs WHERE kind = 'push'").fetchall()
    assert runs == [("partial",)]
    rd.poisoned = set()
    rd.reset_calls()

    again = run(store_path, rd)

    assert again.outcomes == {"created": 1, "skipped": 0} and again.unchanged == N - 1
    assert rd.write_count() == 1 and email(10) in rd.contacts


def test_an_expired_token_is_refreshed_once_mid_push(store_path: Path, rd: FakeRDStation) -> None:
    run(store_path, rd)
    add_points(store_path, [3, 4], points=60)
    rd.expire_token()
    rd.reset_calls()

    report = run(store_path, rd, access_token="token-1")

    assert report.outcomes == {"updated": 2, "skipped": 0}
    assert rd.tokens_issued == 1 and rd.access_token == "token-2"
    assert [c.status for c in rd.calls] == [401, 200, 200, 200, 200]  # fields, token, 2 PATCHes


def test_without_an_access_token_one_is_fetched_first(store_path: Path, rd: FakeRDStation) -> None:
    report = run(store_path, rd, access_token=None)

    assert report.outcomes["created"] == N and rd.tokens_issued == 1
    assert rd.calls[0].path == "/auth/token"


def test_forget_deletes_the_contact(store_path: Path, rd: FakeRDStation) -> None:
    run(store_path, rd)
    person = email(42)
    rd.reset_calls()

    def opener() -> RDStationDestination:
        return RDStationDestination(config(rd), clock=rd.clock, sleep=rd.clock.sleep)

    with Store(store_path) as store:
        report = forget(store, person.upper(), {"rdstation": opener})
    with Store(store_path) as store:
        again = forget(store, person, {"rdstation": opener})

    assert report.outcomes == {"rdstation": "deleted"} and report.done
    assert person not in rd.contacts and len(rd.contacts) == N - 1
    assert [c.method for c in rd.writes()] == ["DELETE"]
    assert again.outcomes == {"rdstation": "absent"}


def test_dry_run_reads_but_never_writes(store_path: Path, rd: FakeRDStation) -> None:
    report = run(store_path, rd, dry_run=True)

    assert report.planned == {"create": N} and rd.write_count() == 0
    assert {c.method for c in rd.calls} == {"GET"}


def test_without_an_opt_out_segmentation_nothing_is_read_and_the_push_says_so(
        store_path: Path, rd: FakeRDStation) -> None:
    report = run(store_path, rd)

    assert report.consent.get("learned", 0) == 0
    assert not [c for c in rd.calls if "segmentations" in c.path]
    assert any("opt_out_segmentation" in note for note in report.notes)
    configured = run(store_path, rd, opt_out_segmentation=OPTED_OUT)
    assert not any("opt_out_segmentation" in note for note in configured.notes)


def test_the_opt_out_segmentation_is_read_page_by_page(rd: FakeRDStation) -> None:
    for i in range(130):
        rd.add_contact(email(i), legal_bases=GRANTED)
    for i in range(2, 130):
        rd.decline(email(i))
    rd.add_contact("nobody.asked@example.com")  # no legal basis at all: not an opt-out
    opened = RDStationDestination(config(rd, opt_out_segmentation=OPTED_OUT),
                                  clock=rd.clock, sleep=rd.clock.sleep)

    found = opened.read_consent(None)

    assert [(r.email, r.status, r.occurred_at) for r in found] == [
        (email(i), "unsubscribed", None) for i in range(2, 130)]
    assert {r.detail for r in found} == {"in RD Station segmentation 2 (Comunicações recusadas)"}
    assert [(c.method, c.path) for c in rd.calls] == [
        ("GET", "/platform/segmentations"),
        ("GET", "/platform/segmentations/2/contacts"),
        ("GET", "/platform/segmentations/2/contacts")]  # 125 + 3 members
    pages = [entry.query for entry in rd.log if "/contacts" in entry.path]
    assert pages == [{"page": "1", "page_size": "125"}, {"page": "2", "page_size": "125"}]
    assert rd.write_count() == 0


@pytest.mark.parametrize(("segmentation", "why"), [
    (1, "'All contacts in the Leads base' is a standard RD Station segmentation"),
    (99, "RD Station has no segmentation with this id")])
def test_a_wrong_opt_out_segmentation_is_named_not_read(rd: FakeRDStation, segmentation: int,
                                                         why: str) -> None:
    from clientela_rdstation.optouts import SegmentationError

    rd.add_contact(email(0), legal_bases=GRANTED)
    opened = RDStationDestination(config(rd, opt_out_segmentation=segmentation),
                                  clock=rd.clock, sleep=rd.clock.sleep)

    with pytest.raises(SegmentationError) as raised:
        opened.read_consent(None)

    assert str(raised.value).startswith(f"opt_out_segmentation = {segmentation}: {why}")
    assert [c.path for c in rd.calls] == ["/platform/segmentations"]  # never listed


def test_a_wrong_opt_out_segmentation_stops_the_push_in_one_line_exit_2(
        tmp_path: Path, rd: FakeRDStation, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins
    from clientela.cli.app import main
    from clientela.cli.common import workspace

    store = tmp_path / "store.duckdb"
    build_store(store, 5)
    (tmp_path / "clientela.toml").write_text(
        f'[workspace]\nstore = "{store}"\n[destinations.rdstation]\n'
        f'access_token = "{rd.access_token}"\nbase_url = "{rd.url}"\n'
        "opt_out_segmentation = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    plugins.reset(forget_local=True)
    workspace.config_file = workspace.store_override = workspace._settings = None

    code = main(["push", "rdstation", "--dry-run"])

    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "opt_out_segmentation = 1: 'All contacts in the Leads base' is a standard" in err
    assert "Traceback" not in err and rd.access_token not in err


def test_a_decline_in_rd_station_reaches_the_store(store_path: Path, rd: FakeRDStation) -> None:
    from clientela.consent import can_contact

    run(store_path, rd, opt_out_segmentation=OPTED_OUT)
    rd.decline(email(12))
    rd.decline(email(13))
    rd.reset_calls()

    report = run(store_path, rd, opt_out_segmentation=OPTED_OUT)

    assert report.consent["learned"] == 2
    with Store(store_path) as store:
        assert not can_contact(store, "c00012", "email", "marketing")
        assert not can_contact(store, "c00013", "email", "marketing")
        assert can_contact(store, "c00014", "email", "marketing")
        evidence = store.con.execute("SELECT DISTINCT evidence FROM consent_events WHERE source = "
                                     "'rdstation'").fetchall()
    assert evidence == [("unsubscribed at rdstation (in RD Station segmentation 2 "
                         "(Comunicações recusadas))",)]
    for i in (12, 13):  # out of the segment; the decline is kept, never granted again
        lead = rd.contacts[email(i)]
        assert lead.fields["cf_clientela_segment_rfm"] == ""
        assert [b["status"] for b in lead.legal_bases] == ["declined"]
    again = run(store_path, rd, opt_out_segmentation=OPTED_OUT)
    assert again.consent.get("learned", 0) == 0 and again.contacts == report.contacts


class TestRDStationContract(DestinationContract):
    name, distribution = "rdstation", "clientela-rdstation"
    store_databases = ("duckdb", "postgres")  # a destination without an SDK, on PostgreSQL
    store_size = 40
    """1 field list + 10 field creates + 2 calls each fit in RD Station's 120 a minute, so the
    killed run (on the real clock, the fake on its own) is never paced."""

    @pytest.fixture
    def fake(self) -> Iterator[FakeRDStation]:
        with FakeRDStation(Clock()) as server:
            yield server  # type: ignore[misc]

    def settings(self, fake: FakeRDStation, **options: Any) -> dict[str, Any]:
        return {"access_token": fake.access_token, "refresh_token": fake.refresh_token,
                "client_id": fake.client_id, "client_secret": fake.client_secret,
                "base_url": fake.url, "opt_out_segmentation": OPTED_OUT, **options}

    def opt_out(self, fake: FakeRDStation, address: str) -> None:
        fake.decline(address)

    def build(self, fake: FakeRDStation, sleep: Any, **options: Any) -> RDStationDestination:
        def wait(seconds: float) -> None:  # the fake's clock moves as the client waits
            sleep(seconds)
            fake.clock.sleep(seconds)
        return RDStationDestination(RDStationConfig(**self.settings(fake, **options)),
                                    clock=fake.clock, sleep=wait)

    def audience(self, fake: FakeRDStation) -> dict[str, str | None]:
        return {address.lower(): lead.fields.get("cf_clientela_segment_rfm") or None
                for address, lead in fake.contacts.items()}

    def subscribed(self, fake: FakeRDStation) -> set[str]:
        return {address.lower() for address, lead in fake.contacts.items()
                if any(basis.get("status") == "granted" for basis in lead.legal_bases)}

    def storm_wait(self, fake: FakeRDStation) -> float:
        return 3.0  # the 429 body's remaining_time

    def extra_unchanged(self, fake: FakeRDStation) -> None:
        # the opt-out segmentation (checked, then its one page of members), a look-up of each
        # of the four without consent (are they there already?), no write
        assert sorted((c.method, c.path, c.status) for c in fake.calls) == sorted(
            [("GET", "/platform/segmentations", 200),
             ("GET", f"/platform/segmentations/{OPTED_OUT}/contacts", 200),
             *(("GET", f"/platform/contacts/email:{email(i)}", 404) for i in self.no_consent)])
