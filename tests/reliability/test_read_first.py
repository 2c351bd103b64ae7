"""Consent first: every destination's opt-outs are read before any push, so an unsubscribe at
SendGrid reaches Mailchimp even when Mailchimp is pushed first in the same run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from destinations.fakes.hubspot import FakeHubSpot, stamp
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.fakes.sendgrid import FakeSendGrid
from destinations.helpers import destination as mailchimp_destination
from destinations.helpers import mailchimp_section
from typer.testing import CliRunner

from clientela.config import ConfigError
from clientela.consent import ConsentEvent, can_contact, history, record
from clientela.destinations.read_first import read_all
from clientela.http.errors import HttpError
from clientela.store import Store

from .support import (
    build_store,
    email,
    hubspot_destination,
    push_hubspot,
    push_mailchimp,
    push_sendgrid,
    sendgrid_destination,
    subscribed_without_consent,
)

N = 40
PERSON = 13
AS_OF = "2024-07-01"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeMailchimp, FakeSendGrid]]:
    with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
        yield mailchimp, sendgrid


@pytest.fixture
def path(tmp_path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> Path:
    """A store pushed once to each fake (both read, nobody opted out yet)."""
    made = tmp_path / "store.duckdb"
    build_store(made, N)
    mailchimp, sendgrid = fakes
    push_mailchimp(made, mailchimp)
    push_sendgrid(made, sendgrid)
    assert mailchimp.member(email(PERSON)).status == "subscribed"  # type: ignore[union-attr]
    assert mailchimp.tags_of(email(PERSON)) and sendgrid.lists_of(email(PERSON))
    return made


Cli = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """`clientela` on that store, with both destinations configured (`sendgrid_key` lets a
    test give SendGrid a key it refuses)."""
    from clientela import plugins
    from clientela.cli import consent as consent_cli
    from clientela.cli import push as push_cli
    from clientela.cli.common import workspace

    mailchimp, sendgrid = fakes
    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-mailchimp,clientela-sendgrid")
    monkeypatch.setenv("MC_KEY", "0123456789abcdef0123456789abcdef-us21")
    monkeypatch.setenv("SG_KEY", sendgrid.api_key)
    monkeypatch.setenv("COLUMNS", "200")  # tables on one line each
    plugins.reset()
    (tmp_path / "clientela.toml").write_text(f"""
[workspace]
timezone = "UTC"
store = "{path}"
{mailchimp_section(mailchimp)}
[destinations.sendgrid]
api_key = "${{SG_KEY}}"
base_url = "{sendgrid.url}"
poll_interval = 0.01
""")
    workspace.config_file, workspace._settings = tmp_path / "clientela.toml", None
    app = typer.Typer()
    push_cli.register(app)  # push and forget
    consent_cli.register(app)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        workspace._settings = None  # the environment as it is now
        return runner.invoke(app, list(args))
    yield invoke
    workspace.config_file, workspace._settings = None, None
    plugins.reset()


def row(output: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    [cells] = [cells for line in output.splitlines()
               if len(cells := [cell.strip() for cell in line.split("│")[1:-1]]) > 1
               and cells[0] == first]
    return cells


def flat(output: str) -> str:
    """The output with its wrapped titles joined again."""
    return " ".join(output.split())


def learned_from(path: Path, source: str, i: int) -> list[str]:
    with Store(path) as store:
        return [e.status for e in history(store, f"c{i:05d}") if e.source == source]


def test_an_unsubscribe_at_sendgrid_reaches_mailchimp_pushed_first_in_the_same_run(
        cli: Cli, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> None:
    mailchimp, sendgrid = fakes
    sendgrid.global_unsubscribes.add(email(PERSON))
    mailchimp.reset_calls()

    out = cli("push", "mailchimp", "--as-of", AS_OF)  # Mailchimp first

    assert out.exit_code == 0, out.output
    member = mailchimp.member(email(PERSON))
    assert member is not None and member.status == "unsubscribed"
    assert mailchimp.tags_of(email(PERSON)) == set()
    assert row(out.output, "sendgrid") == ["sendgrid", "read", "1", ""]
    assert learned_from(path, "sendgrid", PERSON) == ["opted_out"]
    assert subscribed_without_consent(mailchimp, path) == set()
    # SendGrid's own push then reads only what is newer than that read: nothing new
    assert push_sendgrid(path, sendgrid).consent["learned"] == 0
    assert sendgrid.lists_of(email(PERSON)) == set()
    assert learned_from(path, "sendgrid", PERSON) == ["opted_out"]


def test_no_pull_reads_only_the_pushed_destination(
        cli: Cli, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> None:
    """What a push did before consent first, and what `clientela run` asks for once it has
    read every destination itself."""
    mailchimp, sendgrid = fakes
    sendgrid.global_unsubscribes.add(email(PERSON))

    out = cli("push", "mailchimp", "--as-of", AS_OF, "--no-pull")

    assert out.exit_code == 0, out.output
    assert mailchimp.member(email(PERSON)).status == "subscribed"  # type: ignore[union-attr]
    assert learned_from(path, "sendgrid", PERSON) == []


def test_the_dry_run_counts_what_the_others_hold_and_records_nothing(
        cli: Cli, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> None:
    mailchimp, sendgrid = fakes
    sendgrid.global_unsubscribes.add(email(PERSON))
    with Store(path) as store:
        marks = store.con.execute("SELECT * FROM push_consent_reads ORDER BY 1").fetchall()
    mailchimp.reset_calls()

    out = cli("push", "mailchimp", "--as-of", AS_OF, "--dry-run")

    assert out.exit_code == 0, out.output
    assert "from the other destinations (rolled back)" in flat(out.output)
    assert row(out.output, "sendgrid") == ["sendgrid", "read", "1", ""]
    assert row(out.output, "unsubscribed there (no current opt-in)")[1] == "1"
    assert mailchimp.write_count() == 0
    assert learned_from(path, "sendgrid", PERSON) == []
    with Store(path) as store:
        assert store.con.execute("SELECT * FROM push_consent_reads ORDER BY 1").fetchall() == marks
        assert can_contact(store, f"c{PERSON:05d}", "email", "marketing")


def test_a_destination_that_cannot_be_read_does_not_stop_the_others_push(
        cli: Cli, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SendGrid refuses the key: Mailchimp is still pushed (SendGrid's opt-outs are only
    late, Mailchimp's own were read), the command says which destination was not read and
    exits 1; SendGrid's own push fails before writing anything."""
    mailchimp, sendgrid = fakes
    monkeypatch.setenv("SG_KEY", "SG.revoked")
    mailchimp.unsubscribe(email(PERSON + 1))
    sendgrid.reset_calls()

    out = cli("push", "mailchimp", "--as-of", AS_OF)

    assert out.exit_code == 1, out.output
    assert "the opt-outs of sendgrid could not be read first" in str(out.exception)
    assert row(out.output, "sendgrid")[:3] == ["sendgrid", "failed", "0"]
    assert learned_from(path, "mailchimp", PERSON + 1) == ["opted_out"]
    assert mailchimp.tags_of(email(PERSON + 1)) == set()
    out = cli("push", "sendgrid", "--as-of", AS_OF)
    assert out.exit_code == 1, out.output
    assert sendgrid.write_count() == 0
    assert sendgrid.lists_of(email(PERSON + 1))  # untouched until SendGrid can be read


def test_consent_pull_reads_every_destination_once(
        cli: Cli, path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> None:
    mailchimp, sendgrid = fakes
    mailchimp.unsubscribe(email(PERSON + 1))
    sendgrid.global_unsubscribes.add(email(PERSON))

    dry = cli("consent", "--pull", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert learned_from(path, "sendgrid", PERSON) == []
    done = cli("consent", "--pull")
    again = cli("consent", "--pull")

    assert done.exit_code == 0 and again.exit_code == 0, done.output + again.output
    assert learned_from(path, "sendgrid", PERSON) == ["opted_out"]
    assert learned_from(path, "mailchimp", PERSON + 1) == ["opted_out"]
    with Store(path) as store:
        assert not can_contact(store, f"c{PERSON:05d}", "email", "marketing")
    assert "(dry run: nothing recorded)" in flat(dry.output)
    for output, learned in ((dry.output, "1"), (done.output, "1"), (again.output, "0")):
        assert row(output, "mailchimp") == ["mailchimp", "read", learned, ""]
        assert row(output, "sendgrid") == ["sendgrid", "read", learned, ""]


def test_an_unsubscribe_in_the_same_second_as_an_opt_in_decides_alike_at_every_destination(
        tmp_path: Path) -> None:
    """The person opted in at checkout at T.400, and unsubscribed from all e-mail, which
    HubSpot reports at T.300 (milliseconds: it is older, the opt-in stands) and Mailchimp at
    T (whole seconds: it may be the later one, so it wins the tie). Pushed first, HubSpot
    used to read only its own opt-out and keep her segment while Mailchimp then unsubscribed
    her; with every destination read first, both decide on the opt-out."""
    path = tmp_path / "store.duckdb"
    build_store(path, N)
    person, customer = email(PERSON), f"c{PERSON:05d}"
    with FakeHubSpot() as hubspot, FakeMailchimp() as mailchimp:
        push_hubspot(path, hubspot)
        push_mailchimp(path, mailchimp)
        assert hubspot.contact(person).properties["clientela_segment_rfm"]  # type: ignore[union-attr]
        second = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
        with Store(path) as store:  # after every event the store holds
            record(store, [ConsentEvent(
                customer_id=customer, channel="email", purpose="marketing",
                status="opted_in", address=person, source="checkout", evidence="box ticked",
                occurred_at=(second + timedelta(milliseconds=400)).replace(tzinfo=None))])
        hubspot.unsubscribe(person)
        hubspot.contact(person).properties["lastmodifieddate"] = stamp(  # type: ignore[union-attr]
            second.timestamp() + 0.3)
        mailchimp.unsubscribe(person)
        mailchimp.member(person).last_changed = second  # type: ignore[union-attr]

        push_hubspot(path, hubspot, others={"mailchimp": lambda: mailchimp_destination(
            mailchimp)})
        assert hubspot.contact(person).properties["clientela_segment_rfm"] == ""  # type: ignore[union-attr]
        push_mailchimp(path, mailchimp, others={"hubspot": lambda: hubspot_destination(
            hubspot.url)})

        with Store(path) as store:
            assert not can_contact(store, customer, "email", "marketing")
            dated = {(e.source, e.purpose): e.occurred_at for e in history(store, customer)
                     if e.status == "opted_out"}
        # HubSpot's unsubscribe from all e-mail: for marketing older than the opt-in, it
        # changes nothing; relationship e-mail had no opt-in and gets its opt-out
        assert dated == {
            ("mailchimp", "marketing"): (second + timedelta(microseconds=999_999)).replace(
                tzinfo=None),
            ("hubspot", "relationship"): (second + timedelta(microseconds=300_999)).replace(
                tzinfo=None)}
        assert mailchimp.member(person).status == "unsubscribed"  # type: ignore[union-attr]
        assert mailchimp.tags_of(person) == set()


class BuggyReader:
    """A destination whose read has a bug: neither the platform's fault nor the user's."""

    def read_consent(self, since: datetime | None) -> list[object]:
        rows: list[Any] = [{"email": "x"}]
        return [row.email for row in rows]  # a dict taken for an object

    def close(self) -> None:
        pass


def refused() -> object:
    raise HttpError("Acme", "GET", "/contacts", 401, "token of ana.souza@example.com refused")


def misconfigured() -> object:
    raise ConfigError("[destinations.acme] list_id: no list 'L9' in this account")


def test_a_bug_in_a_read_is_raised_while_a_destination_that_fails_is_reported_masked(
        path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid]) -> None:
    """A refused key, an unknown setting, a platform answering 401: `failed`, masked, and the
    others are read. A bug (an AttributeError in a plugin's read, a TypeError opening one) is raised
    as the bug it is, after what was read before it was recorded."""
    mailchimp, sendgrid = fakes
    mailchimp.unsubscribe(email(PERSON + 1))
    openers = {
        "sendgrid": lambda: sendgrid_destination(sendgrid.url, "SG.revoked"),
        "acme": refused,
        "acme_lists": misconfigured,
        "mailchimp": lambda: mailchimp_destination(mailchimp),
    }
    with Store(path) as store:
        outcomes = read_all(store, openers)
        buggy_read = {"mailchimp": openers["mailchimp"], "buggy": BuggyReader}
        with pytest.raises(AttributeError, match="email"):
            read_all(store, buggy_read)
        with pytest.raises(TypeError):
            read_all(store, {"buggy": lambda: BuggyReader(1)})  # type: ignore[call-arg]

    assert [(o.destination, o.status, o.learned) for o in outcomes] == [
        ("sendgrid", "failed", 0), ("acme", "failed", 0), ("acme_lists", "failed", 0),
        ("mailchimp", "read", 1)]
    assert outcomes[0].error is not None and outcomes[0].error.startswith("SendGrid")
    assert outcomes[1].error == ("Acme: GET /contacts answered 401: token of a***@e***.com "
                                 "refused")
    assert outcomes[2].error == "[destinations.acme] list_id: no list 'L9' in this account"
    assert learned_from(path, "mailchimp", PERSON + 1) == ["opted_out"]


def test_consent_pull_reports_a_bug_in_a_read_as_a_bug(
        cli: Cli, path: Path, tmp_path: Path, fakes: tuple[FakeMailchimp, FakeSendGrid],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin whose read has a bug ends `clientela consent --pull` the CLI's way for bugs
    (exit 1, "a bug in clientela"), not as an unreachable destination; Mailchimp, read
    before it, is recorded."""
    from clientela.cli import destinations as destinations_cli
    from clientela.cli.app import main

    mailchimp, _ = fakes
    mailchimp.unsubscribe(email(PERSON + 1))
    opened = destinations_cli.open_destination
    monkeypatch.setattr(destinations_cli, "open_destination", lambda name: BuggyReader()
                        if name == "sendgrid" else opened(name))

    code = main(["--config", str(tmp_path / "clientela.toml"), "consent", "--pull"])

    err = capsys.readouterr().err
    assert code == 1, err
    assert "'dict' object has no attribute 'email'" in err
    assert "this looks like a bug in clientela" in err
    assert learned_from(path, "mailchimp", PERSON + 1) == ["opted_out"]
