"""The fake Mailchimp is as strict as the real one, through the official client."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from clientela_mailchimp import MailchimpError, subscriber_hash
from clientela_mailchimp.client import Api
from typer.testing import CliRunner

from clientela.http import HttpError

from .fakes.mailchimp import FakeMailchimp
from .helpers import config, email, mailchimp_section


def api(fake: FakeMailchimp, **options: object) -> Api:
    return Api(config(fake, max_attempts=1, **options), sleep=lambda s: None)


def test_more_than_500_members_is_refused_with_a_problem_document(
        mailchimp: FakeMailchimp) -> None:
    client = api(mailchimp)
    members = [{"email_address": email(i), "status": "subscribed"} for i in range(501)]
    with pytest.raises(MailchimpError) as refused:
        client.call(client.lists.batch_list_members, mailchimp.list_id,
                    {"members": members, "update_existing": True})
    assert refused.value.status == 400 and refused.value.title == "Invalid Resource"
    assert "maximum 500 items" in refused.value.detail
    assert mailchimp.members == {}


def test_resubscribing_a_compliance_member_is_a_400(mailchimp: FakeMailchimp) -> None:
    mailchimp.add_member(email(1), "unsubscribed")
    client = api(mailchimp)
    with pytest.raises(MailchimpError) as refused:
        client.call(client.lists.set_list_member, mailchimp.list_id, subscriber_hash(email(1)),
                    {"email_address": email(1), "status": "subscribed"})
    assert (refused.value.status, refused.value.title) == (400, "Member In Compliance State")
    assert "@" not in refused.value.detail.split("***")[0]  # masked
    answer = client.call(client.lists.batch_list_members, mailchimp.list_id,
                         {"members": [{"email_address": email(1), "status": "subscribed"}],
                          "update_existing": True})
    assert answer["error_count"] == 1 and "compliance state" in answer["errors"][0]["error"]
    assert mailchimp.member(email(1)).status == "unsubscribed"  # type: ignore[union-attr]


def test_an_eleventh_connection_gets_429(mailchimp: FakeMailchimp) -> None:
    mailchimp.hold = threading.Event()
    url = f"{mailchimp.url}/lists/{mailchimp.list_id}"

    def post(i: int) -> int:
        return requests.post(url, json={"members": []}, auth=("u", "k"), timeout=10).status_code

    with ThreadPoolExecutor(15) as pool:
        futures = [pool.submit(post, i) for i in range(15)]
        while mailchimp.in_flight + mailchimp.concurrency_rejections < 15:
            threading.Event().wait(0.01)
        mailchimp.hold.set()
        codes = sorted(f.result() for f in futures)
    assert codes == [200] * 10 + [429] * 5
    assert mailchimp.concurrency_rejections == 5


def test_a_429_without_a_body_is_still_an_error(mailchimp: FakeMailchimp) -> None:
    mailchimp.faults.throttles, mailchimp.empty_429s = 1, 1
    client = api(mailchimp, throttle_attempts=1)
    with pytest.raises(HttpError) as raised:  # the official client returns a plain Response
        client.call(client.lists.get_list_merge_fields, mailchimp.list_id)
    assert raised.value.status == 429 and raised.value.transient


def test_the_cli_dry_run_and_push(tmp_path: Path, store_path: Path, mailchimp: FakeMailchimp,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from clientela import plugins
    from clientela.cli import push as push_cli
    from clientela.cli.common import workspace

    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-mailchimp")
    monkeypatch.setenv("MC_KEY", "0123456789abcdef-us21")
    plugins.reset()
    (tmp_path / "clientela.toml").write_text(f"""
[workspace]
store = "{store_path}"
timezone = "America/Sao_Paulo"
""" + mailchimp_section(mailchimp))
    workspace.config_file, workspace._settings = tmp_path / "clientela.toml", None
    app = typer.Typer()
    push_cli.register(app)
    runner = CliRunner()

    dry = runner.invoke(app, ["push", "mailchimp", "--as-of", "2024-07-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing sent" in dry.output and "1,200" in dry.output
    assert mailchimp.write_count() == 0
    assert "0123456789abcdef" not in dry.output and "cliente0" not in dry.output

    done = runner.invoke(app, ["push", "mailchimp", "--as-of", "2024-07-01"])
    assert done.exit_code == 0, done.output
    assert len(mailchimp.members) == 1200

    bad = runner.invoke(app, ["push", "mailchimp", "--segment", "x", "--rule", "colour > 1"])
    assert bad.exit_code != 0

    gone = runner.invoke(app, ["forget", email(3)])
    assert gone.exit_code == 0, gone.output
    assert "deleted" in gone.output and mailchimp.member(email(3)) is None
