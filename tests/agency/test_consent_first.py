"""`clientela run --due` reads every destination's opt-outs once per workspace before its push
and messaging jobs: an unsubscribe at SendGrid reaches Mailchimp although Mailchimp's push runs
first, and reaches the ledger before a journey that runs before any push."""

from __future__ import annotations

from pathlib import Path

import pytest
from destinations.fakes.mailchimp import FakeMailchimp
from destinations.fakes.sendgrid import FakeSendGrid
from destinations.helpers import mailchimp_section
from reliability.support import build_store, email, push_mailchimp, push_sendgrid

from agency.helpers import schedule_section, workspace_section
from clientela.agency.runner import PULL, consent_first
from clientela.agency.schedules import Schedule
from clientela.cli.app import main
from clientela.cli.run import commands_reaching_people, installed_cli
from clientela.store import Store

PERSON = 7
MESSAGING_PLUGIN = "agency.messaging_plugin"
BUILT_IN = {("push",), ("journeys", "run"), ("campaign", "send")}
"""The built-in commands that reach people, each marked `reaches_people` in its module."""


def schedule(job: str, *args: str) -> Schedule:
    return Schedule(workspace="acme", job=job, args=list(args), cron="0 3 * * *",
                    timezone="UTC")


def acme_store(tmp_path: Path, customers: int) -> Path:
    store = tmp_path / "stores" / "acme.duckdb"
    store.parent.mkdir()
    build_store(store, customers)
    return store


def sendgrid_section(sendgrid: FakeSendGrid) -> str:
    return f"""
[workspaces.acme.destinations.sendgrid]
api_key = "{sendgrid.api_key}"
base_url = "{sendgrid.url}"
poll_interval = 0.01
"""


def test_the_read_goes_before_the_first_push_and_every_push_skips_its_own_pull() -> None:
    sync, first, second = (schedule("sync", "shopify"), schedule("push", "mailchimp"),
                           schedule("push", "sendgrid", "--segment", "rfm"))

    jobs = consent_first([sync, first, second], BUILT_IN)

    assert [(job.job, job.args, job.label) for job in jobs] == [
        ("sync", ["shopify"], "sync shopify"),
        ("consent", ["--pull"], "consent --pull"),
        ("push", ["mailchimp", "--no-pull"], "push mailchimp"),
        ("push", ["sendgrid", "--segment", "rfm", "--no-pull"], "push sendgrid --segment rfm")]
    assert jobs[1] == PULL
    assert consent_first([sync], BUILT_IN) == [sync]  # no push due: nothing read


def test_the_read_goes_before_a_journeys_job_due_before_any_push() -> None:
    journeys, sync, push, campaign = (
        schedule("journeys", "run"), schedule("sync", "shopify"), schedule("push", "mailchimp"),
        schedule("campaign", "send", "black-friday", "--audience", "all"))

    jobs = consent_first([journeys, sync, push, campaign], BUILT_IN)

    assert [job.label for job in jobs] == [
        "consent --pull", "journeys run", "sync shopify", "push mailchimp",
        "campaign send black-friday --audience all"]
    assert jobs[0] == PULL
    assert jobs[3].args == ["mailchimp", "--no-pull"]
    assert jobs[4] == campaign  # messaging jobs have no --no-pull: unchanged
    assert consent_first([campaign, sync], BUILT_IN) == [PULL, campaign, sync]


def test_the_built_in_commands_that_reach_people_declare_it_as_a_plugin_would() -> None:
    """`clientela run` finds them by the `reaches_people` mark, not in a list of its own."""
    found = commands_reaching_people(installed_cli())

    assert found >= BUILT_IN
    assert not found & {("journeys", "list"), ("journeys", "task"), ("consent",), ("sync",),
                        ("forget",), ("kpi",)}


def test_a_push_not_among_the_reaching_commands_is_left_as_it_is() -> None:
    """`--no-pull` only ever follows the runner's own read."""
    push = schedule("push", "mailchimp")

    assert consent_first([push], {("journeys", "run")}) == [push]


def test_jobs_that_message_nobody_read_nothing() -> None:
    listing, task = (schedule("journeys", "list"),
                     schedule("journeys", "task", "t1", "--outcome", "call_logged"))

    assert consent_first([listing, task], BUILT_IN) == [listing, task]


def test_a_workspace_without_destinations_gets_no_read() -> None:
    journeys, push = schedule("journeys", "run"), schedule("push", "mailchimp")

    assert consent_first([journeys, push], BUILT_IN, read=False) == [journeys, push]


def test_a_workspace_without_destinations_runs_its_journeys_job_without_failing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = acme_store(tmp_path, 5)
    (tmp_path / "clientela-agency.toml").write_text(
        workspace_section("acme") + schedule_section("acme", "journeys", ["run", "--dry-run"]),
        encoding="utf-8")

    assert main(["run", "--due"]) == 0, capsys.readouterr()

    assert "1 job(s): 1 ok, 0 failed, 0 busy" in capsys.readouterr().out
    with Store(store, read_only=True) as opened:
        runs = opened.run_log("schedule")
    assert [(run["target"], run["status"]) for run in runs] == [("journeys run --dry-run", "ok")]


def test_an_unsubscribe_at_sendgrid_reaches_mailchimp_pushed_first_by_the_runner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins

    store = acme_store(tmp_path, 20)
    with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
        push_mailchimp(store, mailchimp)  # pushed before, by hand
        push_sendgrid(store, sendgrid)
        sendgrid.global_unsubscribes.add(email(PERSON))
        monkeypatch.setenv(plugins.LOAD_ENV, "clientela-mailchimp,clientela-sendgrid")
        plugins.reset()
        key = "0123456789abcdef0123456789abcdef-us21"
        (tmp_path / "clientela-agency.toml").write_text(workspace_section("acme", extra=(
            mailchimp_section(mailchimp, key, "workspaces.acme.destinations.mailchimp")
            + sendgrid_section(sendgrid))) + "".join(
                schedule_section("acme", "push", [name, "--as-of", "2024-07-01"])
                for name in ("mailchimp", "sendgrid")), encoding="utf-8")

        assert main(["run", "--due"]) == 0, capsys.readouterr()

        member = mailchimp.member(email(PERSON))
        assert member is not None and member.status == "unsubscribed"
        assert mailchimp.tags_of(email(PERSON)) == set()
        assert sendgrid.lists_of(email(PERSON)) == set()
    plugins.reset()
    assert "3 job(s): 3 ok, 0 failed, 0 busy" in capsys.readouterr().out
    with Store(store, read_only=True) as opened:
        runs = opened.run_log("schedule")
        sources = opened.con.execute(
            "SELECT source FROM consent_events WHERE customer_id = ? AND status = 'opted_out'",
            [f"c{PERSON:05d}"]).fetchall()
    assert sorted((run["target"], run["status"]) for run in runs) == [
        ("consent --pull", "ok"), ("push mailchimp --as-of 2024-07-01", "ok"),
        ("push sendgrid --as-of 2024-07-01", "ok")]
    assert sources == [("sendgrid",)]  # read once, by the runner's read


def test_an_unsubscribe_at_sendgrid_is_in_the_ledger_before_a_journeys_job_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins

    store = acme_store(tmp_path, 20)
    with FakeSendGrid() as sendgrid:
        push_sendgrid(store, sendgrid)  # pushed before, by hand
        sendgrid.global_unsubscribes.add(email(PERSON))
        monkeypatch.setenv(plugins.LOAD_ENV, "clientela-sendgrid")
        plugins.reset()
        (tmp_path / "clientela-agency.toml").write_text(
            workspace_section("acme", extra=sendgrid_section(sendgrid))
            + schedule_section("acme", "journeys", ["run", "--dry-run"]), encoding="utf-8")

        assert main(["run", "--due"]) == 0, capsys.readouterr()
    plugins.reset()
    assert "2 job(s): 2 ok, 0 failed, 0 busy" in capsys.readouterr().out
    with Store(store, read_only=True) as opened:
        runs = {run["target"]: run for run in opened.run_log("schedule")}
        learned = opened.con.execute(
            "SELECT source, recorded_at FROM consent_events "
            "WHERE customer_id = ? AND status = 'opted_out'", [f"c{PERSON:05d}"]).fetchall()
    assert sorted((target, run["status"]) for target, run in runs.items()) == [
        ("consent --pull", "ok"), ("journeys run --dry-run", "ok")]
    assert [source for source, _ in learned] == ["sendgrid"]
    journeys_started = runs["journeys run --dry-run"]["started_at"]
    assert runs["consent --pull"]["finished_at"] <= journeys_started
    assert learned[0][1] <= journeys_started


def test_a_plugins_messaging_command_gets_the_read_first_when_scheduled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], app_commands_restored: None) -> None:
    """A plugin's `sms blast`, marked `reaches_people`, scheduled alone: the runner reads
    SendGrid's opt-outs before it, so it suppresses the person who unsubscribed there. Its
    unmarked `sms status` gets no read."""
    from clientela import plugins

    store = acme_store(tmp_path, 20)
    blasted, status = tmp_path / "blast.txt", tmp_path / "status.txt"
    with FakeSendGrid() as sendgrid:
        push_sendgrid(store, sendgrid)  # pushed before, by hand
        sendgrid.global_unsubscribes.add(email(PERSON))
        monkeypatch.setenv(plugins.LOAD_ENV, "clientela-sendgrid")
        plugins.reset()
        agency = tmp_path / "clientela-agency.toml"
        agency.write_text(workspace_section("acme", extra=sendgrid_section(sendgrid))
                          + schedule_section("acme", "sms", ["status", str(status)]),
                          encoding="utf-8")
        assert main(["--plugin", MESSAGING_PLUGIN, "run", "--due"]) == 0, capsys.readouterr()
        assert "1 job(s): 1 ok, 0 failed, 0 busy" in capsys.readouterr().out
        agency.write_text(workspace_section("acme", extra=sendgrid_section(sendgrid))
                          + schedule_section("acme", "sms", ["blast", f"c{PERSON:05d}",
                                                             str(blasted)]), encoding="utf-8")
        assert main(["--plugin", MESSAGING_PLUGIN, "run", "--due"]) == 0, capsys.readouterr()
    plugins.reset(forget_local=True)
    assert "2 job(s): 2 ok, 0 failed, 0 busy" in capsys.readouterr().out
    assert (status.read_text(), blasted.read_text()) == ("ok", "suppress")
    with Store(store, read_only=True) as opened:
        runs = [(run["target"], run["status"]) for run in opened.run_log("schedule")]
    assert sorted(runs) == [("consent --pull", "ok"), (f"sms blast c{PERSON:05d} {blasted}", "ok"),
                            (f"sms status {status}", "ok")]
