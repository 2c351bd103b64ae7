"""E-mail destinations that cannot be reached or keep failing: a dry run says so at once,
naming the host; a push announces each wait ("Mailchimp answered 503; retrying in ...")."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clientela_hubspot import HubSpotConfig, HubSpotDestination
from clientela_mailchimp import MailchimpConfig, MailchimpDestination
from clientela_sendgrid import SendGridConfig, SendGridDestination

from clientela.destinations.api import Destination
from clientela.destinations.push import PushReport
from clientela.http.errors import HttpError
from clientela.http.retry import NOTICE_LOGGER, NOTICE_SECONDS, retry_notice
from clientela.store import Store

from .fakes.hubspot import FakeHubSpot
from .fakes.mailchimp import FakeMailchimp
from .fakes.sendgrid import FakeSendGrid
from .helpers import API_KEY, build_store, push_then_close

Sleeps = list[float]
Opener = Callable[[str, Sleeps, int], Destination]
"""opener(base URL, where to record waits, max_attempts) -> an opened destination."""


def mailchimp(url: str, sleeps: Sleeps, attempts: int) -> Destination:
    return MailchimpDestination(MailchimpConfig(api_key=API_KEY, list_id="list0001",
                                                base_url=url, max_attempts=attempts),
                                sleep=sleeps.append)


def sendgrid(url: str, sleeps: Sleeps, attempts: int) -> Destination:
    return SendGridDestination(SendGridConfig(api_key="SG.fake-key", base_url=url,
                                              max_attempts=attempts), sleep=sleeps.append)


def hubspot(url: str, sleeps: Sleeps, attempts: int) -> Destination:
    return HubSpotDestination(HubSpotConfig(access_token="pat-na1-fake", base_url=url,
                                            max_attempts=attempts), sleep=sleeps.append)


PLATFORMS: list[tuple[str, Opener, Callable[[], Any]]] = [
    ("Mailchimp", mailchimp, FakeMailchimp),
    ("SendGrid", sendgrid, FakeSendGrid),
    ("HubSpot", hubspot, lambda: FakeHubSpot("pat-na1-fake")),
]
IDS = [name for name, _, _ in PLATFORMS]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    build_store(path, 6, {1: "unknown"})  # (HubSpot reads only for those without consent)
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(path: Path, opened: Destination, *, dry_run: bool) -> PushReport:
    return push_then_close(path, "dest", opened, dry_run=dry_run)


@pytest.mark.parametrize(("platform", "opener", "fake"), PLATFORMS, ids=IDS)
def test_a_dry_run_names_the_unreachable_host_before_any_retry(
        store_path: Path, platform: str, opener: Opener, fake: Any) -> None:
    port = closed_port()
    sleeps: Sleeps = []
    with pytest.raises(HttpError) as raised:
        run(store_path, opener(f"http://127.0.0.1:{port}", sleeps, 10), dry_run=True)
    assert str(raised.value).startswith(f"{platform}: HEAD ")
    assert str(raised.value).endswith(
        f"could not be reached: 127.0.0.1:{port}: connection refused (nothing listening)")
    assert sleeps == []  # no backoff at all: it fails as soon as the connection is refused
    with Store(store_path) as store:
        assert store.count("push_state") == 0


@pytest.mark.parametrize(("platform", "opener", "fake"), PLATFORMS, ids=IDS)
def test_a_push_to_an_unreachable_host_names_it_and_announces_each_wait(
        store_path: Path, platform: str, opener: Opener, fake: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    sleeps: Sleeps = []
    with caplog.at_level(logging.INFO, logger=NOTICE_LOGGER), \
            pytest.raises(HttpError) as raised:
        run(store_path, opener(f"http://127.0.0.1:{port}", sleeps, 3), dry_run=False)
    reason = f"{platform} could not be reached: 127.0.0.1:{port}: connection refused"
    assert str(raised.value) == reason + " (nothing listening)" and raised.value.transient
    # the shared policy's full jitter: each wait drawn from [0, 0.5 * 2^(n-1)]
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == NOTICE_LOGGER] == [
        (logging.WARNING if wait >= NOTICE_SECONDS else logging.INFO,
         retry_notice(platform, raised.value, wait, n, 3)) for n, wait in enumerate(sleeps, 2)]
    assert retry_notice(platform, raised.value, 0.5, 2, 3) == \
        f"{reason} (nothing listening); retrying in 0.5 s, attempt 2 of 3"


@pytest.mark.parametrize(("platform", "opener", "fake"), PLATFORMS, ids=IDS)
def test_a_503_is_retried_with_a_notice_and_the_dry_run_goes_on(
        store_path: Path, platform: str, opener: Opener, fake: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    sleeps: Sleeps = []
    with fake() as server, caplog.at_level(logging.INFO, logger=NOTICE_LOGGER):
        server.faults.server_errors = 1  # the first call is answered 503, then all is well
        report = run(store_path, opener(server.url, sleeps, 10), dry_run=True)
        answered = server.count(status=503)
    assert answered == 1 and len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5  # jittered
    shown = f"{sleeps[0]:.1f}"
    assert [r.getMessage() for r in caplog.records if r.name == NOTICE_LOGGER] == [
        f"{platform} answered 503; retrying in {shown} s, attempt 2 of 10"]
    assert report.dry_run and report.contacts == 6
