"""Batching helpers every destination shares: chunks, retries, and isolating bad rows.

A batch endpoint that rejects a whole request because of one bad row would
otherwise block hundreds of good contacts; `isolate` halves the batch until
the bad rows stand alone, at a cost of about 2·log2(batch) extra calls per
bad row, and the good rows still land in this run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from clientela.connectors.retry import announce_retry
from clientela.destinations.api import Change, Done, Outcome

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Retryable(Exception):
    """Raised by a destination for a call worth repeating (429, 5xx, connection reset).
    `status` is the HTTP status (None when the host could not be reached): the retry notice
    says "Mailchimp answered 503"; without one, the message is shown as it is, so it should
    start with the platform's name and name the host."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class BatchRejected(Exception):
    """The whole request was refused for its content (a 4xx other than 429): splitting the
    batch can isolate the row at fault."""


def backoff(base: float = 0.5, cap: float = 30.0) -> Callable[[RetryCallState], float]:
    """Exponential wait, or the server's Retry-After when it gave one (never below it)."""
    def wait(state: RetryCallState) -> float:
        exponential = min(cap, base * 2 ** (state.attempt_number - 1))
        error = state.outcome.exception() if state.outcome is not None else None
        hinted = error.retry_after if isinstance(error, Retryable) else None
        return float(max(exponential, hinted or 0.0))

    return wait


def retrying(platform: str, *, attempts: int = 10, sleep: Callable[[float], None] = time.sleep,
             base: float = 0.5, cap: float = 30.0) -> Retrying:
    """A tenacity policy for `Retryable` errors; pass `sleep` to test without waiting. Each
    wait is announced ("Mailchimp answered 429; retrying in 8 s, attempt 3 of 10"), at WARNING
    when it is long enough for a person to wonder, which the CLI shows."""
    return Retrying(
        retry=retry_if_exception(lambda error: isinstance(error, Retryable)),
        wait=backoff(base, cap),
        stop=stop_after_attempt(attempts),
        sleep=sleep,
        before_sleep=announce_retry(platform, attempts),
        reraise=True,
    )


def isolate(rows: Sequence[T], send: Callable[[Sequence[T]], R],
            on_rejected: Callable[[T, BatchRejected], None]) -> list[tuple[Sequence[T], R]]:
    """Send `rows`; when the batch is rejected as a whole, halve it and send the halves,
    until every rejected row is alone and reported to `on_rejected`. Returns each accepted
    sub-batch with its answer."""
    accepted: list[tuple[Sequence[T], R]] = []
    pending: list[Sequence[T]] = [rows]
    while pending:
        batch = pending.pop()
        if not batch:
            continue
        try:
            accepted.append((batch, send(batch)))
        except BatchRejected as error:
            if len(batch) == 1:
                on_rejected(batch[0], error)
            else:
                middle = len(batch) // 2
                pending.extend((batch[middle:], batch[:middle]))
    return accepted


def send_each(changes: Sequence[Change], send_one: Callable[[Change], Outcome],
              done: Done, *, report_every: int = 50) -> None:
    """For APIs without a batch upsert: one contact at a time, outcomes handed to the engine
    in groups (one store transaction each), and whatever was sent is reported even when a
    later contact raises, so a crash loses no recorded success."""
    outcomes: list[Outcome] = []
    try:
        for change in changes:
            outcomes.append(send_one(change))
            if len(outcomes) >= report_every:
                done(outcomes)
                outcomes = []
    finally:
        done(outcomes)
