"""HTTP to Agile CRM through the connectors' `ApiClient`, plus form bodies and empty answers.

Agile CRM's look-up by e-mail list (`POST contacts/search/email`) takes a
form body, which `ApiClient` does not send, and several answers are empty
(204 for "no such contact", "deleted"), which `request_json` would take for
garbled JSON. Both are handled here; retries, 429 handling, error wording
and credential scrubbing stay the shared ones.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from clientela.http import ApiClient, HttpError, RetryPolicy, make_session
from clientela_agilecrm.config import AgileCRMConfig

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Form:
    """A body to send as application/x-www-form-urlencoded."""

    fields: dict[str, str]


class MinuteWindow:
    """At most `limit` requests in any `window` seconds: waits for the oldest to age out."""

    def __init__(self, limit: int | None, *, window: float = 60.0, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.limit, self.window, self.clock, self.sleep = limit, window, clock, sleep
        self.sent: deque[float] = deque()

    def before_request(self) -> None:
        if self.limit is None:
            return
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.window:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            self.sleep(self.window - (now - self.sent[0]))
            now = self.clock()
            self.sent.popleft()
        self.sent.append(now)

    def after_response(self, response: requests.Response) -> None:
        return None


class AgileApi(ApiClient):
    def _send(self, method: str, url: str, params: Any, body: Any = None) -> requests.Response:
        if not isinstance(body, Form):
            return super()._send(method, url, params, body)
        self.limiter.before_request()
        self.requests_made += 1
        try:
            response = self.session.request(method, url, params=params, data=body.fields,
                                            timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise HttpError(self.platform, method, self.path_of(url), None,
                            type(error).__name__, transient=True) from None
        self.limiter.after_response(response)
        if response.status_code >= 400:
            raise self._error(method, url, response)
        return response

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The decoded answer, or None for an empty one (204)."""
        url = self.url(path)
        response = self.retry.call(lambda: self._send(method, url, None, body))
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise HttpError(self.platform, method, self.path_of(url), response.status_code,
                            "the answer is not JSON (is the Accept header lost?)") from None


def open_api(config: AgileCRMConfig, *, clock: Clock = time.monotonic,
             sleep: Sleep = time.sleep) -> AgileApi:
    key = config.api_key.get_secret_value()
    session = make_session(auth=(config.email, key))
    policy = RetryPolicy(attempts=config.max_attempts, throttle_attempts=config.throttle_attempts,
                         sleep=sleep)
    return AgileApi("Agile CRM", config.api_root, session, timeout=(10.0, config.timeout),
                    retry=policy, secrets=(key,),
                    limiter=MinuteWindow(config.requests_per_minute, clock=clock, sleep=sleep))
