"""When and how long to retry a call, on tenacity.

Server errors, timeouts, connection resets and garbled bodies are retried
with exponential backoff and full jitter, so many clients that failed
together do not come back together. A 429 is retried after the time the
platform asked for (Retry-After, or its bucket headers through a pluggable
wait) and has its own, larger budget: a throttled sync is slow, not broken.
Any other 4xx fails at once: asking again will not change the answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from clientela.connectors.errors import HttpError

log = logging.getLogger("clientela.connectors")

T = TypeVar("T")
Sleep = Callable[[float], None]
ThrottleWait = Callable[[requests.Response], float | None]
"""Seconds to wait after a 429, read from a platform's own headers; None if they say nothing."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """The standard Retry-After header: delta-seconds (fractions tolerated) or an HTTP-date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            log.info("retrying in %.2fs (attempt %d): %s", wait, state.attempt_number, error)

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, HttpError) and e.transient),
            wait=self._wait(),
            stop=self._stop,
            sleep=self.sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(attempt)
