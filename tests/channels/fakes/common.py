"""What every messaging fake shares: a log of accepted messages, a send-rate ceiling, and
status webhooks delivered out of order (and sometimes never)."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from clientela.testing.fake_server import FakeServer


@dataclass
class Accepted:
    """One message the provider accepted."""

    id: str
    to: str
    key: str | None
    body: str | None = None
    template: str | None = None
    variables: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


class MessagingFake(FakeServer):
    """`per_second` is the provider's ceiling: a send beyond it in any one-second window is
    answered with the provider's throttling error (and counted in `over_limit`)."""

    def __init__(self, per_second: float = 1_000.0) -> None:
        super().__init__()
        self.per_second = per_second
        self.accepted: list[Accepted] = []
        self._window: deque[float] = deque()
        self.over_limit = 0
        self.send_calls = 0
        self.rate_lock = threading.Lock()

    def over_rate(self) -> bool:
        now = time.monotonic()
        with self.rate_lock:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.per_second:
                self.over_limit += 1
                return True
            self._window.append(now)
            return False

    def keys(self) -> list[str]:
        return [m.key for m in self.accepted if m.key]

    def duplicates(self) -> int:
        keys = self.keys()
        return len(keys) - len(set(keys))

    @staticmethod
    def shuffled(events: list[Any], *, seed: int, drop: float) -> list[Any]:
        """Out of order, and a share `drop` never delivered (providers do both)."""
        rng = random.Random(seed)
        kept = [e for e in events if rng.random() >= drop]
        rng.shuffle(kept)
        return kept
