"""One HTTP stack for every connector: one retry policy, one error type, one scrubber."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from clientela_hubspot import HubSpotError
from clientela_mailchimp import MailchimpError
from clientela_sendgrid import SendGridError

from clientela.http import HttpError, RetryPolicy, retry_notice, scrub

ROOT = Path(__file__).resolve().parents[2]


def answers(*outcomes: object):  # type: ignore[no-untyped-def]
    queue = list(outcomes)

    def attempt() -> object:
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt


def test_a_429_waits_what_it_asks_and_anything_else_backs_off_with_jitter() -> None:
    waits: list[float] = []
    policy = RetryPolicy(platform="Mailchimp", attempts=5, sleep=waits.append)
    attempt = answers(HttpError("Mailchimp", "", "", 429, transient=True),  # says nothing
                      HttpError("Mailchimp", "", "", 429, retry_after=7.0, transient=True),
                      HttpError("Mailchimp", "", "", 503, transient=True),  # 3rd try failed
                      HttpError("Mailchimp", "", "", 429, retry_after=900.0, transient=True),
                      "ok")
    assert policy.call(attempt) == "ok"
    assert waits[:2] == [2.0, 7.0]  # the default for a silent 429, then Retry-After
    assert 0 <= waits[2] <= 0.5 * 2 ** 2  # full jitter over the 3rd attempt's backoff
    assert waits[3] == 300.0  # a Retry-After past the cap waits the cap


def test_429s_have_a_budget_of_their_own() -> None:
    throttled = HttpError("HubSpot", "", "", 429, transient=True)
    policy = RetryPolicy(attempts=1, throttle_attempts=4, sleep=lambda s: None)
    assert policy.call(answers(throttled, throttled, throttled, "ok")) == "ok"
    with pytest.raises(HttpError) as raised:
        policy.call(answers(throttled, throttled, throttled, throttled, "never"))
    assert raised.value.status == 429
    down = HttpError("HubSpot", "", "", 503, transient=True)
    with pytest.raises(HttpError) as raised:  # one try for errors: no retry at all
        policy.call(answers(down, "never"))
    assert raised.value.status == 503


def test_a_refused_call_is_not_retried() -> None:
    waits: list[float] = []
    with pytest.raises(MailchimpError):
        RetryPolicy(sleep=waits.append).call(answers(MailchimpError(400, "Invalid Resource")))
    assert waits == []


@pytest.mark.parametrize(("error", "shown"), [
    (MailchimpError(400, "Member Exists", "c***@e***.com is already a list member"),
     "Mailchimp 400: Member Exists: c***@e***.com is already a list member"),
    (HubSpotError(409, "CONFLICT", "Contact already exists"),
     "HubSpot 409 CONFLICT: Contact already exists"),
    (SendGridError(400, "email: invalid"), "SendGrid 400: email: invalid"),
])
def test_every_sdk_error_is_an_http_error(error: HttpError, shown: str) -> None:
    assert isinstance(error, HttpError) and not error.transient
    assert str(error) == shown and error.status == int(shown.split()[1].rstrip(":"))


def test_an_sdk_call_that_cannot_reach_its_host_reads_as_the_platform() -> None:
    error = HttpError("SendGrid", "", "", None, "127.0.0.1:9: connection refused",
                      transient=True)
    assert str(error) == "SendGrid could not be reached: 127.0.0.1:9: connection refused"
    assert retry_notice("SendGrid", error, 0.5, 2, 10) == (
        "SendGrid could not be reached: 127.0.0.1:9: connection refused; "
        "retrying in 0.5 s, attempt 2 of 10")
    answered = HttpError("SendGrid", "", "", 503, "busy", transient=True)
    assert str(answered) == "SendGrid answered 503: busy"


def test_scrub_blanks_secrets_and_masks_people() -> None:
    text = "key SG.secret-123 rejected for maria.silva@example.com"
    scrubbed = scrub(text, ["SG.secret-123"])
    assert "SG.secret-123" not in scrubbed and "maria.silva@example.com" not in scrubbed
    assert scrubbed.startswith("key *** rejected for ")


def test_no_connector_retries_outside_the_shared_policy() -> None:
    """tenacity is used in one place, `clientela.http.retry`; every source, destination and
    channel retries through `RetryPolicy`."""
    users = sorted(
        str(path.relative_to(ROOT))
        for base in ("core/src", "connectors", "plugins")
        for path in (ROOT / base).rglob("*.py")
        if re.search(r"^\s*(from|import) tenacity", path.read_text(encoding="utf-8"), re.M))
    assert users == ["core/src/clientela/http/retry.py"]


def test_the_old_package_name_still_imports() -> None:
    old = importlib.import_module("clientela.connectors")
    assert old.ApiClient is importlib.import_module("clientela.http").ApiClient
    for name, new in [("mapping", "clientela.sources.toolkit.mapping"),
                      ("retry", "clientela.http.retry"), ("http", "clientela.http.client")]:
        assert importlib.import_module(f"clientela.connectors.{name}") is \
            importlib.import_module(new)


def test_the_wait_a_429_asks_for_is_read_from_any_headers() -> None:
    """One reader for the sources' responses, the SDKs' header objects and the channels."""
    from email.message import Message

    from clientela.http import wait_from_headers

    sdk_headers = Message()  # what python-http-client (SendGrid's SDK) hands back
    sdk_headers["X-RateLimit-Reset"] = "1700000060"
    assert wait_from_headers(sdk_headers, reset_epoch="X-RateLimit-Reset",
                             clock=lambda: 1_700_000_000.0) == 60.0
    assert wait_from_headers({"retry-after": "2.5", "X-RateLimit-Reset": "1"},
                             reset_epoch="X-RateLimit-Reset") == 2.5
    assert wait_from_headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past
    assert wait_from_headers({}) is None and wait_from_headers(None) is None
    assert wait_from_headers({"Retry-After": "soon"}) is None
