"""The push engine: segment, diff against what was sent, plan, send, commit per batch.

It knows nothing about any API: a destination plugin plans with read calls
and sends with write calls (see `api.py`). The engine guarantees, for every
destination alike:

* only changed contacts reach `send`, so a repeated push with no change
  makes no write call at all (not even to create fields or tags);
* `dry_run` stops after `plan`: it counts and samples what would happen and
  writes nothing, neither remotely nor in the store;
* each batch the destination reports is committed with its run-log rows in
  one transaction; a failed contact's hash is not recorded, so the next run
  retries it, and a crash mid-push resends only the uncommitted contacts;
* skipped contacts (no consent) are logged and re-examined on every run.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from clientela.destinations import state
from clientela.destinations.api import Change, Destination, Outcome, PushContext
from clientela.destinations.contacts import (
    Segmentation,
    build_contacts,
    choose_fields,
    rfm_features,
    segments_of,
)
from clientela.destinations.diff import diff
from clientela.privacy import mask_email, mask_text
from clientela.store import Store

Progress = Callable[[int, int], None]
"""progress(done so far, total to send)."""


@dataclass
class PushReport:
    destination: str
    segmentation: str
    dry_run: bool
    run_id: str | None = None
    contacts: int = 0
    unchanged: int = 0
    planned: Counter[str] = field(default_factory=Counter)
    """create / update / remove / skip, as planned."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """created / updated / removed / skipped / failed, as done (empty for a dry run)."""
    moved: int = 0
    """Contacts whose segment changes (a tag or list to move)."""
    sample: dict[str, list[str]] = field(default_factory=dict)
    """Per planned action, a few masked e-mails with their segment move."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(customer_id, masked error) of the failed contacts, first ones only."""

    @property
    def failed(self) -> int:
        return self.outcomes["failed"]


def push(store: Store, name: str, destination: Destination, segmentation: Segmentation, *,
         as_of: datetime, timezone: str = "UTC", currency: str = "BRL",
         fields: Sequence[str] | None = None, dry_run: bool = False, sample: int = 5,
         progress: Progress | None = None) -> PushReport:
    """Push one segmentation to one opened destination; see the module docstring."""
    con = store.con
    specs = choose_fields(fields, con)
    build_contacts(con, rfm_features(store, as_of, timezone, currency),
                   segmentation, specs, as_of=as_of, timezone=timezone)
    found = diff(con, name, segmentation.name, specs)
    ctx = PushContext(segmentation.name, segments_of(segmentation, con), specs)
    planned = destination.plan(ctx, found.changes) if found.changes else []
    report = PushReport(name, segmentation.name, dry_run, contacts=found.total,
                        unchanged=found.unchanged)
    for change in planned:
        report.planned[change.action] += 1
        if change.action != "skip" and change.moves:
            report.moved += 1
        shown = report.sample.setdefault(change.action, [])
        if len(shown) < sample:
            shown.append(_describe(change))
    if dry_run:
        return report
    report.run_id = store.start_run("push", f"{name}:{segmentation.name}")
    skipped = [change for change in planned if change.action == "skip"]
    to_send = [change for change in planned if change.action != "skip"]
    state.log_skips(con, run_id=report.run_id, destination=name,
                    segmentation=segmentation.name, skipped=skipped)
    report.outcomes["skipped"] = len(skipped)
    try:
        if to_send:
            _send(con, report, destination, ctx, to_send, found.hashes, progress)
    except BaseException as error:
        store.finish_run(report.run_id, "failed", _stats(report), mask_text(str(error)))
        raise
    status = "partial" if report.failed else "ok"
    store.finish_run(report.run_id, status, _stats(report))
    return report


def _send(con: duckdb.DuckDBPyConnection, report: PushReport, destination: Destination, ctx: PushContext,
          to_send: list[Change], hashes: dict[str, str], progress: Progress | None) -> None:
    by_id = {change.customer_id: change for change in to_send}
    reported: set[str] = set()
    lock = threading.Lock()
    assert report.run_id is not None

    def done(outcomes: Sequence[Outcome]) -> None:
        with lock:
            fresh = [o for o in outcomes if o.customer_id in by_id and o.customer_id not in reported]
            if not fresh:
                return
            state.record(con, run_id=report.run_id or "", destination=report.destination,
                         segmentation=report.segmentation, changes=by_id, hashes=hashes,
                         outcomes=fresh)
            for outcome in fresh:
                reported.add(outcome.customer_id)
                if outcome.ok:
                    report.outcomes[state.OUTCOME_OF[by_id[outcome.customer_id].action]] += 1
                else:
                    report.outcomes["failed"] += 1
                    if len(report.errors) < 20:
                        report.errors.append((outcome.customer_id, mask_text(outcome.error or "")))
            if progress is not None:
                progress(len(reported), len(by_id))

    destination.prepare(ctx)
    destination.send(ctx, to_send, done)
    missing = [cid for cid in by_id if cid not in reported]
    if missing:  # a destination bug must not pass for success: retry them next run
        done([Outcome(cid, False, "the destination did not report this contact")
              for cid in missing])


def _describe(change: Change) -> str:
    who = f"{change.customer_id} {mask_email(change.contact.email)}"
    if change.action == "skip":
        return f"{who} ({change.reason})"
    if change.moves:
        return f"{who}: {change.previous_segment or '-'} -> {change.contact.segment or '-'}"
    return f"{who}: {change.contact.segment}"


def _stats(report: PushReport) -> dict[str, object]:
    return {"contacts": report.contacts, "unchanged": report.unchanged,
            "planned": dict(report.planned), "outcomes": dict(report.outcomes),
            "moved": report.moved}
