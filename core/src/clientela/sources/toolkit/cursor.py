"""Incremental cursors with a lookback window, and dropping records already landed.

A sync asks for records changed since `cursor - lookback`. The lookback
(10 minutes by default) catches records whose change time is earlier than
the moment they became visible: written in a slow transaction, indexed
late, or changed while the previous sync was paging past them. The new
cursor is the server's clock when the window opened (its Date header),
never the largest timestamp seen: pages are not sorted by change time,
so a crash after page 5 must not skip older changes on page 6.

While a window is open its position (`resume`) is saved with every batch,
so a restarted sync finishes that window instead of starting over.

Records re-read through the lookback are compared by a digest of their raw
payload with those landed recently (kept in the state) and dropped when
identical; a record that changed comes through, even if the platform did
not bump its change time.

The digest is of the payload as decoded (marshal's format 2: no sharing
refs, so equal values in equal order give equal bytes), about four times
cheaper than canonical JSON on every record of a sync. It is sensitive
to key order, which a fixed query keeps; a reordered payload only costs a
harmless re-upsert.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_LOOKBACK = timedelta(minutes=10)
RECENT_LIMIT = 2_000
"""Digests kept in the state; beyond it, re-reads are left to the store's idempotent upsert."""
RUN_MEMORY = 20_000
"""Digests remembered within one run, to drop the duplicates offset paging produces."""

Now = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp from state or a payload, as aware UTC (naive means UTC)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]  # '+0000' -> '+00:00'
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


_MARSHAL_FORMAT = 2
"""Format 3 and later write refs to objects seen twice, which depends on object identity."""


def digest(raw: Any) -> str:
    try:
        data = marshal.dumps(raw, _MARSHAL_FORMAT)
    except ValueError:  # not plain decoded JSON (a Mapping subclass, a Decimal): canonical JSON
        data = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass
class Deduplicator:
    """Which records were already landed, as they were.

    A digest is only taken where it can matter: for a key met before (in this
    run or saved in the state) and for a change recent enough to be saved (at
    or after `horizon`). An older record met for the first time is fresh
    whatever its content, so a first sync digests almost nothing; should the
    paging hand it over twice, the second copy lands again, harmlessly (the
    upsert finds it unchanged).
    """

    recent: dict[str, tuple[str, str]] = field(default_factory=dict)
    """key -> (change time, digest) of recently changed records, carried in the state."""
    horizon: datetime | None = None
    """Changes before it are never saved in the state (None: not known yet, keep all)."""
    _run: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def fresh(self, key: str, raw: Any, changed: datetime | None) -> bool:
        """True the first time a record is seen with this content; remembers it."""
        known = self._run.get(key) or (self.recent.get(key) or (None, None))[1]
        saved = changed is not None and (self.horizon is None or changed >= self.horizon)
        if known is None and not saved:
            return True
        mark = digest(raw)
        if known == mark:
            return False
        self._run[key] = mark
        self._run.move_to_end(key)
        if len(self._run) > RUN_MEMORY:
            self._run.popitem(last=False)
        if saved:
            self.recent[key] = (_iso(changed) or "", mark)
            if len(self.recent) > 2 * RECENT_LIMIT:
                # only the newest RECENT_LIMIT can ever be saved: keep memory flat in N
                newest = sorted(self.recent.items(), key=lambda item: item[1][0], reverse=True)
                self.recent = dict(newest[:RECENT_LIMIT])
        return True

    def kept(self, horizon: datetime | None) -> dict[str, list[str]]:
        """The recent digests worth saving: changes at or after `horizon`, newest first, capped."""
        floor = _iso(horizon) if horizon is not None else None
        entries = [(k, v) for k, v in self.recent.items() if floor is None or v[0] >= floor]
        entries.sort(key=lambda item: item[1][0], reverse=True)
        return {k: list(v) for k, v in entries[:RECENT_LIMIT]}


@dataclass(frozen=True)
class Window:
    since: datetime | None
    """Ask for records changed at or after this (None: everything)."""
    resume: Any
    """Where to continue inside the window (None: from its first page)."""


class StreamCursor:
    """The state of one stream, read from and written back to the store's sync state.

    Layout: `{"cursor": iso | None, "window": {"since", "until", "resume"} | None,
    "recent": {key: [changed iso, digest]}}`. A full-refresh stream keeps only
    the open window, and nothing once it completes.
    """

    def __init__(
        self,
        state: Mapping[str, Any],
        *,
        incremental: bool,
        lookback: timedelta = DEFAULT_LOOKBACK,
        now: Now = utc_now,
    ) -> None:
        self.incremental = incremental
        self.lookback = lookback
        self.now = now
        self.cursor = parse_time(state.get("cursor")) if incremental else None
        open_window = state.get("window") if isinstance(state.get("window"), Mapping) else None
        self._open = dict(open_window) if open_window else None
        recent = state.get("recent") if incremental else None
        self.dedup = Deduplicator({
            str(k): (str(v[0]), str(v[1])) for k, v in (recent or {}).items()
            if isinstance(v, list | tuple) and len(v) == 2
        })
        self.until: datetime | None = None

    def window(self) -> Window:
        if self._open is not None:
            self._close_at(parse_time(self._open.get("until")))
            since = parse_time(self._open.get("since"))
            return Window(since, self._open.get("resume"))
        since = self.cursor - self.lookback if self.cursor is not None else None
        self._open = {"since": _iso(since), "until": None, "resume": None}
        return Window(since, None)

    def observe(self, server_time: datetime | None) -> None:
        """The first response of a window fixes its upper bound, on the server's clock."""
        if self.until is None:
            self._close_at(server_time or self.now())

    def _close_at(self, until: datetime | None) -> None:
        self.until = until
        self.dedup.horizon = self._horizon()

    def _horizon(self) -> datetime | None:
        return self.until - self.lookback if self.until is not None else None

    def after_page(self, resume: Any) -> dict[str, Any]:
        """The state to commit with the batch of a page; `resume` None closes the window."""
        if resume is None:
            return self.completed()
        assert self._open is not None, "window() opens the window first"
        self._open["resume"] = resume
        self._open["until"] = _iso(self.until)
        state: dict[str, Any] = {"window": dict(self._open)}
        if self.incremental:
            state["cursor"] = _iso(self.cursor)
            state["recent"] = self.dedup.kept(self._horizon())
        return state

    def completed(self) -> dict[str, Any]:
        self._open = None
        if not self.incremental:
            return {}
        until = self.until or self.now()
        new_cursor = max(until, self.cursor) if self.cursor is not None else until
        self.cursor = new_cursor
        return {"cursor": _iso(new_cursor), "window": None,
                "recent": self.dedup.kept(new_cursor - self.lookback)}
