"""The commands: journeys run (and its dry run), campaign send, messages; user mistakes exit 2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from channels.fakes.twilio import FakeTwilio

from clientela import plugins
from clientela.cli.app import main
from clientela.store import Store
from clientela.testing.pytest_plugin import clientela_store_toml

from .helpers import customer, earn, order, write

PLUGINS = "clientela-channel-twilio,clientela-channel-meta-whatsapp,clientela-channel-sendgrid-mail"


@dataclass
class Ran:
    exit_code: int
    output: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv(plugins.LOAD_ENV, PLUGINS)
    plugins.reset()

    def invoke(*args: str) -> Ran:
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out + out.err)

    return invoke


def toml(fake: FakeTwilio, journeys: str = "", target: str = "") -> str:
    return clientela_store_toml(target) + f"""
[workspace]
timezone = "America/Sao_Paulo"

[messaging]
send = {{ sms = "twilio_sms" }}

[channels.twilio_sms]
account_sid = "{fake.sid}"
auth_token = "{fake.token}"
from_number = "+5511999990000"
base_url = "{fake.origin}"
{journeys}"""


JOURNEYS = """
[[journeys]]
name = "pos_venda"
trigger = "post_purchase"
days = 7
channels = ["sms"]
[[journeys.steps]]
name = "como_foi"
sms = { text = { pt_BR = "{first_name}, como foi a compra {order_id}?" } }

[[journeys]]
name = "pontos"
trigger = "first_points"
purpose = "marketing"
channels = ["sms"]
[[journeys.steps]]
name = "oi"
sms = { text = { pt_BR = "{points} pontos!" } }
"""


@pytest.fixture
def workspace(tmp_path: Path, twilio: FakeTwilio, clientela_store_target: str) -> str:
    """The workspace's store (a DuckDB file or a PostgreSQL database), filled; the config
    beside it points at it."""
    at = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    write(clientela_store_target,
          [customer("a", phone="+5511900000001"), customer("b", phone=None),
           customer("c", phone="+5511900000003", consent_sms="unsubscribed"),
           customer("d", phone="+5511900000004")],
          [order("oa", "a", at, salesperson_id="s1"), order("ob", "b", at),
           order("oc", "c", at)],
          [earn("e1", "d", at + timedelta(days=2), 10), earn("e2", "a", at + timedelta(days=2), 5)])
    (tmp_path / "clientela.toml").write_text(toml(twilio, JOURNEYS, clientela_store_target),
                                             encoding="utf-8")
    return clientela_store_target


def test_dry_run_prints_the_plan_and_changes_nothing(workspace: str, twilio, run) -> None:
    found = run("journeys", "run", "--dry-run", "--now", "2026-12-01T00:00")
    assert found.exit_code == 0, found.output
    # a: post-sale and points; d: points; b has no phone; c never opted in to relationship SMS
    assert "would send 3, suppress 2" in found.output
    lines = [" ".join(line.replace("│", " ").split()) for line in found.output.splitlines()]
    assert "pontos oi sms send 2" in lines
    assert "pos_venda como_foi sms send 1" in lines
    assert "no_address 1 b" in lines and "no_consent 1 c" in lines
    with Store(workspace) as store:
        assert store.count("messages") == 0
    assert twilio.accepted == []


def test_run_sends_then_messages_shows_the_ledger_masked(workspace: str, twilio, run) -> None:
    found = run("journeys", "run", "--now", "2026-12-10T13:00")
    assert found.exit_code == 0, found.output
    assert "planned 5 new message(s): 3 to send, 2 suppressed" in found.output
    assert "sent 3, failed 0" in found.output
    assert sorted(m.body for m in twilio.accepted) == ["10 pontos!", "5 pontos!",
                                                       "Ana, como foi a compra oa?"]
    shown = run("messages", "--status", "sent")
    assert shown.exit_code == 0
    assert "***01" in shown.output and "+5511900000001" not in shown.output
    summary = run("messages", "--summary")
    assert "no_address" in summary.output and "no_consent" in summary.output
    tasks = run("messages", "--tasks")
    assert "message_sent" in tasks.output
    with Store(workspace) as store:
        task_id = store.con.execute("SELECT task_id FROM follow_up_tasks WHERE customer_id = 'a'"
                                    ).fetchone()[0]
    assert run("journeys", "task", task_id, "--outcome", "lunch").exit_code == 2
    assert run("journeys", "task", "nope").exit_code == 2
    done = run("journeys", "task", task_id, "--outcome", "call_logged")
    assert done.exit_code == 0, done.output
    with Store(workspace) as store:
        touches = store.con.execute("SELECT channel, logged, salesperson_id FROM touches WHERE "
                                    "salesperson_id IS NOT NULL ORDER BY channel").fetchall()
    # the post-sale message and the logged call, both by the order's salesperson
    assert touches == [("call", True, "s1"), ("sms", True, "s1")]
    again = run("journeys", "run", "--now", "2026-12-10T13:00")
    assert "planned 0 new" in again.output and len(twilio.accepted) == 3


def test_campaign_send_and_its_mistakes(workspace: str, twilio, run) -> None:
    bad = run("campaign", "send", "promo", "--audience", "all", "--channel", "sms", "--text",
              "oi", "--control", "150%")
    assert (bad.exit_code, "Traceback" in bad.output) == (2, False)
    assert "--control" in bad.output
    bad = run("campaign", "send", "promo", "--audience", "all", "--channel", "sms", "--text",
              "{pontos}")
    assert bad.exit_code == 2 and "unknown variable(s) pontos" in bad.output
    bad = run("campaign", "send", "promo", "--audience", "rule:salary > 1", "--channel", "sms",
              "--text", "oi")
    assert bad.exit_code == 2 and "unknown field 'salary'" in bad.output
    bad = run("campaign", "send", "promo", "--audience", "all", "--channel", "fax", "--text", "x")
    assert bad.exit_code == 2 and "--channel" in bad.output
    ok = run("campaign", "send", "promo", "--audience", "rule:orders >= 1", "--channel", "sms",
             "--text", "{first_name}, 10% off", "--now", "2026-12-10T13:00")
    assert ok.exit_code == 0, ok.output
    assert "3 in the audience" in ok.output
    assert [m.body for m in twilio.accepted] == ["Ana, 10% off"]


def test_a_campaign_scheduled_days_ahead_is_planned_now_and_sent_when_due(
        tmp_path: Path, twilio, run, clientela_store_target: str) -> None:
    write(clientela_store_target, [customer("a", phone="+5511900000001")],
          [order("oa", "a", datetime(2026, 12, 3, 15, 0, tzinfo=UTC))])
    (tmp_path / "clientela.toml").write_text(toml(twilio, target=clientela_store_target),
                                             encoding="utf-8")
    # ten days after the real clock (not a simulated --now), 10:00 in São Paulo
    at = datetime.combine(datetime.now(UTC).date() + timedelta(days=10), time(13, 0), UTC)
    planned = run("campaign", "send", "natal", "--audience", "all", "--channel", "sms",
                  "--text", "{first_name}, 20% off", "--at", at.isoformat())
    assert planned.exit_code == 0, planned.output
    assert twilio.accepted == []
    with Store(clientela_store_target) as store:
        assert store.con.execute("SELECT campaign_id, started_at FROM campaigns").fetchall() == [
            ("natal", at.replace(tzinfo=None))]
        assert store.con.execute("SELECT status, due_at FROM messages").fetchall() == [
            ("planned", at.replace(tzinfo=None))]
    early = run("journeys", "run", "--now", (at - timedelta(minutes=1)).isoformat())
    assert early.exit_code == 0, early.output
    assert twilio.accepted == []
    due = run("journeys", "run", "--now", (at + timedelta(minutes=1)).isoformat())
    assert due.exit_code == 0, due.output
    assert [m.body for m in twilio.accepted] == ["Ana, 20% off"]


def test_no_channel_configured_plans_nothing(tmp_path: Path, run) -> None:
    write(tmp_path / "clientela.duckdb", [customer("a")],
          [order("oa", "a", datetime(2026, 12, 3, 15, 0, tzinfo=UTC))])
    (tmp_path / "clientela.toml").write_text(JOURNEYS, encoding="utf-8")
    found = run("journeys", "run", "--now", "2026-12-10T13:00")
    assert found.exit_code == 2 and "no channel sends messages" in found.output
    with Store(tmp_path / "clientela.duckdb") as store:
        assert store.count("messages") == 0
    assert run("journeys", "run", "--dry-run", "--now", "2026-12-10T13:00").exit_code == 0


def test_no_journey_declared_says_where_to_declare_one(tmp_path: Path, twilio, run,
                                                      clientela_store_target: str) -> None:
    write(clientela_store_target, [customer("a")])
    (tmp_path / "clientela.toml").write_text(toml(twilio, target=clientela_store_target),
                                             encoding="utf-8")
    found = run("journeys", "run", "--dry-run", "--now", "2026-12-10T13:00")
    assert found.exit_code == 0, found.output
    # the table header is printed as written, not eaten as rich markup ("([] in ...")
    assert "no journeys are declared ([[journeys]] in clientela.toml or journeys/*.toml)" \
        in " ".join(found.output.split())


def test_bad_journey_file_is_a_user_error(tmp_path: Path, twilio, run) -> None:
    (tmp_path / "clientela.toml").write_text(toml(twilio), encoding="utf-8")
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "x.toml").write_text(
        'name = "x"\ntrigger = "birthday"\nchannels = ["sms"]\n'
        '[[steps]]\nname = "s"\nsms = { text = { pt_BR = "{points}" } }\n', encoding="utf-8")
    found = run("journeys", "list")
    assert found.exit_code == 2
    assert "journey 'x', step 's', sms.text.pt_BR: unknown variable(s) points" in found.output
