"""When and how long to retry a call, on tenacity: the one retry policy of every connector.

Server errors, timeouts, connection resets and garbled bodies are retried
with exponential backoff and full jitter, so many clients that failed
together do not come back together. A 429 is retried after the time the
platform asked for (Retry-After, or its bucket headers through a pluggable
wait) and has its own, larger budget: a throttled sync is slow, not broken.
Any other 4xx fails at once: asking again will not change the answer.

Sources and API-based destinations get it through `ApiClient`; a destination on an
official SDK that cannot take an injected policy wraps each SDK call in
`RetryPolicy.call`, raising `HttpError` (transient for 429, 5xx and resets) from the
SDK's own exceptions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from clientela.http.errors import HttpError

NOTICE_LOGGER = "clientela.connectors"
"""Retries are logged here; a wait of NOTICE_SECONDS or more at WARNING, which the CLI shows."""
NOTICE_SECONDS = 1.0
log = logging.getLogger(NOTICE_LOGGER)

PROBE_TIMEOUT: tuple[float, float] = (3.0, 10.0)
"""(connect, read) seconds for a call that only checks a service answers (a `--dry-run`)."""

T = TypeVar("T")
Sleep = Callable[[float], None]
ThrottleWait = Callable[[requests.Response], float | None]
"""Seconds to wait after a 429, read from a platform's own headers; None if they say nothing."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """The standard Retry-After header: delta-seconds (fractions tolerated) or an HTTP-date."""
    return wait_from_headers(response.headers)


def _header(headers: Any, name: str) -> str | None:
    if not headers or not hasattr(headers, "items"):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return str(value).strip() or None
    return None


def wait_from_headers(headers: Any, *, reset_epoch: str | None = None,
                      clock: Callable[[], float] = time.time) -> float | None:
    """Seconds a 429's headers ask to wait, from any mapping of headers (a requests
    response's, or what an SDK hands back): `Retry-After` (delta-seconds or an HTTP-date),
    else, when named, a header holding the epoch second the limit resets at
    (`X-RateLimit-Reset`) minus `clock()`. None when they say nothing."""
    value = _header(headers, "Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    reset = _header(headers, reset_epoch) if reset_epoch else None
    if reset is not None:
        try:
            return max(0.0, float(reset) - clock())
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    """Tries in all for a call failing with 5xx, timeouts or resets."""
    throttle_attempts: int = 30
    """Tries in all for a call answered 429 again and again."""
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    throttle_default: float = 2.0
    """Wait after a 429 that says nothing about when to come back."""
    throttle_max: float = 300.0
    sleep: Sleep = field(default=time.sleep)
    platform: str = ""
    """Named in retry notices; `HttpError`s carry their own platform."""

    @classmethod
    def probe(cls, **overrides: object) -> RetryPolicy:
        """For a `--dry-run`, which must say within seconds that a service cannot be reached
        rather than retry for minutes: two tries, short waits. Pair with `PROBE_TIMEOUT`."""
        options: dict[str, object] = {"attempts": 2, "throttle_attempts": 3,
                                      "backoff_initial": 0.25, "backoff_max": 1.0,
                                      "throttle_max": 5.0}
        options.update(overrides)
        return cls(**options)  # type: ignore[arg-type]

    def _wait(self) -> Callable[[RetryCallState], float]:
        backoff = wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_max)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, HttpError) and error.throttled:
                asked = error.retry_after
                return min(self.throttle_max, self.throttle_default if asked is None else asked)
            return float(backoff(state))

        return wait

    def _stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        limit = self.throttle_attempts if isinstance(error, HttpError) and error.throttled \
            else self.attempts
        return state.attempt_number >= limit

    def call(self, attempt: Callable[[], T]) -> T:
        """Run `attempt` until it succeeds, fails for good, or the budget is spent."""

        def attempts_for(error: BaseException | None) -> int:
            throttled = isinstance(error, HttpError) and error.throttled
            return self.throttle_attempts if throttled else self.attempts

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, HttpError) and e.transient),
            wait=self._wait(),
            stop=self._stop,
            sleep=self.sleep,
            before_sleep=announce_retry(self.platform, attempts_for),
            reraise=True,
        )
        return retrying(attempt)


def what_happened(platform: str, error: BaseException | None) -> str:
    """'Mailchimp answered 503', 'Shopify could not be reached (connection refused)'."""
    if isinstance(error, HttpError):
        if error.status is not None:
            return f"{error.platform} answered {error.status}"
        if not error.method:  # an SDK call: the message is already "X could not be reached: why"
            return str(error)
        reason = f" ({error.detail})" if error.detail else ""
        return f"{error.platform} could not be reached{reason}"
    status = getattr(error, "status", None) or getattr(error, "status_code", None)
    name = platform or "the service"
    if isinstance(status, int):
        return f"{name} answered {status}"
    if error is not None and platform and str(error).startswith(platform):
        return str(error)  # it says who and what already ("Mailchimp could not be reached...")
    return f"{name} failed ({error})" if error is not None else f"{name} failed"


def retry_notice(platform: str, error: BaseException | None, wait: float, attempt: int,
                 attempts: int) -> str:
    """'Mailchimp answered 503; retrying in 8 s, attempt 3 of 10' (`attempt` is the next one)."""
    shown = f"{wait:.0f}" if wait >= 1 else f"{wait:.1f}"
    return f"{what_happened(platform, error)}; retrying in {shown} s, attempt {attempt} of {attempts}"


def announce_retry(platform: str, attempts: int | Callable[[BaseException | None], int]
                   ) -> Callable[[RetryCallState], None]:
    """A tenacity `before_sleep` that logs `retry_notice`: at WARNING (shown by the CLI) when
    the wait is long enough for a person to wonder, at INFO otherwise. Any tenacity loop can
    pass it, e.g. `Retrying(..., before_sleep=announce_retry("Mailchimp", 10))`."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        total = attempts(error) if callable(attempts) else attempts
        level = logging.WARNING if wait >= NOTICE_SECONDS else logging.INFO
        log.log(level, "%s", retry_notice(platform, error, wait, state.attempt_number + 1, total))

    return before_sleep
