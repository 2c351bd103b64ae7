"""Pacing requests by what the platform says about its own limits.

Leaky-bucket platforms (Nuvemshop, Shopify REST) report how full the
bucket is on every response. Slowing down *before* the bucket overflows
costs a short pause; overflowing costs a 429, a longer wait and a wasted
request. The limiter reads those headers after each response and, when
the bucket is nearly full, waits for one slot to leak before the next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import requests


class RateLimiter(Protocol):
    def before_request(self) -> None: ...

    def after_response(self, response: requests.Response) -> None: ...


class NoLimiter:
    """For platforms without published limits (WooCommerce: the host decides); 429s still retry."""

    def before_request(self) -> None:
        return None

    def after_response(self, response: requests.Response) -> None:
        return None


@dataclass(frozen=True)
class BucketReading:
    remaining: int
    """Requests that still fit in the bucket."""
    slot_seconds: float
    """Time for one request's worth to leak out."""


BucketReader = Callable[[requests.Response], BucketReading | None]


def _header_number(response: requests.Response, name: str) -> float | None:
    value = response.headers.get(name)
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def leaky_bucket_headers(
    limit: str, remaining: str, reset: str, *, reset_unit: Literal["ms", "s"] = "ms"
) -> BucketReader:
    """Reader for limit/remaining/reset headers, reset being the time to empty the bucket."""
    scale = 0.001 if reset_unit == "ms" else 1.0

    def read(response: requests.Response) -> BucketReading | None:
        size, left, until_empty = (_header_number(response, h) for h in (limit, remaining, reset))
        if size is None or left is None or until_empty is None:
            return None
        used = max(size - left, 1.0)
        return BucketReading(int(left), max(0.0, until_empty * scale) / used)

    return read


def call_limit_header(name: str, *, leak_per_second: float) -> BucketReader:
    """Reader for a 'used/size' header such as Shopify's `X-Shopify-Shop-Api-Call-Limit: 32/40`."""

    def read(response: requests.Response) -> BucketReading | None:
        value = response.headers.get(name, "")
        used, sep, size = value.partition("/")
        try:
            return BucketReading(int(size) - int(used), 1.0 / leak_per_second) if sep else None
        except ValueError:
            return None

    return read


class BucketLimiter:
    """Waits for a slot to leak whenever the bucket has `reserve` or fewer requests left."""

    def __init__(self, reader: BucketReader, *, reserve: int = 2,
                 sleep: Callable[[float], None] = time.sleep,
                 min_throttle_wait: float = 0.5) -> None:
        self.reader = reader
        self.min_throttle_wait = min_throttle_wait
        self.reserve = reserve
        self.sleep = sleep
        self._pause = 0.0
        self.paused = 0.0
        """Total seconds spent waiting, for summaries and tests."""

    def before_request(self) -> None:
        if self._pause > 0:
            pause, self._pause = self._pause, 0.0
            self.paused += pause
            self.sleep(pause)

    def after_response(self, response: requests.Response) -> None:
        reading = self.reader(response)
        if reading is not None and reading.remaining <= self.reserve:
            self._pause = reading.slot_seconds * (self.reserve - reading.remaining + 1)

    def throttle_wait(self, response: requests.Response) -> float | None:
        """After a 429: one slot's time, from the same headers (never less than the floor)."""
        reading = self.reader(response)
        if reading is None:
            return None
        return max(self.min_throttle_wait, reading.slot_seconds * max(1, 1 - reading.remaining))
