"""What every provider channel does the same way: classify errors, call over HTTP.

A provider answers a send with a status and, on failure, its own error code.
`ErrorClasses` maps both to the dispatcher's three choices (retry later,
fail for good, the person opted out): the plugin lists its provider's codes
and the HTTP status decides the rest (429 and 5xx retry, other 4xx fail).
`post` turns a transport failure (reset, timeout) into a retry, since the
ledger's lookup, not a blind resend, settles whether it arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from clientela import __version__
from clientela.channels.sending import Outcome, SendResult
from clientela.http.client import make_session
from clientela.http.retry import retry_after_seconds
from clientela.privacy import mask_text

USER_AGENT = f"clientela/{__version__}"


@dataclass(frozen=True)
class ErrorClasses:
    opted_out: frozenset[str] = frozenset()
    retry: frozenset[str] = frozenset()
    final: frozenset[str] = frozenset()

    def classify(self, status: int | None, code: str | None) -> Outcome:
        if code is not None:
            if code in self.opted_out:
                return "opted_out"
            if code in self.retry:
                return "retry"
            if code in self.final:
                return "failed"
        if status is None or status == 429 or status >= 500:
            return "retry"
        return "failed"


def session(headers: Mapping[str, str] | None = None,
            auth: tuple[str, str] | None = None) -> requests.Session:
    """The one HTTP session builder (`clientela.http.make_session`) with the channels' agent."""
    return make_session(user_agent=USER_AGENT, auth=auth, headers=headers)


def call(s: requests.Session, method: str, url: str, *, timeout: float = 30.0,
         **kwargs: Any) -> requests.Response | SendResult:
    """The response, or a `retry` result when the provider could not be reached."""
    try:
        return s.request(method, url, timeout=timeout, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as error:
        return SendResult("retry", code=type(error).__name__)


def failure(response: requests.Response, classes: ErrorClasses, code: str | None,
            detail: str | None) -> SendResult:
    outcome = classes.classify(response.status_code, code)
    wait = retry_after_seconds(response) if response.status_code == 429 else None
    return SendResult(outcome, code=code or str(response.status_code),
                      detail=mask_text(detail or "")[:200] or None, retry_after=wait)


def json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
