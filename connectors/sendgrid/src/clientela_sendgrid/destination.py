"""SendGrid Marketing Campaigns as a clientela destination: a list per segment, fields by id.

Call budget for N changed contacts (the floor the API's batch limits allow): contacts that join a
segment list are upserted grouped by that list, Σ⌈n_s/30k⌉ calls, because
`list_ids` applies to every contact of a request; contacts that stay in
their list go in requests without `list_ids`, ⌈N_nolist/30k⌉; each request
is also cut at 6 MB. Leaving a list needs contact ids, so those contacts
are looked up (100 per read) and removed, up to 100 ids per DELETE.

SendGrid answers an upsert with 202 and a job id and does the work later;
a job may fail as a whole or for some contacts only. A contact is reported
done only once its job has ended and did not name it among its errors (the
peer bug we must not repeat: trusting the 202). A failed contact is not
committed, so the next push sends it again.

Consent: SendGrid Marketing contacts have no subscription status; being in
a list is what gets someone a campaign. Before each push the engine reads
every global and group suppression (`read_consent`) and records them in the
store's consent ledger as opt-outs, so they reach every other destination. So only a contact whose store
consent is `subscribed` and who is in no global or group suppression is
ever upserted; one who was sent before and has since lost consent (or got
suppressed) is taken out of their segment list and forgotten by the push
state, so a later consent puts them back in through a plain `create`. A
suppression is dated when SendGrid made it: one older than the store's
latest opt-in does not take that opt-in away (nor the list membership; SendGrid
itself still sends the address nothing while it is suppressed).
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clientela.destinations.api import (
    Change,
    Done,
    FieldSpec,
    ForgetResult,
    Outcome,
    PushContext,
    RemoteConsent,
    Scalar,
    skip_reason,
)
from clientela.destinations.batching import BatchRejected, chunks, isolate
from clientela.http.client import probe as probe_host
from clientela.privacy import mask_text
from clientela_sendgrid.client import Api, Clock, SendGridError
from clientela_sendgrid.config import SendGridConfig

FIELD_TYPES = {"text": "Text", "number": "Number", "date": "Date"}
SUPPRESSION_PAGE = 500
LIST_PAGE = 1000
FINISHED = frozenset({"completed", "errored", "failed"})
OVERHEAD = 256
"""Bytes of a PUT body besides its contacts (braces, keys, list_ids)."""


def field_value(value: Scalar, kind: str) -> Any:
    """JSON for a custom field. SendGrid's Date fields take MM/DD/YYYY; "" clears a value."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y") if kind == "date" else value.isoformat()
    return value


@dataclass
class _Job:
    job_id: str
    rows: Sequence[Change]


@dataclass
class _Moves:
    """Contacts whose upsert landed (or who only leave a list) and still await a removal."""

    leaving: dict[str, list[Change]] = field(default_factory=dict)
    """previous segment -> changes to take out of its list."""


class SendGridDestination:
    def __init__(self, config: SendGridConfig, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Clock = time.time) -> None:
        self.config = config
        self.api = Api(config, sleep, clock)
        self.sleep = sleep
        self.pool = ThreadPoolExecutor(max_workers=config.max_connections,
                                       thread_name_prefix="sendgrid")
        self._field_ids: dict[str, str] = {}
        self._list_ids: dict[str, str] = {}
        self._suppressed: dict[str, str] | None = None
        self._suppressed_at: dict[str, datetime] = {}
        """Address -> when SendGrid suppressed it (naive UTC), from the last `suppressions`."""

    def probe(self) -> None:
        """For a dry run: the API's host answers (DNS, TCP, TLS), or an error naming it."""
        probe_host("SendGrid", self.api.host)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- plan (reads only) -------------------------------------------------------------

    limitations = (
        "SendGrid Marketing contacts have no subscription status: a contact who lost consent "
        "is taken out of its segment list (and stays a contact); only suppressions stop mail",
    )

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Global unsubscribes created since `since` (500 a page) and the group suppressions
        (one read: that endpoint has no time filter). Once recorded in the store's ledger
        they are the contacts' consent, so `plan` needs no second read."""
        start = int(since.replace(tzinfo=UTC).timestamp()) if since is not None else None
        self._suppressed = self.suppressions(start)
        return [RemoteConsent(email, "suppressed", self._suppressed_at.get(email), reason)
                for email, reason in sorted(self._suppressed.items())]

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        needed = any(c.action not in ("remove", "unsubscribe") for c in changes)
        suppressed = (self._suppressed if self._suppressed is not None else self.suppressions()
                      ) if needed else {}
        self._suppressed = None
        planned: list[Change] = []
        for change in changes:
            if change.action in ("remove", "unsubscribe", "retag"):
                planned.append(change)
                continue
            reason = suppressed.get(change.contact.email.lower())
            if reason is None and change.contact.consent != "subscribed":
                reason = skip_reason(change.contact.consent)
            if reason is None:
                status = "subscribed" if change.action == "create" else None
                planned.append(change.but(status=status))
            elif change.action == "update" and change.previous_segment is not None:
                # sent before, no longer allowed: out of the list, out of the push state
                planned.append(change.but(action="remove", status=None, reason=reason,
                                          contact=replace(change.contact, segment=None)))
            else:
                planned.append(change.but(action="skip", status=None, reason=reason))
        return planned

    def suppressions(self, start_time: int | None = None) -> dict[str, str]:
        """Every globally (since `start_time`, epoch seconds) or group-suppressed address
        (lower-cased) -> why; read in full because a push checks thousands of addresses and a
        page holds 500. When SendGrid says when an address was suppressed, that moment is kept
        in `_suppressed_at`: an unsubscribe older than a newer opt-in in the store must not
        outrank it (dated at the read, it would, and only for this destination)."""
        found: dict[str, str] = {}
        self._suppressed_at = {}
        offset = 0
        while True:
            query: dict[str, Any] = {"limit": SUPPRESSION_PAGE, "offset": offset}
            if start_time is not None:
                query["start_time"] = start_time
            _, page = self.api.call("GET", "suppression/unsubscribes", query=query)
            rows = page if isinstance(page, list) else []
            for row in rows:
                email = str(row.get("email", "")).lower()
                found[email] = "suppressed in SendGrid (global unsubscribe)"
                self._note_when(email, row.get("created"))
            if len(rows) < SUPPRESSION_PAGE:
                break
            offset += SUPPRESSION_PAGE
        groups = self.config.suppression_groups
        if groups is None:
            _, every = self.api.call("GET", "asm/suppressions")
            for row in every if isinstance(every, list) else []:
                email = str(row.get("email", "")).lower()
                if email not in found:
                    found[email] = f"suppressed in SendGrid (unsubscribe group {row.get('group_id')})"
                    self._note_when(email, row.get("created_at"))
        for group in groups or ():
            _, emails = self.api.call("GET", f"asm/groups/{group}/suppressions")
            for email in emails if isinstance(emails, list) else []:
                found.setdefault(str(email).lower(),
                                 f"suppressed in SendGrid (unsubscribe group {group})")
        return found

    def _note_when(self, email: str, epoch: Any) -> None:
        """SendGrid dates suppressions in epoch seconds (UTC); naive UTC like the ledger."""
        if isinstance(epoch, int | float) and not isinstance(epoch, bool) and epoch > 0:
            self._suppressed_at[email] = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)

    # -- prepare (only what is missing) -------------------------------------------------

    def prepare(self, push: PushContext) -> None:
        self._ensure_fields(push.fields)
        self._ensure_lists([self.config.list_name(push.segmentation, s) for s in push.segments])

    def _ensure_fields(self, fields: Sequence[FieldSpec]) -> None:
        _, found = self.api.call("GET", "marketing/field_definitions")
        have = {str(item["name"]): str(item["id"])
                for item in (found or {}).get("custom_fields", []) or []}
        for spec in fields:
            name = self.config.field_name(spec.name)
            if name not in have:
                _, made = self.api.call("POST", "marketing/field_definitions",
                                        body={"name": name, "field_type": FIELD_TYPES[spec.type]})
                have[name] = str(made["id"])
            self._field_ids[spec.name] = have[name]

    def _ensure_lists(self, names: Sequence[str]) -> None:
        self._list_ids = self._all_lists()
        for name in names:
            if name not in self._list_ids:
                _, made = self.api.call("POST", "marketing/lists", body={"name": name})
                self._list_ids[name] = str(made["id"])

    def _all_lists(self) -> dict[str, str]:
        lists: dict[str, str] = {}
        query: dict[str, str | int] = {"page_size": LIST_PAGE}
        while True:
            _, page = self.api.call("GET", "marketing/lists", query=query)
            page = page or {}
            for item in page.get("result", []):
                lists[str(item["name"])] = str(item["id"])
            following = (page.get("_metadata") or {}).get("next")
            token = parse_qs(urlsplit(str(following)).query).get("page_token") if following else None
            if not token:
                return lists
            query = {"page_size": LIST_PAGE, "page_token": token[0]}

    # -- send ----------------------------------------------------------------------------

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        if not self._list_ids:  # send without prepare (a resumed caller): learn the lists
            self._list_ids = self._all_lists()
        moves = _Moves()
        groups: dict[str | None, list[Change]] = {}
        untouched = []
        for change in changes:
            if change.action in ("remove", "unsubscribe"):
                if change.previous_segment is None:
                    untouched.append(Outcome(change.customer_id, True))  # in no list of ours
                else:
                    self._leave(moves, push, change)
            elif change.action in ("create", "update"):
                segment = change.contact.segment
                joins = change.moves and segment is not None
                list_id = self._list_id(push, segment) if segment is not None and joins else None
                groups.setdefault(list_id, []).append(change)
        done(untouched)
        futures = [self.pool.submit(self._upsert, push, list_id, batch)
                   for list_id, rows in groups.items() for batch in self._batches(push, rows)]
        jobs: list[_Job] = []
        for future in as_completed(futures):
            started, failed = future.result()
            jobs.extend(started)
            done(failed)
        for landed in self._await(jobs, done):
            finished = []
            for change in landed:
                if change.moves and change.previous_segment is not None:
                    self._leave(moves, push, change)
                else:
                    finished.append(Outcome(change.customer_id, True))
            done(finished)
        self._remove(push, moves, done)

    def _list_id(self, push: PushContext, segment: str) -> str:
        return self._list_ids[self.config.list_name(push.segmentation, segment)]

    def _leave(self, moves: _Moves, push: PushContext, change: Change) -> None:
        assert change.previous_segment is not None
        moves.leaving.setdefault(change.previous_segment, []).append(change)

    def _batches(self, push: PushContext, rows: Sequence[Change]) -> Iterator[list[Change]]:
        """Cut at `batch_size` contacts and `max_request_bytes`, with one row per e-mail in each
        request (the same address twice in one upsert is ambiguous)."""
        batch: list[Change] = []
        seen: set[str] = set()
        size = OVERHEAD
        later: list[Change] = []
        for change in rows:
            email = change.contact.email.lower()
            if email in seen:
                later.append(change)
                continue
            weight = len(json.dumps(self._contact(push, change))) + 1
            if batch and (len(batch) >= self.config.batch_size
                          or size + weight > self.config.max_request_bytes):
                yield batch
                batch, seen, size = [], set(), OVERHEAD
            batch.append(change)
            seen.add(email)
            size += weight
        if batch:
            yield batch
        if later:
            yield from self._batches(push, later)

    def _contact(self, push: PushContext, change: Change) -> dict[str, Any]:
        custom = {self._field_ids[spec.name]: field_value(change.contact.fields.get(spec.name),
                                                          spec.type)
                  for spec in push.fields if spec.name in self._field_ids}
        return {"email": change.contact.email.lower(), "custom_fields": custom}

    def _upsert(self, push: PushContext, list_id: str | None, batch: Sequence[Change]
                ) -> tuple[list[_Job], list[Outcome]]:
        failed: list[Outcome] = []

        def put(rows: Sequence[Change]) -> str:
            body: dict[str, Any] = {"contacts": [self._contact(push, change) for change in rows]}
            if list_id is not None:
                body["list_ids"] = [list_id]
            try:
                status, answer = self.api.call("PUT", "marketing/contacts", body=body)
            except SendGridError as error:
                if error.status in (400, 413):
                    raise BatchRejected(str(error)) from None
                raise
            job = (answer or {}).get("job_id") if isinstance(answer, dict) else None
            if status != 202 or not job:
                raise BatchRejected(f"SendGrid {status} without a job_id")
            return str(job)

        def rejected(change: Change, error: BatchRejected) -> None:
            failed.append(Outcome(change.customer_id, False, mask_text(str(error))))

        jobs = [_Job(job_id, rows) for rows, job_id in isolate(batch, put, rejected)]
        return jobs, failed

    def _await(self, jobs: list[_Job], done: Done) -> Iterator[list[Change]]:
        """Poll every job to its end; yield the contacts each job really upserted."""
        pending = list(jobs)
        waited = 0.0
        while pending:
            still: list[_Job] = []
            for job in pending:
                _, answer = self.api.call("GET", f"marketing/contacts/imports/{job.job_id}")
                answer = answer if isinstance(answer, dict) else {}
                if str(answer.get("status")) not in FINISHED:
                    still.append(job)
                    continue
                landed, failed = self._settle(job, answer)
                done(failed)
                yield landed
            pending = still
            if pending:
                if waited >= self.config.poll_timeout:
                    for job in pending:
                        done([Outcome(c.customer_id, False, f"SendGrid import job {job.job_id} "
                                      f"still pending after {waited:.0f} s") for c in job.rows])
                    return
                self.sleep(self.config.poll_interval)
                waited += self.config.poll_interval

    def _settle(self, job: _Job, answer: dict[str, Any]) -> tuple[list[Change], list[Outcome]]:
        status = str(answer.get("status"))
        results = answer.get("results") or {}
        errored = int(results.get("errored_count") or 0)
        if status == "failed":
            return [], [Outcome(c.customer_id, False, f"SendGrid import job {job.job_id} failed")
                        for c in job.rows]
        bad: dict[str, str] = {}
        if status == "errored" or errored:
            known = self._job_errors(results.get("errors_url"))
            if known is None or len(known) < errored:
                # errors we cannot pin on contacts: fail the whole job, it is resent next push
                return [], [Outcome(c.customer_id, False, f"SendGrid import job {job.job_id} "
                                    f"reported {errored} errors that could not be read")
                            for c in job.rows]
            bad = known
        accounted = sum(int(results.get(k) or 0) for k in ("created_count", "updated_count",
                                                           "errored_count"))
        if results and accounted != len(job.rows):
            return [], [Outcome(c.customer_id, False, f"SendGrid import job {job.job_id} "
                                f"accounted for {accounted} of {len(job.rows)} contacts")
                        for c in job.rows]
        landed: list[Change] = []
        failed: list[Outcome] = []
        for change in job.rows:
            error = bad.get(change.contact.email.lower())
            if error is None:
                landed.append(change)
            else:
                failed.append(Outcome(change.customer_id, False, mask_text(error)))
        return landed, failed

    def _job_errors(self, url: Any) -> dict[str, str] | None:
        """e-mail -> error from a job's errors file (a CSV on a download host, not the API, so
        plain urllib without the API key), or None when it cannot be read."""
        if not url:
            return None
        try:
            with urllib.request.urlopen(str(url), timeout=self.config.timeout) as response:
                text = response.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
        email_column = next((c for c in columns if c.strip().lower() == "email"), None)
        error_column = next((c for c in columns if "error" in c.strip().lower()), None)
        if email_column is None:
            return None
        return {str(row[email_column]).strip().lower():
                str(row.get(error_column or "", "") or "rejected by the import job")
                for row in reader if row.get(email_column)}

    def _remove(self, push: PushContext, moves: _Moves, done: Done) -> None:
        leaving = [c for rows in moves.leaving.values() for c in rows]
        if not leaving:
            return
        ids = self.contact_ids([c.contact.email for c in leaving])
        calls: list[Future[tuple[list[Change], str | None]]] = []
        finished: list[Outcome] = []
        for segment, rows in sorted(moves.leaving.items()):
            list_id = self._list_ids.get(self.config.list_name(push.segmentation, segment))
            present = [c for c in rows if c.contact.email.lower() in ids]
            # no such list or no such contact: nothing holds them, the removal is done
            finished += [Outcome(c.customer_id, True) for c in rows
                         if list_id is None or c.contact.email.lower() not in ids]
            if list_id is None:
                continue
            for batch in chunks(present, self.config.remove_size):
                calls.append(self.pool.submit(self._remove_call, list_id, batch, ids))
        done(finished)
        for future in as_completed(calls):
            batch, error = future.result()
            done([Outcome(c.customer_id, error is None, error) for c in batch])

    def _remove_call(self, list_id: str, batch: Sequence[Change], ids: dict[str, str]
                     ) -> tuple[list[Change], str | None]:
        joined = ",".join(ids[c.contact.email.lower()] for c in batch)
        try:
            self.api.call("DELETE", f"marketing/lists/{list_id}/contacts",
                          query={"contact_ids": joined})
        except SendGridError as error:
            return list(batch), mask_text(str(error))
        return list(batch), None

    def contact_ids(self, emails: Sequence[str]) -> dict[str, str]:
        """Lower-cased e-mail -> contact id for the addresses SendGrid holds (100 per read)."""
        wanted = sorted({email.lower() for email in emails})
        found: dict[str, str] = {}
        for part in self.pool.map(self._search, list(chunks(wanted, self.config.lookup_size))):
            found.update(part)
        return found

    def _search(self, emails: Sequence[str]) -> dict[str, str]:
        try:
            _, answer = self.api.call("POST", "marketing/contacts/search/emails",
                                      body={"emails": list(emails)})
        except SendGridError as error:
            if error.status == 404:  # none of them is a contact
                return {}
            raise
        result = (answer or {}).get("result") or {}
        return {str(email).lower(): str(entry["contact"]["id"]) for email, entry in result.items()
                if isinstance(entry, dict) and isinstance(entry.get("contact"), dict)}

    # -- forget ----------------------------------------------------------------------------

    def forget(self, email: str) -> ForgetResult:
        ids = self.contact_ids([email])
        if not ids:
            return ForgetResult("absent", "not a Marketing Campaigns contact")
        _, answer = self.api.call("DELETE", "marketing/contacts",
                                  query={"ids": ",".join(sorted(ids.values()))})
        job = (answer or {}).get("job_id") if isinstance(answer, dict) else None
        return ForgetResult("deleted", f"contact deleted (DELETE /v3/marketing/contacts, job {job})")


def open_destination(config: SendGridConfig) -> SendGridDestination:
    return SendGridDestination(config)


def floor(adds: dict[str, int], nolist: int, removes: dict[str, int], *,
          batch: int = 30_000, remove_size: int = 100) -> int:
    """The minimum write calls the API's batch limits allow, for the benchmark and the tests."""
    return (sum(math.ceil(n / batch) for n in adds.values()) + math.ceil(nolist / batch)
            + sum(math.ceil(n / remove_size) for n in removes.values()))
