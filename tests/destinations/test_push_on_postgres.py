"""`clientela push` and `forget` on a PostgreSQL store (`[store] url`), the opt-outs beyond
marketing handed over alike on PostgreSQL and DuckDB, and the push lock across processes.

The destination contract runs whole on PostgreSQL for Mailchimp and RD Station
(`store_databases`); here: the command itself end to end, and the push lock, which on a
PostgreSQL store is the server's advisory lock (a store shared by two machines), not a
file next to the store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import typer
from clientela_hubspot import HubSpotConfig, HubSpotDestination
from typer.testing import CliRunner

from clientela.consent import ConsentEvent, can_contact, record
from clientela.destinations.contacts import Segmentation
from clientela.destinations.lock import PushLocked, lock_path, push_lock
from clientela.destinations.push import PushReport
from clientela.destinations.read_first import ReadOutcome
from clientela.store import Store
from clientela.testing.destination_contract import contract_store, email
from clientela.testing.engines import PostgresServer

from .fakes.hubspot import FakeHubSpot
from .fakes.mailchimp import FakeMailchimp
from .helpers import push_then_close

pytestmark = pytest.mark.postgres

NO_CONSENT = {2: "unsubscribed", 5: "pending"}


def _url(server: PostgresServer) -> str:
    return f"postgresql://{server.user}@{server.host}:{server.port}/{server.new_database()}"


def test_clientela_push_runs_end_to_end_on_a_postgresql_store(
        clientela_postgres: PostgresServer, mailchimp: FakeMailchimp, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela import plugins
    from clientela.cli import push as push_cli
    from clientela.cli.common import workspace

    url = _url(clientela_postgres)
    contract_store(url, 20, NO_CONSENT)
    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-mailchimp")
    monkeypatch.setenv("MC_KEY", "0123456789abcdef-us21")
    monkeypatch.setenv("STORE_URL", url)
    plugins.reset()
    (tmp_path / "clientela.toml").write_text(f"""
[workspace]
timezone = "UTC"

[store]
url = "${{STORE_URL}}"

[destinations.mailchimp]
api_key = "${{MC_KEY}}"
list_id = "{mailchimp.list_id}"
base_url = "{mailchimp.url}"
""")
    workspace.config_file, workspace._settings = tmp_path / "clientela.toml", None
    app = typer.Typer()
    push_cli.register(app)
    runner = CliRunner()

    dry = runner.invoke(app, ["push", "mailchimp", "--as-of", "2024-07-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing sent" in dry.output and mailchimp.write_count() == 0
    with Store(url) as store:  # the dry run's reads were rolled back on the server too
        assert store.con.execute("SELECT count(*) FROM push_state").fetchone() == (0,)

    done = runner.invoke(app, ["push", "mailchimp", "--as-of", "2024-07-01"])
    assert done.exit_code == 0, done.output
    subscribed = {m.email for m in mailchimp.members.values() if m.status == "subscribed"}
    assert len(subscribed) == 20 - len(NO_CONSENT)
    assert {email(i) for i in NO_CONSENT}.isdisjoint(subscribed)
    assert not list(tmp_path.glob("*.lock"))  # the lock was the server's, not a file
    with Store(url) as store:
        runs = store.run_log("push")
        assert [(r["target"], r["status"]) for r in runs] == [("mailchimp:rfm", "ok")]
        assert store.con.execute("SELECT count(*) FROM push_state").fetchone() == (18,)

    mailchimp.reset_calls()
    again = runner.invoke(app, ["push", "mailchimp", "--as-of", "2024-07-01"])
    assert again.exit_code == 0, again.output
    assert mailchimp.write_count() == 0

    gone = runner.invoke(app, ["forget", email(3)])  # an erasure, in the store and there
    assert gone.exit_code == 0, gone.output
    assert "deleted" in gone.output and mailchimp.member(email(3)) is None
    with Store(url) as store:
        assert store.con.execute("SELECT email, consent_email FROM customers WHERE "
                                 "customer_id = 'c00003'").fetchall() == [(None, "unsubscribed")]
        assert not can_contact(store, "c00003", "email", "marketing")
        assert store.con.execute("SELECT status, customers FROM forget_requests").fetchall() \
            == [("done", 1)]


def push_hubspot(target: Path | str, fake: FakeHubSpot,
                 segmentation: Segmentation | None = None) -> PushReport:
    config = HubSpotConfig(access_token=fake.token, base_url=fake.url,
                           subscription_types={"7400001": "marketing", "7400003": "relationship"})
    return push_then_close(target, "hubspot",  # type: ignore[arg-type]
                           HubSpotDestination(config, sleep=lambda s: None), segmentation)


def both_stores(server: PostgresServer, tmp_path: Path) -> dict[str, Path | str]:
    """The same contract store twice, on DuckDB and on PostgreSQL."""
    targets: dict[str, Path | str] = {"duckdb": tmp_path / "store.duckdb",
                                      "postgres": _url(server)}
    for target in targets.values():
        contract_store(target, 20, NO_CONSENT)
    return targets


def opt_out_at_the_till(target: Path | str, *opt_outs: tuple[int, str]) -> None:
    """(customer number, purpose): an e-mail opt-out of that purpose, dated after the rest."""
    with Store(target) as store:
        record(store, [ConsentEvent(
            customer_id=f"c{i:05d}", channel="email", purpose=purpose, status="opted_out",
            address=email(i), occurred_at=datetime(2030, 1, 1), source="pos",
            evidence="asked at the till") for i, purpose in opt_outs])


def test_relationship_opt_outs_are_handed_over_alike_on_postgresql_and_duckdb(
        clientela_postgres: PostgresServer, tmp_path: Path) -> None:
    """The consent table, the contacts' hash and the push state's `opt_outs` are SQL run
    in the store's database: both stores send HubSpot the same unsubscribes and keep the
    same state, hashes included."""
    seen = {}
    for name, target in both_stores(clientela_postgres, tmp_path).items():
        with FakeHubSpot() as fake:
            push_hubspot(target, fake)
            opt_out_at_the_till(target, (4, "relationship"), (7, "relationship"),
                                (2, "relationship"))
            fake.reset_calls()
            push_hubspot(target, fake)
            sent = sorted((c.body["emailAddress"], c.body["subscriptionId"])
                          for c in fake.unsubscribe_calls())
        with Store(target) as store:
            state = store.con.execute("SELECT customer_id, opt_outs, hash, status FROM "
                                      "push_state ORDER BY 1").fetchall()
        seen[name] = (sent, [tuple(row) for row in state])
    assert seen["duckdb"] == seen["postgres"]
    # c00002 (no marketing consent) was never created in HubSpot: nothing written about her
    assert seen["duckdb"][0] == [(email(4), "7400003"), (email(7), "7400003")]
    assert [(cid, opt_outs) for cid, opt_outs, _, _ in seen["duckdb"][1] if opt_outs] == [
        ("c00004", "relationship"), ("c00007", "relationship")]


def test_opt_outs_beyond_the_pushed_segmentation_alike_on_postgresql_and_duckdb(
        clientela_postgres: PostgresServer, tmp_path: Path) -> None:
    """The hand-over's SQL (the ledger's opt-outs of the customers a destination was ever
    sent, less those handed before) runs in the store's database: after an RFM push, a push
    of a rule nobody matches writes the same unsubscribes from both stores and remembers
    the same, and a second one writes nothing."""
    nobody = Segmentation.from_rule("nobody", "orders < 0")
    seen = {}
    for name, target in both_stores(clientela_postgres, tmp_path).items():
        with FakeHubSpot() as fake:
            push_hubspot(target, fake)
            opt_out_at_the_till(target, (4, "relationship"), (7, "marketing"),
                                (9, "marketing"), (9, "relationship"), (2, "relationship"))
            fake.reset_calls()
            report = push_hubspot(target, fake, nobody)
            sent = sorted((c.body["emailAddress"], c.body["subscriptionId"])
                          for c in fake.unsubscribe_calls())
            fake.reset_calls()
            push_hubspot(target, fake, nobody)
            assert fake.write_count() == 0
        with Store(target) as store:
            handed = store.con.execute("SELECT customer_id, purpose, target FROM push_opt_outs "
                                       "ORDER BY 1, 3").fetchall()
        seen[name] = (report.consent["opt_outs_written"], sent, [tuple(r) for r in handed])
    assert seen["duckdb"] == seen["postgres"]
    # c00002 (no marketing consent) was never created in HubSpot nor sent: nothing for her
    assert seen["duckdb"] == (3, [(email(4), "7400003"), (email(7), "7400001"),
                                  (email(9), "7400001"), (email(9), "7400003")],
                              [("c00004", "relationship", "7400003"),
                               ("c00007", "marketing", "7400001"),
                               ("c00009", "marketing", "7400001"),
                               ("c00009", "relationship", "7400003")])


HOLDER = textwrap.dedent("""
    import sys, time
    from clientela.destinations.lock import push_lock
    from clientela.store import Store

    with Store(sys.argv[1]) as store, push_lock(store, "mailchimp"):
        print("held", flush=True)
        time.sleep(300)
""")


def test_the_push_lock_of_a_postgresql_store_spans_processes_and_dies_with_its_holder(
        clientela_postgres: PostgresServer, tmp_path: Path) -> None:
    url = _url(clientela_postgres)
    Store(url).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with Store(url) as store:
            busy = (rf"another push to mailchimp is running on this store \(clientela pid "
                    rf"{holder.pid} on .*push:mailchimp")
            with pytest.raises(PushLocked, match=busy), push_lock(store, "mailchimp"):
                pass
            with push_lock(store, "sendgrid"):  # one lock per destination
                pass
            assert not lock_path(store.path, "mailchimp").exists()
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(30)
            for _ in range(50):  # the server ends the killed session as its socket closes
                try:
                    with push_lock(store, "mailchimp"):
                        break
                except PushLocked:
                    time.sleep(0.1)
            else:
                pytest.fail("the killed holder's advisory lock was never released")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)


def test_the_other_destinations_are_read_first_alike_on_postgresql_and_duckdb(
        clientela_postgres: PostgresServer, tmp_path: Path) -> None:
    """Consent first on both stores: each other destination's read is its own transaction
    under its push lock (the server's advisory lock on PostgreSQL). An unsubscribe at HubSpot
    reaches Mailchimp, pushed first; a dry run of the same reads records nothing."""
    from .helpers import destination as mailchimp_destination

    seen = {}
    for name, target in both_stores(clientela_postgres, tmp_path).items():
        with FakeHubSpot() as hubspot, FakeMailchimp() as mailchimp:
            push_hubspot(target, hubspot)
            push_then_close(target, "mailchimp", mailchimp_destination(mailchimp))
            hubspot.unsubscribe(email(4))
            others = {"hubspot": lambda hubspot=hubspot: HubSpotDestination(HubSpotConfig(
                access_token=hubspot.token, base_url=hubspot.url), sleep=lambda s: None)}
            dry = push_then_close(target, "mailchimp", mailchimp_destination(mailchimp),
                                  dry_run=True, others=others)
            with Store(target) as store:
                assert can_contact(store, "c00004", "email", "marketing")
            done = push_then_close(target, "mailchimp", mailchimp_destination(mailchimp),
                                   others=others)
            member = mailchimp.member(email(4))
            seen[name] = ([(o.destination, o.status, o.learned) for o in dry.read_first],
                          dry.consent["unsubscribed"],
                          [(o.destination, o.status, o.learned) for o in done.read_first],
                          done.outcomes["unsubscribed"], member.status if member else None,
                          mailchimp.tags_of(email(4)))
    assert seen["duckdb"] == seen["postgres"] == (
        [("hubspot", "read", 1)], 1, [("hubspot", "read", 1)], 1, "unsubscribed", set())


class SlowReader:
    """A destination whose opt-out read lasts until the test lets it end."""

    def __init__(self, reading: threading.Event, release: threading.Event) -> None:
        self.reading, self.release = reading, release

    def read_consent(self, since: datetime | None) -> list[object]:
        self.reading.set()
        assert self.release.wait(60), "the read was never let go"
        return []

    def close(self) -> None:
        pass


def test_a_push_waits_for_a_read_of_its_destination_but_not_for_another_push(
        clientela_postgres: PostgresServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a store shared by two machines, a push of mailchimp that starts while another
    machine reads mailchimp's opt-outs runs once that read is done; a push that finds
    another push running, or a read that finds a push, stops at once (nothing waited);
    a read that outlasts `read_wait` is given up on, saying why. Alike on DuckDB."""
    for target in (tmp_path / "store.duckdb", _url(clientela_postgres)):
        Store(target).close()
        with Store(target) as store:
            check_push_and_read_locks(store, monkeypatch)


def check_push_and_read_locks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela.destinations.lock import read_lock
    from clientela.destinations.read_first import read_all

    reading, release = threading.Event(), threading.Event()
    outcomes: list[ReadOutcome] = []
    slow = {"mailchimp": lambda: SlowReader(reading, release)}
    reader = threading.Thread(target=lambda: outcomes.extend(read_all(store, slow)))
    real_sleep, waits = time.sleep, []

    def sleep(seconds: float) -> None:  # the push waits: now let the read end
        waits.append(seconds)
        release.set()
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    reader.start()
    try:
        assert reading.wait(60)
        with push_lock(store, "mailchimp"):
            pushed = True
    finally:
        release.set()
        reader.join(60)
    assert pushed and waits
    assert [(o.destination, o.status) for o in outcomes] == [("mailchimp", "read")]

    def no_wait(seconds: float) -> None:
        raise AssertionError("waited for a lock that a push holds")

    monkeypatch.setattr(time, "sleep", no_wait)
    with push_lock(store, "mailchimp"):
        with pytest.raises(PushLocked, match="another push to mailchimp is running"), \
                push_lock(store, "mailchimp"):
            pass
        busy = read_all(store, slow)
        assert [(o.destination, o.status) for o in busy] == [("mailchimp", "busy")]
    monkeypatch.setattr(time, "sleep", real_sleep)

    slow_read = r"the opt-outs of mailchimp have been read on this store for more than 0\.5 s"
    with read_lock(store, "mailchimp"), pytest.raises(PushLocked, match=slow_read), \
            push_lock(store, "mailchimp", read_wait=0.5):
        pass
    with push_lock(store, "mailchimp"):  # and nothing was left held
        pass
