"""The VTEX client: app key/token headers, VTEX's error bodies, and steady pacing.

VTEX does not report its bucket in headers (the fact sheet leaves its 429
headers unconfirmed), so instead of reading a bucket the client keeps below
the published rate (OMS: 6000 requests a minute) by spacing calls evenly.
A 429 is still waited out: Retry-After when given, the retry policy's
default otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from clientela.http import ApiClient, HttpError, NoLimiter, make_session, scrub
from clientela.http.ratelimit import RateLimiter
from clientela_vtex.config import VtexConfig


class SteadyPace:
    """At most `per_second` calls a second, spaced evenly; never more than one slot of debt."""

    def __init__(self, per_second: float, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / per_second
        self.sleep, self.clock = sleep, clock
        self._next = clock()
        self.paused = 0.0

    def before_request(self) -> None:
        now = self.clock()
        if self._next > now:
            wait = self._next - now
            self.paused += wait
            self.sleep(wait)
            now = self._next
        self._next = now + self.interval

    def after_response(self, response: requests.Response) -> None:
        return None


def _vtex_detail(body: Any) -> tuple[str | None, str | None]:
    """OMS answers `{"error": {"code", "message"}}`; Master Data `{"Message": ...}`."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        code = error.get("code")
        message = error.get("message")
        return (str(code) if code is not None else None,
                str(message) if isinstance(message, str) else None)
    message = body.get("Message")
    return None, (message if isinstance(message, str) else None)


class VtexClient(ApiClient):
    def _error(self, method: str, url: str, response: requests.Response) -> HttpError:
        error = super()._error(method, url, response)
        if error.detail is not None and error.code is not None:
            return error
        try:
            code, detail = _vtex_detail(response.json())
        except ValueError:
            return error
        if detail is None:
            return error
        return HttpError(error.platform, error.method, error.path, error.status,
                         scrub(detail, self.secrets), code=error.code or code,
                         retry_after=error.retry_after)


def build_client(config: VtexConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> VtexClient:
    key = config.app_key.get_secret_value()
    token = config.app_token.get_secret_value()
    session = make_session(user_agent=config.user_agent,
                           headers={"X-VTEX-API-AppKey": key, "X-VTEX-API-AppToken": token})
    limiter: RateLimiter = (SteadyPace(config.requests_per_second, sleep=sleep, clock=clock)
                            if config.requests_per_second > 0 else NoLimiter())
    return VtexClient("VTEX", config.base_url, session, timeout=config.timeout,
                      retry=config.retry_policy(sleep=sleep), limiter=limiter,
                      secrets=(key, token))
