"""Mailchimp as a clientela destination: members by batch subscribe, segments as tags.

Consent: before each push the engine reads the members that became
unsubscribed, cleaned or archived since the last read (one read per status
with `since_last_changed`, 1000 per page) and records them in the store's
ledger. `plan` looks up the
status of every contact it is about to write (one GET each below 40,
otherwise the audience paged by 1000), because a status-less batch upsert
of a member Mailchimp no longer holds re-creates it `subscribed`. A member
whose consent the store lost is sent `status: unsubscribed` in the same
batch subscribe (or archived, by option) and untagged; a new member always
gets an explicit status. After an interrupted run, `holdings` reads every
tag's members so the engine can repair them.

Call budget for N changed contacts (the floor the API's batch limits allow): ⌈N/500⌉ batch
subscribes, then, per segment s, ⌈max(adds_s, removes_s)/500⌉ static-segment
calls, because a segment call carries 500 adds *and* 500 removes. That is
why tags are sent after all upserts, grouped by segment across the whole
push rather than per batch, and why a contact that moves is committed only
when its last tag call has answered (a crash in between resends its upsert,
which is idempotent, and its tag calls).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from clientela.destinations.api import (
    Change,
    Done,
    FieldSpec,
    ForgetResult,
    Outcome,
    PushContext,
    RemoteConsent,
    Scalar,
    plan_by_status,
)
from clientela.destinations.batching import BatchRejected, chunks, isolate
from clientela.http.client import probe as probe_host
from clientela.privacy import mask_text
from clientela_mailchimp.client import Api, MailchimpError, subscriber_hash
from clientela_mailchimp.config import MailchimpConfig

PAGE = 1000
"""Mailchimp's largest `count` for list reads."""
LOOKUP_ONE_BY_ONE = 40
"""Below this many unknown contacts, look each up; above, page through the audience."""
MERGE_TYPES = {"text": "text", "number": "number", "date": "date"}
ABSENT_STATUSES = frozenset({"archived"})
"""An archived member is re-added like a new one (with a status), never updated blind."""
LOOKED_UP = frozenset({"create", "update", "unsubscribe"})
OPT_OUT_STATUSES = ("unsubscribed", "cleaned", "archived")


def merge_value(value: Scalar) -> Any:
    """JSON for a merge field; "" clears a field whose value went away."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class _Tagging:
    """Tag work left for contacts whose upsert landed, and how many calls each still awaits."""

    adds: dict[str, list[Change]] = field(default_factory=dict)
    removes: dict[str, list[Change]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    def add(self, change: Change) -> None:
        for segment in change.tags_to_add:
            self.adds.setdefault(segment, []).append(change)
        for segment in change.tags_to_remove:
            self.removes.setdefault(segment, []).append(change)
        self.pending[change.customer_id] = len(change.tags_to_add) + len(change.tags_to_remove)


class MailchimpDestination:
    def __init__(self, config: MailchimpConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.api = Api(config, sleep)
        self.pool = ThreadPoolExecutor(max_workers=config.max_connections,
                                       thread_name_prefix="mailchimp")
        self._segment_ids: dict[str, int] = {}

    def probe(self) -> None:
        """For a dry run: the API's host answers (DNS, TCP, TLS), or an error naming it."""
        probe_host("Mailchimp", self.api.host)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # -- plan (reads only) -------------------------------------------------------------

    def plan(self, push: PushContext, changes: Sequence[Change]) -> list[Change]:
        wanted = [change.contact.email for change in changes if change.action in LOOKED_UP]
        statuses = self.statuses(wanted) if wanted else {}
        return plan_by_status(
            changes, lambda change: statuses.get(subscriber_hash(change.contact.email)),
            double_opt_in=self.config.double_opt_in, unsubscribe_as=self.config.unsubscribe_as)

    def existing(self, emails: Sequence[str]) -> set[str]:
        """Subscriber hashes of these addresses that are members (any status but archived)."""
        return {digest for digest, status in self.statuses(emails).items()
                if status not in ABSENT_STATUSES}

    def statuses(self, emails: Sequence[str]) -> dict[str, str]:
        """Subscriber hash -> Mailchimp status, for those of these addresses that exist."""
        wanted = sorted({subscriber_hash(email) for email in emails})
        if len(wanted) <= LOOKUP_ONE_BY_ONE:
            found = self.pool.map(self._member_status, wanted)
            return {digest: status for digest, status in zip(wanted, found, strict=True)
                    if status is not None}
        everyone = self._all_members()
        return {digest: everyone[digest] for digest in wanted if digest in everyone}

    def _member_status(self, digest: str) -> str | None:
        try:
            member = self.api.call(self.api.lists.get_list_member, self.api.list_id, digest,
                                   fields=["status"])
        except MailchimpError as error:
            if error.status == 404:
                return None
            raise
        return str(member.get("status"))

    def _all_members(self, **filters: Any) -> dict[str, str]:
        """Subscriber hash -> status of every member (matching `filters`), 1000 a page."""
        return {subscriber_hash(member["email_address"]): str(member.get("status"))
                for member in self._members(**filters)}

    def _members(self, **filters: Any) -> list[dict[str, Any]]:
        fields = ["members.email_address", "members.status", "members.last_changed",
                  "total_items"]

        def page(offset: int) -> dict[str, Any]:
            result: dict[str, Any] = self.api.call(self.api.lists.get_list_members_info,
                                                   self.api.list_id, count=PAGE, offset=offset,
                                                   fields=fields, **filters)
            return result

        first = page(0)
        pages = [first, *self.pool.map(page, range(PAGE, int(first.get("total_items", 0)), PAGE))]
        return [member for result in pages for member in result.get("members", [])]

    # -- consent and memberships (reads only) -----------------------------------------------

    def read_consent(self, since: datetime | None) -> list[RemoteConsent]:
        """Members that became unsubscribed, cleaned or archived since `since` (all when
        None): one filtered read per status, 1000 a page, so a push's own updates are not
        read back. With double opt-in, subscribed members too (the engine keeps only
        confirmations of its own invitations)."""
        filters = {"since_last_changed": since.strftime("%Y-%m-%dT%H:%M:%S+00:00")} if since else {}
        statuses = [*OPT_OUT_STATUSES, *(("subscribed",) if self.config.double_opt_in else ())]
        found = []
        for status in statuses:
            for member in self._members(status=status, **filters):
                found.append(RemoteConsent(str(member["email_address"]).lower(), status,
                                           _parse_time(member.get("last_changed")),
                                           "Mailchimp member status"))
        return found

    def holdings(self, push: PushContext) -> dict[str, set[str]]:
        """E-mail -> segments of this segmentation whose tag the member carries."""
        found = self.api.call(self.api.lists.list_segments, self.api.list_id, type="static",
                              count=PAGE, fields=["segments.id", "segments.name", "total_items"])
        ids = {item["name"]: int(item["id"]) for item in found.get("segments", [])}
        held: dict[str, set[str]] = {}
        for segment in push.segments:
            segment_id = ids.get(self.config.tag(push.segmentation, segment))
            if segment_id is None:
                continue
            for email in self._segment_members(segment_id):
                held.setdefault(email, set()).add(segment)
        return held

    def _segment_members(self, segment_id: int) -> list[str]:
        def page(offset: int) -> dict[str, Any]:
            result: dict[str, Any] = self.api.call(
                self.api.lists.get_segment_members_list, self.api.list_id, str(segment_id),
                count=PAGE, offset=offset, fields=["members.email_address", "total_items"],
                include_cleaned=True, include_unsubscribed=True, include_transactional=True)
            return result

        first = page(0)
        pages = [first, *self.pool.map(page, range(PAGE, int(first.get("total_items", 0)), PAGE))]
        return [str(m["email_address"]).lower() for result in pages
                for m in result.get("members", [])]

    # -- prepare (only what is missing) -------------------------------------------------

    def prepare(self, push: PushContext) -> None:
        self._ensure_merge_fields(push.fields)
        self._ensure_segments([self.config.tag(push.segmentation, s) for s in push.segments])

    def _ensure_merge_fields(self, fields: Sequence[FieldSpec]) -> None:
        found = self.api.call(self.api.lists.get_list_merge_fields, self.api.list_id, count=PAGE)
        have = {item["tag"] for item in found.get("merge_fields", [])}
        for spec in fields:
            tag = self.config.merge_tags.get(spec.name)
            if tag is None or tag in have:
                continue
            self.api.call(self.api.lists.add_list_merge_field, self.api.list_id,
                          {"tag": tag, "name": spec.label, "type": MERGE_TYPES[spec.type],
                           "public": False})

    def _ensure_segments(self, names: Sequence[str]) -> None:
        found = self.api.call(self.api.lists.list_segments, self.api.list_id, type="static",
                              count=PAGE, fields=["segments.id", "segments.name", "total_items"])
        self._segment_ids = {item["name"]: int(item["id"]) for item in found.get("segments", [])}
        for name in names:
            if name not in self._segment_ids:
                made = self.api.call(self.api.lists.create_segment, self.api.list_id,
                                     {"name": name, "static_segment": []})
                self._segment_ids[name] = int(made["id"])

    # -- send ----------------------------------------------------------------------------

    def send(self, push: PushContext, changes: Sequence[Change], done: Done) -> None:
        tagging = _Tagging()
        upserts = [c for c in changes if c.action in ("create", "update")
                   or (c.action == "unsubscribe" and c.status == "unsubscribed")]
        archives = [c for c in changes if c.action == "unsubscribe" and c.status == "archived"]
        untouched = []
        for change in changes:
            if change.action in ("remove", "retag") or \
                    (change.action == "unsubscribe" and change.status is None):
                if change.moves:
                    tagging.add(change)
                else:
                    untouched.append(Outcome(change.customer_id, True))
        done(untouched)
        futures = [self.pool.submit(self._upsert, push, batch)
                   for batch in chunks(upserts, self.config.batch_size)]
        futures += [self.pool.submit(self._archive, change) for change in archives]
        for future in as_completed(futures):
            landed, failed = future.result()
            done(failed)
            still = []
            for change in landed:
                if change.moves:
                    tagging.add(change)
                else:
                    still.append(Outcome(change.customer_id, True))
            done(still)
        self._tag(push, tagging, done)

    def _upsert(self, push: PushContext, batch: Sequence[Change]) -> tuple[list[Change], list[Outcome]]:
        failed: list[Outcome] = []

        def send(rows: Sequence[Change]) -> dict[str, Any]:
            body = {"members": [self._member(push, change) for change in rows],
                    "update_existing": True}
            try:
                result: dict[str, Any] = self.api.call(self.api.lists.batch_list_members,
                                                       self.api.list_id, body)
            except MailchimpError as error:
                if error.status == 400:
                    raise BatchRejected(str(error)) from None
                raise
            return result

        def rejected(change: Change, error: BatchRejected) -> None:
            failed.append(Outcome(change.customer_id, False, str(error)))

        landed: list[Change] = []
        for rows, answer in isolate(batch, send, rejected):
            errors = {str(e.get("email_address", "")).lower(): e for e in answer.get("errors", [])}
            for change in rows:
                error = errors.get(change.contact.email.lower())
                if error is None:
                    landed.append(change)
                    continue
                text = mask_text(f"{error.get('error_code', 'ERROR')}: {error.get('error', '')}")
                gone = change.action == "update" and "status" in text.lower()
                failed.append(Outcome(change.customer_id, False, text, resend_as_new=gone))
        return landed, failed

    def _archive(self, change: Change) -> tuple[list[Change], list[Outcome]]:
        """DELETE archives (the member keeps its history, receives nothing)."""
        try:
            self.api.call(self.api.lists.delete_list_member, self.api.list_id,
                          subscriber_hash(change.contact.email))
        except MailchimpError as error:
            if error.status not in (404, 405):  # 405: already archived, or bounced
                return [], [Outcome(change.customer_id, False, str(error))]
        return [change], []

    def _member(self, push: PushContext, change: Change) -> dict[str, Any]:
        if change.action == "unsubscribe":
            return {"email_address": change.contact.email, "status": "unsubscribed"}
        merge = {}
        for spec in push.fields:
            tag = self.config.merge_tags.get(spec.name)
            if tag is not None:
                merge[tag] = merge_value(change.contact.fields.get(spec.name))
        member: dict[str, Any] = {"email_address": change.contact.email, "merge_fields": merge}
        if change.action == "create" and change.status is not None:
            member["status"] = change.status  # new members only: existing ones keep theirs
        return member

    def _tag(self, push: PushContext, tagging: _Tagging, done: Done) -> None:
        size = self.config.batch_size
        calls: list[Future[list[tuple[Change, bool, str | None]]]] = []
        for segment in sorted(set(tagging.adds) | set(tagging.removes)):
            adds = tagging.adds.get(segment, [])
            removes = tagging.removes.get(segment, [])
            segment_id = self._segment_ids[self.config.tag(push.segmentation, segment)]
            for index in range(math.ceil(max(len(adds), len(removes)) / size)):
                work = ([(c, True) for c in adds[index * size:(index + 1) * size]]
                        + [(c, False) for c in removes[index * size:(index + 1) * size]])
                calls.append(self.pool.submit(self._segment_call, segment_id, work))
        for future in as_completed(calls):
            finished: list[Outcome] = []
            for change, ok, error in future.result():
                cid = change.customer_id
                if not ok and cid not in tagging.failed:
                    tagging.failed.add(cid)
                    finished.append(Outcome(cid, False, error))
                tagging.pending[cid] -= 1
                if tagging.pending[cid] == 0 and cid not in tagging.failed:
                    finished.append(Outcome(cid, True))
            done(finished)

    def _segment_call(self, segment_id: int, work: Sequence[tuple[Change, bool]]
                      ) -> list[tuple[Change, bool, str | None]]:
        results: list[tuple[Change, bool, str | None]] = []

        def send(items: Sequence[tuple[Change, bool]]) -> dict[str, Any]:
            body = {"members_to_add": [c.contact.email for c, add in items if add],
                    "members_to_remove": [c.contact.email for c, add in items if not add]}
            try:
                answer: dict[str, Any] = self.api.call(self.api.lists.batch_segment_members,
                                                       body, self.api.list_id, segment_id)
            except MailchimpError as error:
                if error.status == 400:
                    raise BatchRejected(str(error)) from None
                raise
            return answer

        def rejected(item: tuple[Change, bool], error: BatchRejected) -> None:
            results.append((item[0], False, str(error)))

        for items, answer in isolate(work, send, rejected):
            bad: dict[str, str] = {}
            for entry in answer.get("errors", []):
                for email in entry.get("email_addresses", []):
                    bad[str(email).lower()] = mask_text(str(entry.get("error", "")))
            for change, add in items:
                error = bad.get(change.contact.email.lower())
                # a removal that fails finds no member to untag: nothing holds the old tag
                results.append((change, error is None or not add, None if not add else error))
        return results

    # -- forget ----------------------------------------------------------------------------

    def forget(self, email: str) -> ForgetResult:
        try:
            self.api.call(self.api.lists.delete_list_member_permanent, self.api.list_id,
                          subscriber_hash(email))
        except MailchimpError as error:
            if error.status == 404:
                return ForgetResult("absent", "not a member of the audience")
            raise
        return ForgetResult("deleted", "permanently deleted (actions/delete-permanent)")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def open_destination(config: MailchimpConfig) -> MailchimpDestination:
    return MailchimpDestination(config)
