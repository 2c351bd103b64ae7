"""The push engine: segment, diff against what was sent, plan, send, commit per batch.

It knows nothing about any API: a destination plugin plans with read calls
and sends with write calls (see `api.py`). The engine guarantees, for every
destination alike:

* only changed contacts reach `send`, so a repeated push with no change
  makes no write call at all (not even to create fields or tags);
* consent comes from the ledger (`clientela.consent`): first the opt-outs of the
  `others` destinations (every other configured one, `read_first`), then, before
  planning, the destination's own since its last read are recorded there, so an
  unsubscribe in any tool reaches this push; nobody without a current opt-in is
  created as subscribed, and a member who lost it is unsubscribed (or archived)
  and untagged first;
* `dry_run` first checks that the destination's host answers (`Probes`),
  then stops after `plan`: it counts and samples what would happen
  (subscribed, unsubscribed, archived, re-tagged, skipped for lack of
  consent, not re-created because deleted) and writes nothing, neither
  remotely nor in the store (its reads are recorded in a transaction that is
  rolled back);
* each batch the destination reports is committed with its run-log rows in
  one transaction; a failed contact's hash is not recorded, so the next run
  retries it, and a crash mid-push resends only the uncommitted contacts;
* a run that was killed is marked `interrupted` by the next one, which then
  reconciles segment memberships against what the destination holds; one
  push per destination at a time (a lock file next to a DuckDB store, an
  advisory lock on a PostgreSQL one, see `lock.py`);
* skipped contacts (no consent) are logged and re-examined on every run.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from clientela.destinations import inbound, state
from clientela.destinations.api import (
    LIMITATIONS_ATTRIBUTE,
    Change,
    Destination,
    Opener,
    Outcome,
    Probes,
    PushContext,
    ReadsConsent,
    Reconciles,
    WritesOptOuts,
)
from clientela.destinations.contacts import (
    Segmentation,
    build_contacts,
    choose_fields,
    consent_table,
    rfm_features,
    segments_of,
)
from clientela.destinations.diff import diff
from clientela.destinations.heal import reconcile as reconcile_plan
from clientela.destinations.lock import push_lock
from clientela.destinations.opt_outs import COUNTED, hand_over
from clientela.destinations.read_first import ReadOutcome, read_all
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
    consent: Counter[str] = field(default_factory=Counter)
    """subscribed, pending, unsubscribed, archived, untagged, retagged, skipped_no_consent,
    not_recreated_deleted, already_unsubscribed (as planned), `opted_out_<purpose>`: contacts
    handed an opt-out of that other purpose for the first time (`Change.new_opt_outs`),
    `opt_outs_written`: contacts beyond the push's changes written an opt-out
    (`clientela.destinations.opt_outs`), and learned: opt-outs read from the destination and
    recorded in the ledger."""
    consent_sample: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Consent rules this destination's API cannot express, and other caveats."""
    healed: bool = False
    """Memberships were reconciled against the destination (the previous run did not finish)."""
    sample: dict[str, list[str]] = field(default_factory=dict)
    """Per planned action, a few masked e-mails with their segment move."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(customer_id, masked error) of the failed contacts, first ones only."""
    failed_customers: set[str] = field(default_factory=set)
    """Customer ids of the failed contacts (their opt-outs are left to the next push)."""
    read_first: list[ReadOutcome] = field(default_factory=list)
    """The other destinations' opt-outs read before this push (`read_first`)."""

    @property
    def failed(self) -> int:
        return self.outcomes["failed"]


def push(store: Store, name: str, destination: Destination, segmentation: Segmentation, *,
         as_of: datetime, timezone: str = "UTC", currency: str = "BRL",
         fields: Sequence[str] | None = None, dry_run: bool = False, sample: int = 5,
         progress: Progress | None = None, reconcile: bool = False,
         others: Mapping[str, Opener] | None = None) -> PushReport:
    """Push one segmentation to one opened destination; see the module docstring.

    `reconcile` reads the destination's segment memberships and repairs them even when the
    previous run finished (it always happens after an interrupted or failed run). `others`
    are the other destinations whose opt-outs are read first (`read_first.read_all`); one
    that fails to read is reported in `PushReport.read_first` and does not stop the push."""
    others = {key: opener for key, opener in (others or {}).items() if key != name}
    if dry_run:
        return _dry_run(store, name, destination, segmentation, as_of=as_of, timezone=timezone,
                        currency=currency, fields=fields, sample=sample, reconcile=reconcile,
                        others=others)
    read = read_all(store, others)
    with push_lock(store, name):
        target = f"{name}:{segmentation.name}"
        store.interrupt_runs("push", "did not finish (killed or crashed); found by the next "
                             "push", target_prefix=f"{name}:")
        heal = reconcile or _unfinished(store, target)
        report = PushReport(name, segmentation.name, False, read_first=read)
        report.run_id = store.start_run("push", target)
        report.healed = heal
        try:
            planned, hashes, ctx = _plan(store, name, destination, segmentation, report,
                                         as_of=as_of, timezone=timezone, currency=currency,
                                         fields=fields, sample=sample, heal=heal)
            _deliver(store, report, destination, ctx, planned, hashes, progress)
            if isinstance(destination, WritesOptOuts):
                _hand_opt_outs(store, report, destination, report.failed_customers)
        except BaseException as error:
            store.finish_run(report.run_id, "failed", _stats(report), mask_text(str(error)))
            raise
        status = "partial" if report.failed else "ok"
        store.finish_run(report.run_id, status, _stats(report))
        return report


def _dry_run(store: Store, name: str, destination: Destination, segmentation: Segmentation, *,
             as_of: datetime, timezone: str, currency: str, fields: Sequence[str] | None,
             sample: int, reconcile: bool, others: Mapping[str, Opener]) -> PushReport:
    """Everything a push reads, nothing it writes: the store's changes (consent learned from
    the destinations, deletions found) happen in a transaction that is rolled back."""
    report = PushReport(name, segmentation.name, True)
    heal = reconcile or _unfinished(store, f"{name}:{segmentation.name}", running=True)
    report.healed = heal
    with store.rolled_back():
        report.read_first = read_all(store, others, dry_run=True)
        planned, _, _ = _plan(store, name, destination, segmentation, report, as_of=as_of,
                              timezone=timezone, currency=currency, fields=fields,
                              sample=sample, heal=heal)
        if isinstance(destination, WritesOptOuts):  # the push's changes carry their own
            _hand_opt_outs(store, report, destination, {
                state.real_id(c.customer_id) for c in planned if c.action != "skip"})
    return report


def _hand_opt_outs(store: Store, report: PushReport, destination: WritesOptOuts,
                   exclude: set[str]) -> None:
    """The store's opt-outs of contacts this destination holds beyond the push's changes
    (`clientela.destinations.opt_outs`), counted as `opt_outs_written`."""
    done = hand_over(store, report.destination, destination, run_id=report.run_id,
                     dry_run=report.dry_run, exclude=exclude)
    if done.contacts:
        report.consent[COUNTED] += done.contacts
    for customer_id, error in done.failed.items():
        report.outcomes["failed"] += 1
        report.failed_customers.add(customer_id)
        if len(report.errors) < 20:
            report.errors.append((customer_id, error))


def _plan(store: Store, name: str, destination: Destination, segmentation: Segmentation,
          report: PushReport, *, as_of: datetime, timezone: str, currency: str,
          fields: Sequence[str] | None, sample: int, heal: bool
          ) -> tuple[list[Change], dict[str, str], PushContext]:
    """Build the contacts (local work first: a bad rule or field is the user's to fix, whatever
    the network), check the destination answers (dry run), read its opt-outs, diff, plan,
    reconcile."""
    con = store.con
    report.notes = list(getattr(destination, LIMITATIONS_ATTRIBUTE, ()))
    specs = choose_fields(fields, con)
    build_contacts(con, rfm_features(store, as_of, timezone, currency, segmenter=(
        segmentation.name if segmentation.rule is None else "rfm")),
                   segmentation, specs, as_of=as_of, timezone=timezone)
    if report.dry_run and isinstance(destination, Probes):
        destination.probe()  # unreachable: say so now, not after minutes of retries
    if isinstance(destination, ReadsConsent):
        report.consent["learned"] = inbound.read(store, name, destination, report.run_id)
        if report.consent["learned"]:
            consent_table(con)  # the contacts see what was just learned
    found_diff = diff(con, name, segmentation.name, specs)
    report.contacts, report.unchanged = found_diff.total, found_diff.unchanged
    ctx = PushContext(segmentation.name, segments_of(segmentation, con), specs)
    planned = destination.plan(ctx, found_diff.changes) if found_diff.changes else []
    deleted = [c for c in planned if c.action == "skip" and c.skip_kind == "deleted"
               and c.sent_status is not None]
    if deleted:  # sent before, gone there: remember why, and stop holding them
        inbound.record_deleted(con, name, [(c.customer_id, c.contact.email) for c in deleted],
                               at=state.now())
        state.forget_sent(store, name, segmentation.name, [c.customer_id for c in deleted])
    if heal and isinstance(destination, Reconciles):
        sent = store.push_state.sent(name, segmentation.name)
        planned = reconcile_plan(planned, sent, destination.holdings(ctx))
    elif heal:
        report.notes.append("this destination cannot list its segment memberships: "
                            "after an interrupted run, tags are repaired from the local state")
    _count(report, planned, sample)
    return planned, found_diff.hashes, ctx


def _count(report: PushReport, planned: Sequence[Change], sample: int) -> None:
    for change in planned:
        report.planned[change.action] += 1
        if change.action != "skip" and change.moves:
            report.moved += 1
        shown = report.sample.setdefault(change.action, [])
        if len(shown) < sample:
            shown.append(_describe(change))
        kind = _consent_kind(change)
        if kind is not None:
            report.consent[kind] += 1
            kept = report.consent_sample.setdefault(kind, [])
            if len(kept) < sample:
                kept.append(_describe(change))
        if change.action != "skip":
            for purpose in change.new_opt_outs:
                report.consent[f"opted_out_{purpose}"] += 1
                kept = report.consent_sample.setdefault(f"opted_out_{purpose}", [])
                if len(kept) < sample:
                    kept.append(_describe(change))
        if (change.action not in ("skip", "create", "update") and change.moves) \
                or (change.action in ("create", "update") and (change.stale or change.retag)):
            report.consent["retagged"] += 1


def _consent_kind(change: Change) -> str | None:
    if change.action == "create":
        return "subscribed" if change.status == "subscribed" else "pending"
    if change.action == "unsubscribe":
        return {"unsubscribed": "unsubscribed", "archived": "archived"}.get(
            change.status or "", "untagged")
    if change.action == "skip":
        return {"no_consent": "skipped_no_consent", "deleted": "not_recreated_deleted",
                "unsubscribed_there": "already_unsubscribed"}.get(change.skip_kind or "",
                                                                   "skipped_no_consent")
    return None


def _deliver(store: Store, report: PushReport, destination: Destination,
             ctx: PushContext, planned: list[Change], hashes: dict[str, str],
             progress: Progress | None) -> None:
    """Unsubscribes first (an old address, a lost consent), each phase committed as it is
    reported; then the creates, updates and tag moves."""
    assert report.run_id is not None
    skipped = [change for change in planned if change.action == "skip"]
    state.log_skips(store, run_id=report.run_id, destination=report.destination,
                    segmentation=report.segmentation, skipped=skipped)
    report.outcomes["skipped"] = len(skipped)
    first = [change for change in planned if change.action == "unsubscribe"]
    then = [change for change in planned if change.action not in ("skip", "unsubscribe")]
    prepared = False
    for phase in (first, then):
        if phase:
            _send(store, report, destination, ctx, phase, hashes, progress, prepare=not prepared)
            prepared = True


def _unfinished(store: Store, target: str, *, running: bool = False) -> bool:
    """True when the previous push of this target did not finish cleanly (a run still
    `running` when the lock was free was killed, and is marked `interrupted` first)."""
    bad = {"interrupted", "failed"} | ({"running"} if running else set())
    return store.last_run_status("push", target) in bad


def _send(store: Store, report: PushReport, destination: Destination,
          ctx: PushContext, to_send: list[Change], hashes: dict[str, str],
          progress: Progress | None, *, prepare: bool = True) -> None:
    by_id = {change.customer_id: change for change in to_send}
    reported: set[str] = set()
    lock = threading.Lock()
    assert report.run_id is not None

    def done(outcomes: Sequence[Outcome]) -> None:
        with lock:
            fresh = [o for o in outcomes if o.customer_id in by_id and o.customer_id not in reported]
            if not fresh:
                return
            state.record(store, run_id=report.run_id or "", destination=report.destination,
                         segmentation=report.segmentation, changes=by_id, hashes=hashes,
                         outcomes=fresh)
            gone = [(state.real_id(o.customer_id), by_id[o.customer_id].contact.email)
                    for o in fresh if o.resend_as_new]
            if gone:
                inbound.record_deleted(store.con, report.destination, gone, at=state.now())
            former = [(state.real_id(o.customer_id), by_id[o.customer_id].contact.email)
                      for o in fresh if o.ok and o.customer_id.startswith(state.OLD_ADDRESS)]
            if former:
                inbound.record_former(store.con, report.destination, former, at=state.now())
            for outcome in fresh:
                reported.add(outcome.customer_id)
                if outcome.ok:
                    report.outcomes[state.OUTCOME_OF[by_id[outcome.customer_id].action]] += 1
                else:
                    report.outcomes["failed"] += 1
                    report.failed_customers.add(state.real_id(outcome.customer_id))
                    if len(report.errors) < 20:
                        report.errors.append((outcome.customer_id, mask_text(outcome.error or "")))
            if progress is not None:
                progress(len(reported), len(by_id))

    if prepare:
        destination.prepare(ctx)
    destination.send(ctx, to_send, done)
    missing = [cid for cid in by_id if cid not in reported]
    if missing:  # a destination bug must not pass for success: retry them next run
        done([Outcome(cid, False, "the destination did not report this contact")
              for cid in missing])


def _describe(change: Change) -> str:
    who = f"{state.real_id(change.customer_id)} {mask_email(change.contact.email)}"
    if change.action == "skip":
        return f"{who} ({change.reason})"
    target = change.contact.segment if change.action not in ("unsubscribe", "remove") else None
    if change.moves:
        held = ", ".join(change.tags_to_remove) or change.previous_segment or "-"
        return f"{who}: {held} -> {target or '-'}"
    return f"{who}: {target or '-'}"


def _stats(report: PushReport) -> dict[str, object]:
    stats: dict[str, object] = {
        "contacts": report.contacts, "unchanged": report.unchanged,
        "planned": dict(report.planned), "outcomes": dict(report.outcomes),
        "moved": report.moved, "consent": dict(report.consent), "healed": report.healed}
    if report.read_first:  # the other destinations read first: what each gave
        stats["read_first"] = {o.destination: {"status": o.status, "learned": o.learned}
                               for o in report.read_first}
    return stats
