"""Batching helpers every destination shares: chunks, one-at-a-time sending, isolating bad rows.

Retrying a call is not done here: every connector, source or destination, retries
through `clientela.http.RetryPolicy` and fails with `clientela.http.HttpError`.

A batch endpoint that rejects a whole request because of one bad row would
otherwise block hundreds of good contacts; `isolate` halves the batch until
the bad rows stand alone, at a cost of about 2·log2(batch) extra calls per
bad row, and the good rows still land in this run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from clientela.destinations.api import Change, Done, Outcome

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class BatchRejected(Exception):
    """The whole request was refused for its content (a 4xx other than 429): splitting the
    batch can isolate the row at fault."""


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
