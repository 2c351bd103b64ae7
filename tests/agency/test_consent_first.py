"""`clientela run --due` reads every destination's opt-outs once per workspace before its push
jobs: an unsubscribe at SendGrid reaches Mailchimp although Mailchimp's push runs first."""

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
from clientela.store import Store

PERSON = 7


def schedule(job: str, *args: str) -> Schedule:
    return Schedule(workspace="acme", job=job, args=list(args), cron="0 3 * * *",
                    timezone="UTC")


def test_the_read_goes_before_the_first_push_and_every_push_skips_its_own_pull() -> None:
    sync, first, second = (schedule("sync", "shopify"), schedule("push", "mailchimp"),
                           schedule("push", "sendgrid", "--segment", "rfm"))

    jobs = consent_first([sync, first, second])

    assert [(job.job, job.args, job.label) for job in jobs] == [
        ("sync", ["shopify"], "sync shopify"),
        ("consent", ["--pull"], "consent --pull"),
        ("push", ["mailchimp", "--no-pull"], "push mailchimp"),
        ("push", ["sendgrid", "--segment", "rfm", "--no-pull"], "push sendgrid --segment rfm")]
    assert jobs[1] == PULL
    assert consent_first([sync]) == [sync]  # no push due: nothing read


def test_an_unsubscribe_at_sendgrid_reaches_mailchimp_pushed_first_by_the_runner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from clientela import plugins

    store = tmp_path / "stores" / "acme.duckdb"
    store.parent.mkdir()
    build_store(store, 20)
    with FakeMailchimp() as mailchimp, FakeSendGrid() as sendgrid:
        push_mailchimp(store, mailchimp)  # pushed before, by hand
        push_sendgrid(store, sendgrid)
        sendgrid.global_unsubscribes.add(email(PERSON))
        monkeypatch.setenv(plugins.LOAD_ENV, "clientela-mailchimp,clientela-sendgrid")
        plugins.reset()
        key = "0123456789abcdef0123456789abcdef-us21"
        (tmp_path / "clientela-agency.toml").write_text(workspace_section("acme", extra=(
            mailchimp_section(mailchimp, key, "workspaces.acme.destinations.mailchimp") + f"""
[workspaces.acme.destinations.sendgrid]
api_key = "{sendgrid.api_key}"
base_url = "{sendgrid.url}"
poll_interval = 0.01
""")) + "".join(schedule_section("acme", "push", [name, "--as-of", "2024-07-01"])
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
