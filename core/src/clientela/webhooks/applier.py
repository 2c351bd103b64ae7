"""Applying spooled deliveries to the store, in batches, each exactly once.

Per platform, the applier reads the next events after its cursors, maps
them with the connector's mapper and lands three batches through
`write_source_batch`: order lines, customers, orders. Each batch carries
its own cursor (`applied_through`, the last spool sequence it covers) under
`(source, "webhooks.<stream>")` in the store's sync state, committed in the
same transaction as its rows. So a crash between any two transactions
leaves every stream either before or after the batch, never half-way, and
the restart skips exactly what each stream already has: nothing is lost,
nothing lands twice. The cursors are the only record of what was applied;
the spool is never updated for it.

Privacy requests (a person to forget, or to export) are carried out after
the round's rows land, so a redaction that follows an update of the same
person in one batch erases the updated row. They have their own cursor,
`(source, "webhooks.privacy")`, set after they are done; both actions are
safe to repeat, so a crash before that cursor only repeats them.

The store is opened per round and closed after it, so other commands can
use it between rounds; while another process holds it, the round is
skipped and deliveries wait in the spool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clientela.model.base import Record
from clientela.model.entities import Customer, Order, OrderLine
from clientela.model.validation import Rejection
from clientela.sources.api import SourceBatch, Stream
from clientela.store import Store, StoreError
from clientela.sync.engine import write_source_batch
from clientela.webhooks.mappers import EventMapper, EventResult, PrivacyRequest
from clientela.webhooks.spool import Spool

log = logging.getLogger("clientela.webhooks")

STREAMS: dict[str, type[Record]] = {"order_lines": OrderLine, "customers": Customer,
                                     "orders": Order}
"""Written in this order: lines before the orders they belong to."""
STATE_PREFIX = "webhooks."
PRIVACY = "privacy"
"""The cursor of the privacy requests, beside the streams'."""

WriteHook = Callable[[str, str, int], None]
"""(source, stream, applied_through) after each committed batch; for tests and progress."""


@dataclass
class ApplyStats:
    applied: int = 0
    """Events whose rows (or rejection) landed."""
    ignored: int = 0
    rounds: int = 0
    by_platform: dict[str, int] = field(default_factory=dict)
    forgotten: int = 0
    """People erased by privacy requests."""
    exports: list[Path] = field(default_factory=list)


DestinationOpeners = Mapping[str, Callable[[], Any]]
"""destination name -> opener, as `clientela.destinations.forget.forget` takes them."""


def cursors(store: Store, source: str) -> dict[str, int]:
    return {name: int(store.get_state(source, STATE_PREFIX + name).get("applied_through", 0))
            for name in (*STREAMS, PRIVACY)}


class Applier:
    def __init__(self, spool: Spool, store_path: str | Path,
                 mappers: Mapping[str, EventMapper | None], *, context: Mapping[str, Any],
                 batch_size: int = 500, on_write: WriteHook | None = None,
                 destinations: DestinationOpeners | Callable[[], DestinationOpeners] | None
                 = None,
                 exports: Path | None = None) -> None:
        self.spool = spool
        self.destinations = destinations
        """Where a forget request erases the person besides the store (or a callable that
        gives them, called only when a request comes)."""
        self.exports = exports if exports is None else Path(exports)
        """The folder data exports are written to (default: `<store>.exports` beside it)."""
        self.store_path = Path(store_path)
        self.mappers = mappers
        self.context = context
        self.batch_size = batch_size
        self.on_write = on_write
        self.stats = ApplyStats()
        self.wake = threading.Event()
        """Set by the spool after each commit, so the applier starts at once."""

    # -- one round ------------------------------------------------------------------

    def apply_round(self) -> int:
        """One batch per platform; returns the number of events consumed (0: nothing to do)."""
        try:
            store = Store(self.store_path)
        except StoreError as error:
            log.info("store busy, deliveries wait in the spool: %s", error)
            return 0
        consumed = 0
        with store:
            for platform, mapper in self.mappers.items():
                if mapper is not None:
                    consumed += self._apply_platform(store, platform, mapper)
        self.stats.rounds += 1
        return consumed

    def drain(self) -> int:
        """Apply until the spool has nothing left; the test and shutdown path."""
        total = 0
        while (done := self.apply_round()) > 0:
            total += done
        return total

    def _apply_platform(self, store: Store, platform: str, mapper: EventMapper) -> int:
        source = mapper.source_name
        done = cursors(store, source)
        events = self.spool.pending(platform, min(done.values()), self.batch_size)
        if not events:
            return 0
        through = events[-1].seq
        results = mapper.map_events(events)
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in STREAMS}
        rejections: dict[str, list[Rejection]] = {name: [] for name in STREAMS}
        for result in results:
            self._collect(result, done, source, rows, rejections)
        run_id = store.start_run("webhooks", source)
        try:
            for name, model in STREAMS.items():
                if done[name] >= through:
                    continue
                batch = SourceBatch(Stream(STATE_PREFIX + name, model), rows[name],
                                    state={"applied_through": through},
                                    rejections=rejections[name])
                write_source_batch(store, source, batch, context=self.context, run_id=run_id)
                if self.on_write is not None:
                    self.on_write(source, name, through)
            if done[PRIVACY] < through:
                self._privacy(store, source, [r.privacy for r in results
                                              if r.privacy is not None and r.seq > done[PRIVACY]])
                store.set_state(source, STATE_PREFIX + PRIVACY, {"applied_through": through})
        except BaseException as error:
            store.finish_run(run_id, "failed", {}, message=str(error))
            raise
        landed = sum(1 for r in results if r.ignored is None)
        store.finish_run(run_id, "ok", {"events": len(events), "landed": landed})
        self.stats.applied += landed
        self.stats.ignored += len(results) - landed
        self.stats.by_platform[platform] = self.stats.by_platform.get(platform, 0) + len(events)
        return len(events)

    def _privacy(self, store: Store, source: str, requests: Sequence[PrivacyRequest]) -> None:
        """Forget or export each person, in the order the requests came."""
        if not requests:
            return
        from clientela.destinations.forget import forget
        from clientela.privacy_export import export_person

        found = self.destinations() if callable(self.destinations) else self.destinations
        openers = found or {}
        for request in requests:
            if request.action == "export":
                folder = self.exports or self.store_path.with_name(
                    self.store_path.stem + ".exports")
                made = export_person(store, folder, email=request.email,
                                     customer_id=request.customer_id, source=source)
                self.stats.exports.append(made.path)
                log.info("%s: wrote a data export (%d customer rows)", source, made.customers)
                continue
            for email in self._addresses(store, source, request):
                forget(store, email, dict(openers))
                self.stats.forgotten += 1
            log.info("%s: carried out an erasure request", source)

    @staticmethod
    def _addresses(store: Store, source: str, request: PrivacyRequest) -> list[str]:
        """The e-mails a forget request is about: the one given, else the customer's in the
        store, or every address this source brought for `everyone`."""
        params: list[str | None]
        if request.everyone:
            sql, params = ("SELECT DISTINCT lower(email) FROM customers WHERE source = ? AND "
                           "email IS NOT NULL ORDER BY 1", [source])
        elif request.email:
            return [request.email]
        else:
            sql, params = ("SELECT DISTINCT lower(email) FROM customers WHERE source = ? AND "
                           "customer_id = ? AND email IS NOT NULL", [source, request.customer_id])
        return [str(row[0]) for row in store.con.execute(sql, params).fetchall()]

    @staticmethod
    def _collect(result: EventResult, done: Mapping[str, int], source: str,
                 rows: dict[str, list[dict[str, Any]]],
                 rejections: dict[str, list[Rejection]]) -> None:
        if result.ignored is not None or result.stream is None:
            return
        if result.rejection is not None:
            if result.seq > done[result.stream]:
                rejections[result.stream].append(result.rejection)
            return
        assert result.mapped is not None
        if result.seq > done[result.stream]:
            rows[result.stream].append({**result.mapped.row, "source": source})
        for child, child_rows in result.mapped.children.items():
            if child in rows and result.seq > done[child]:
                rows[child].extend({**row, "source": source} for row in child_rows)

    # -- in the background ----------------------------------------------------------

    def run(self, stop: threading.Event, idle_seconds: float = 1.0,
            retry_seconds: float = 5.0) -> None:
        """Apply whenever the spool commits (or every `idle_seconds`) until `stop` is set."""
        while not stop.is_set():
            self.wake.clear()
            try:
                busy = self.apply_round() > 0
            except Exception:
                log.exception("applying webhooks failed; retrying in %.0fs", retry_seconds)
                stop.wait(retry_seconds)
                continue
            if not busy:
                self.wake.wait(idle_seconds)
