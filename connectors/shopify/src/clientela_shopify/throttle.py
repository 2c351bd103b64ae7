"""Pacing GraphQL calls by query cost, from what Shopify reports after each call.

Every answer carries `extensions.cost`: the points the query asked for
(`requestedQueryCost`) and the bucket after it (`currentlyAvailable`,
`maximumAvailable`, `restoreRate` points per second). Shopify charges the
requested cost up front and refuses with THROTTLED when the bucket holds
less. So before a call we estimate what the bucket holds now (it refills
at the restore rate since the last reading) and, if the query we are
about to send costs more, sleep until it would fit. The price of each
operation is learned from its previous answer; one never sent yet waits
for a full bucket, since no query may cost more than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class CostBucket:
    """A `RateLimiter` for the shared client, fed from decoded bodies instead of headers."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
                 slack_seconds: float = 0.05, enabled: bool = True) -> None:
        self.clock = clock
        self.sleep = sleep
        self.slack_seconds = slack_seconds
        """Extra wait: our reading is as old as the answer's trip back to us."""
        self.enabled = enabled
        self.maximum: float | None = None
        self.available = 0.0
        self.restore = 0.0
        self.read_at = 0.0
        self.prices: dict[str, float] = {}
        self.next_operation: str | None = None
        self.paused = 0.0
        """Seconds spent waiting for the bucket (for summaries, tests, benchmarks)."""

    # -- what the client tells us ---------------------------------------------------

    def expect(self, operation: str) -> None:
        """The next request runs `operation` (a name plus anything that changes its price)."""
        self.next_operation = operation

    def observe(self, operation: str, cost: Mapping[str, Any]) -> None:
        requested = _number(cost.get("requestedQueryCost"))
        if requested is not None:
            self.prices[operation] = requested
        status = cost.get("throttleStatus")
        if not isinstance(status, Mapping):
            return
        maximum, available, restore = (_number(status.get(k)) for k in
                                        ("maximumAvailable", "currentlyAvailable",
                                         "restoreRate"))
        if maximum is None or available is None or not restore:
            return
        self.maximum, self.available, self.restore = maximum, available, restore
        self.read_at = self.clock()

    # -- estimates ------------------------------------------------------------------

    def available_now(self) -> float:
        if self.maximum is None:
            return float("inf")
        refilled = self.available + self.restore * max(0.0, self.clock() - self.read_at)
        return min(self.maximum, refilled)

    def price(self, operation: str | None) -> float:
        if self.maximum is None:
            return 0.0
        known = self.prices.get(operation or "")
        return min(self.maximum, known if known is not None else self.maximum)

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` points fit in the bucket (0 when they already do)."""
        short = cost - self.available_now()
        if short <= 0 or not self.restore:
            return 0.0
        return short / self.restore + self.slack_seconds

    # -- the RateLimiter protocol ---------------------------------------------------

    def before_request(self) -> None:
        if not self.enabled:
            return
        wait = self.wait_for(self.price(self.next_operation))
        if wait > 0:
            self.paused += wait
            self.sleep(wait)

    def after_response(self, response: requests.Response) -> None:
        return None

    def throttle_wait(self, response: requests.Response) -> float | None:
        """After an HTTP 429 without Retry-After: until the next query would fit."""
        if self.maximum is None:
            return None
        return max(1.0, self.wait_for(self.price(self.next_operation)))
