"""HTTP to RD Station Marketing through the connectors' `ApiClient`, plus what it lacks.

RD Station specifics handled here:

* bearer tokens expire (24 h); a 401 whose `WWW-Authenticate` says
  `error="expired_token"` is answered by one refresh at `POST /auth/token`
  and one repeat of the call (what the official Ruby client does);
* 120 calls a minute per account: paced client-side by a sliding window, so
  the account limit is reached by waiting, not by 429s; a 429 that comes
  anyway waits the body's `remaining_time`;
* 24 PATCHes per contact per 24 h (`lead_limiter`): waiting cannot help
  within a push, so that 429 is not retried; the contact fails and the next
  push retries it;
* some answers (DELETE) have no body, which `request_json` would take for a
  garbled one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from clientela.http import ApiClient, HttpError, RetryPolicy, make_session
from clientela_rdstation.config import RDStationConfig

Clock = Callable[[], float]
Sleep = Callable[[float], None]
LEAD_LIMITER = "lead_limiter"
EXPIRED = "expired_token"


def contact_path(email: str) -> str:
    return "platform/contacts/email:" + quote(email, safe="@")


class MinuteWindow:
    """At most `limit` requests in any `window` seconds: waits for the oldest to age out."""

    def __init__(self, limit: int, *, window: float = 60.0, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.limit, self.window, self.clock, self.sleep = limit, window, clock, sleep
        self.sent: deque[float] = deque()
        self.waited = 0.0

    def before_request(self) -> None:
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.window:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            pause = self.window - (now - self.sent[0])
            self.waited += pause
            self.sleep(pause)
            now = self.clock()
            self.sent.popleft()
        self.sent.append(now)

    def after_response(self, response: requests.Response) -> None:
        return None


def remaining_time(response: requests.Response) -> float | None:
    """RD Station's 429 body says how long the window still runs (`remaining_time`, seconds)."""
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    value = errors.get("remaining_time") if isinstance(errors, dict) else None
    return float(value) if isinstance(value, int | float) else None


class _Client(ApiClient):
    def _error(self, method: str, url: str, response: requests.Response) -> HttpError:
        error = super()._error(method, url, response)
        challenge = (response.headers.get("WWW-Authenticate", "")
                     + response.headers.get("x-amzn-remapped-www-authenticate", ""))
        if response.status_code == 401 and f'error="{EXPIRED}"' in challenge:
            return HttpError(error.platform, method, error.path, 401, error.detail, code=EXPIRED,
                             transient=False)
        if response.status_code == 429 and LEAD_LIMITER in response.text:
            return HttpError(error.platform, method, error.path, 429, error.detail,
                             code=LEAD_LIMITER, transient=False)
        return error

    def call(self, method: str, path: str, body: Any = None) -> Any:
        url = self.url(path)
        response = self.retry.call(lambda: self._send(method, url, None, body))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None


class RDStationApi:
    """One authorised client; `call` refreshes an expired token once and repeats the call."""

    def __init__(self, config: RDStationConfig, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.config = config
        self.limiter = MinuteWindow(config.requests_per_minute, clock=clock, sleep=sleep)
        policy = RetryPolicy(attempts=config.max_attempts,
                             throttle_attempts=config.throttle_attempts, sleep=sleep)
        self.client = _Client("RD Station", config.base_url, make_session(), retry=policy,
                              limiter=self.limiter, throttle_wait=remaining_time,
                              timeout=(10.0, config.timeout))
        self._lock = threading.Lock()
        self.refreshes = 0
        self._token = config.access_token.get_secret_value() if config.access_token else None
        self._refresh_token = (config.refresh_token.get_secret_value()
                               if config.refresh_token else None)
        if self._token is None:
            self.refresh()
        else:
            self._authorise(self._token)

    def _authorise(self, token: str) -> None:
        self._token = token
        self.client.session.headers["Authorization"] = f"Bearer {token}"
        secret = self.config.client_secret.get_secret_value() if self.config.client_secret else ""
        self.client.secrets = tuple(s for s in (token, self._refresh_token, secret) if s)

    def refresh(self) -> None:
        """A new access token from the refresh token (RD may hand back a new refresh token)."""
        if not self.config.can_refresh:
            raise HttpError("RD Station", "POST", "/auth/token", 401,
                            "the access token expired and no refresh token is configured")
        with self._lock:
            assert self.config.client_secret is not None
            body = {"client_id": self.config.client_id,
                    "client_secret": self.config.client_secret.get_secret_value(),
                    "refresh_token": self._refresh_token}
            self.client.session.headers.pop("Authorization", None)
            answer = self.client.call("POST", "auth/token", body) or {}
            self._refresh_token = str(answer.get("refresh_token") or self._refresh_token)
            self.refreshes += 1
            self._authorise(str(answer["access_token"]))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.client.call(method, path, body)
        except HttpError as error:
            if error.code != EXPIRED:
                raise
        self.refresh()
        return self.client.call(method, path, body)

    def close(self) -> None:
        self.client.close()
