"""A fake Mailchimp Marketing API (3.0) on 127.0.0.1, strict where Mailchimp is.

Built on the connectors' `FakeServer` (lifecycle, fault injection, call log)
with a handler that also reads request bodies and serves PUT/PATCH/DELETE.
It enforces what the push relies on and what peers get wrong:

* batch subscribe (`POST /lists/{id}`) refuses more than 500 members with a
  400 problem document; answers 200 with per-row `errors`; a member sent
  without `status` keeps theirs, a new one needs one; re-subscribing an
  unsubscribed, cleaned or compliance-review member is a row error (batch)
  or 400 "Member In Compliance State" (single PUT/POST);
* static segments take at most 500 adds and 500 removes per call;
* more than 10 requests in flight get 429, as do injected storms (JSON
  problem body, or none at all, with Retry-After);
* merge fields must exist and numbers must be numbers (else 400 for the
  whole request, which is what the client's batch splitting is for);
* `DELETE` of a member archives; `actions/delete-permanent` erases;
* a status-less batch upsert of an address that is not a member (never was,
  deleted, or archived) creates it `subscribed`, as Mailchimp does;
* members carry `last_changed`; the member list filters by `status` and
  `since_last_changed`; a segment's member list leaves out unsubscribed and
  cleaned members unless asked (`include_unsubscribed`, `include_cleaned`);
* `after` (a callable) sees every request once it is applied: the
  reliability tests use it to SIGKILL a push at a chosen call.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clientela.testing.fake_server import FakeServer, Reply, Request

MAX_BATCH = 500
MAX_CONNECTIONS = 10
COMPLIANCE = frozenset({"unsubscribed", "cleaned"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def problem(status: int, title: str, detail: str, **extra: Any) -> Reply:
    return Reply(status, {"type": "https://mailchimp.com/developer/marketing/docs/errors/",
                          "title": title, "status": status, "detail": detail,
                          "instance": "00000000-0000-0000-0000-000000000000", **extra},
                 content_type="application/problem+json; charset=utf-8")


class Clock:
    """Mailchimp's `last_changed`: real time, but strictly increasing per change."""

    def __init__(self) -> None:
        self.last = datetime(2000, 1, 1, tzinfo=UTC)

    def tick(self) -> datetime:
        now = datetime.now(UTC)
        self.last = max(now, self.last + timedelta(microseconds=1))
        return self.last


CLOCK = Clock()


@dataclass
class Member:
    email: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    compliance_review: bool = False
    last_changed: datetime = field(default_factory=CLOCK.tick)

    def set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self.last_changed = CLOCK.tick()


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int


class FakeMailchimp(FakeServer):
    api_prefix = "/3.0"
    max_connections = MAX_CONNECTIONS

    def __init__(self, list_id: str = "list0001", api_key: str = "0123456789abcdef-us21") -> None:
        super().__init__()
        self.list_id = list_id
        self.api_key = api_key
        self.members: dict[str, Member] = {}
        self.merge_fields: dict[str, dict[str, Any]] = {}
        self.segments: dict[int, dict[str, Any]] = {}
        self.tags: dict[int, set[str]] = {}
        self.calls: list[Call] = []
        self.poisoned: set[str] = set()
        """Addresses refused inside a 200 batch answer (ERROR_GENERIC)."""
        self.batch_killers: set[str] = set()
        """Addresses whose presence makes Mailchimp refuse the whole request (400)."""
        self.empty_429s = 0
        """The next throttles come with no body at all (Mailchimp at high volume)."""
        self.concurrency_rejections = 0
        self.hold: threading.Event | None = None
        """When set, batch subscribes wait on it (to pile up concurrent requests)."""
        self.after: Callable[[Request, Reply | None], None] | None = None
        """Called with each request once it is applied, before the answer is sent."""
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeMailchimp:
        return self.start()

    # -- test helpers -----------------------------------------------------------------

    def add_member(self, email: str, status: str, *, compliance_review: bool = False,
                   **merge: Any) -> None:
        self.members[md5(email)] = Member(email.lower(), status, dict(merge), compliance_review)

    def member(self, email: str) -> Member | None:
        return self.members.get(md5(email))

    def unsubscribe(self, email: str, status: str = "unsubscribed") -> None:
        """What a person clicking "unsubscribe" (or a bounce: `cleaned`) does."""
        member = self.members[md5(email)]
        member.set_status(status)

    def delete_permanently(self, email: str) -> None:
        digest = md5(email)
        self.members.pop(digest, None)
        for who in self.tags.values():
            who.discard(digest)

    def snapshot(self) -> dict[str, tuple[str, tuple[tuple[str, Any], ...], frozenset[str]]]:
        """email -> (status, merge fields, tags): what two runs are compared on."""
        return {m.email: (m.status, tuple(sorted(m.merge_fields.items())),
                          frozenset(self.tags_of(m.email))) for m in self.members.values()}

    def tags_of(self, email: str) -> set[str]:
        digest = md5(email)
        return {self.segments[sid]["name"] for sid, who in self.tags.items() if digest in who}

    def segment_members(self, name: str) -> set[str]:
        for sid, seg in self.segments.items():
            if seg["name"] == name:
                return {self.members[d].email for d in self.tags[sid] if d in self.members}
        return set()

    def writes(self, path_suffix: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method in WRITES and c.status < 500
                    and (path_suffix is None or re.search(path_suffix, c.path))]

    def write_count(self) -> int:
        return len(self.writes())

    def upsert_calls(self) -> list[Call]:
        return [c for c in self.writes() if c.path == f"/3.0/lists/{self.list_id}"
                and c.status == 200]

    def tag_calls(self) -> list[Call]:
        return [c for c in self.writes() if re.fullmatch(
            rf"/3.0/lists/{self.list_id}/segments/\d+", c.path) and c.status == 200]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()

    # -- faults -----------------------------------------------------------------------------

    def throttled(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if self.empty_429s > 0:
            self.empty_429s -= 1
            return Reply(429, b"", headers, content_type="text/html")
        reply = problem(429, "Too Many Requests",
                        "You have exceeded the limit of 10 simultaneous connections.")
        reply.headers.update(headers)
        return reply

    def too_many_connections(self, request: Request) -> Reply:
        with self.lock:
            self.concurrency_rejections += 1
            self.log_call(request, 429)
        return problem(429, "Too Many Requests",
                       "You have exceeded the limit of 10 simultaneous connections.")

    def log_call(self, request: Request, status: int) -> None:
        self.calls.append(Call(request.method, request.path, request.body,
                               status))

    def dispatch(self, request: Request) -> Reply | None:
        if self.hold is not None and request.method == "POST" \
                and request.path == f"/3.0/lists/{self.list_id}":
            self.hold.wait(5)
        reply = super().dispatch(request)
        with self.lock:
            self.log_call(request, reply.status if reply is not None else 0)
        if self.after is not None:
            self.after(request, reply)
        return reply

    # -- routes ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        auth = request.header("Authorization") or ""
        if not (auth.startswith("Basic ") or auth == f"Bearer {self.api_key}"):
            return problem(401, "API Key Invalid", "Your API key may be invalid.")
        base = f"/3.0/lists/{self.list_id}"
        path, method = request.path.rstrip("/"), request.method
        body = request.body
        if not path.startswith(base):
            return problem(404, "Resource Not Found", "The requested resource could not be found.")
        rest = path[len(base):]
        if rest == "" and method == "POST":
            return self.batch_subscribe(body)
        if rest == "/merge-fields":
            return self.list_merge_fields(request) if method == "GET" else self.add_merge_field(body)
        if rest == "/segments":
            return self.list_segments(request) if method == "GET" else self.create_segment(body)
        if (m := re.fullmatch(r"/segments/(\d+)", rest)) and method == "POST":
            return self.batch_segment(int(m.group(1)), body)
        if rest == "/members" and method == "GET":
            return self.list_members(request)
        if (m := re.fullmatch(r"/segments/(\d+)/members", rest)) and method == "GET":
            return self.segment_member_list(int(m.group(1)), request)
        if m := re.fullmatch(r"/members/([0-9a-f]{32})", rest):
            return self.single_member(method, m.group(1), body)
        if (m := re.fullmatch(r"/members/([0-9a-f]{32})/actions/delete-permanent", rest)) \
                and method == "POST":
            if self.members.pop(m.group(1), None) is None:
                return problem(404, "Resource Not Found", "The requested resource could not "
                               "be found.")
            for who in self.tags.values():
                who.discard(m.group(1))
            return Reply(204, None)
        return problem(405, "Method Not Allowed", "The requested method and resource are not "
                       "compatible.")

    def _paged(self, request: Request, items: list[Any]) -> tuple[list[Any], int]:
        count = min(int(request.query.get("count", 10)), 1000)
        offset = int(request.query.get("offset", 0))
        return items[offset:offset + count], len(items)

    def list_merge_fields(self, request: Request) -> Reply:
        page, total = self._paged(request, list(self.merge_fields.values()))
        return Reply(200, {"merge_fields": page, "total_items": total})

    def add_merge_field(self, body: Any) -> Reply:
        tag = str(body.get("tag", ""))
        if tag in self.merge_fields:
            return problem(400, "Invalid Resource", f"A Merge Field with the tag \"{tag}\" "
                           "already exists for this list.")
        if body.get("type") not in ("text", "number", "date", "address", "phone", "url"):
            return problem(400, "Invalid Resource", "The resource submitted could not be "
                           "validated.", errors=[{"field": "type", "message": "bad type"}])
        self.merge_fields[tag] = {"merge_id": len(self.merge_fields) + 1, "tag": tag,
                                  "name": body.get("name"), "type": body["type"]}
        return Reply(200, self.merge_fields[tag])

    def list_segments(self, request: Request) -> Reply:
        items = [dict(seg, member_count=len(self.tags[sid])) for sid, seg in self.segments.items()
                 if request.query.get("type") in (None, seg["type"])]
        page, total = self._paged(request, items)
        return Reply(200, {"segments": page, "total_items": total})

    def create_segment(self, body: Any) -> Reply:
        sid = next(self._ids)
        self.segments[sid] = {"id": sid, "name": body["name"], "type": "static"}
        self.tags[sid] = set()
        for email in body.get("static_segment", []):
            if md5(email) in self.members:
                self.tags[sid].add(md5(email))
        return Reply(200, dict(self.segments[sid], member_count=len(self.tags[sid])))

    def batch_segment(self, sid: int, body: Any) -> Reply:
        if sid not in self.segments:
            return problem(404, "Resource Not Found", "The requested segment was not found.")
        adds, removes = body.get("members_to_add", []), body.get("members_to_remove", [])
        if len(adds) > MAX_BATCH or len(removes) > MAX_BATCH:
            return problem(400, "Invalid Resource", f"You can only add or remove up to "
                           f"{MAX_BATCH} members at a time.")
        added, removed, missing = [], [], []
        for email in adds:
            digest = md5(email)
            member = self.members.get(digest)
            if member is None or member.status == "archived":
                missing.append(email)
            else:
                self.tags[sid].add(digest)
                added.append({"email_address": member.email, "status": member.status})
        for email in removes:
            digest = md5(email)
            if digest in self.tags[sid]:
                self.tags[sid].discard(digest)
                removed.append({"email_address": email})
        errors = ([{"email_addresses": missing, "error": "Email addresses are not list members"}]
                  if missing else [])
        return Reply(200, {"members_added": added, "members_removed": removed, "errors": errors,
                           "total_added": len(added), "total_removed": len(removed),
                           "error_count": len(missing)})

    def list_members(self, request: Request) -> Reply:
        status = request.query.get("status")
        since = request.query.get("since_last_changed")
        after = datetime.fromisoformat(since) if since else None
        # Mailchimp states `last_changed` in whole seconds ("2015-09-15T14:31:54+00:00"), and
        # filters `since_last_changed` at that precision.
        items = [{"email_address": m.email, "status": m.status, "id": d,
                  "last_changed": m.last_changed.replace(microsecond=0).isoformat()}
                 for d, m in sorted(self.members.items())
                 if (status is None or m.status == status)
                 and (after is None or m.last_changed.replace(microsecond=0) >= after)]
        page, total = self._paged(request, items)
        return Reply(200, {"members": page, "total_items": total})

    def segment_member_list(self, sid: int, request: Request) -> Reply:
        if sid not in self.segments:
            return problem(404, "Resource Not Found", "The requested segment was not found.")
        hidden = set()
        if request.query.get("include_unsubscribed", "false").lower() != "true":
            hidden.add("unsubscribed")
        if request.query.get("include_cleaned", "false").lower() != "true":
            hidden.add("cleaned")
        items = [{"email_address": self.members[d].email, "status": self.members[d].status}
                 for d in sorted(self.tags[sid])
                 if d in self.members and self.members[d].status not in hidden]
        page, total = self._paged(request, items)
        return Reply(200, {"members": page, "total_items": total})

    def _invalid_merge(self, merge: Any) -> str | None:
        if not isinstance(merge, dict):
            return "merge_fields must be an object"
        for tag, value in merge.items():
            spec = self.merge_fields.get(tag)
            if spec is None:
                return f"Your merge fields were invalid: {tag} is not a merge field"
            if spec["type"] == "number" and value != "" and \
                    (isinstance(value, bool) or not isinstance(value, int | float)):
                return f"Your merge fields were invalid: {tag} must be a number"
        return None

    def single_member(self, method: str, digest: str, body: Any) -> Reply:
        member = self.members.get(digest)
        if method == "GET":
            if member is None:
                return problem(404, "Resource Not Found", "The requested resource could not be "
                               "found.")
            return Reply(200, {"email_address": member.email, "status": member.status,
                               "merge_fields": member.merge_fields})
        if method == "DELETE":
            if member is None or member.status == "archived":
                return problem(405, "Method Not Allowed", "This list member cannot be removed.")
            member.set_status("archived")
            return Reply(204, None)
        if method in ("PUT", "PATCH"):
            status = body.get("status") or (body.get("status_if_new") if member is None else None)
            if member is not None and status in ("subscribed", "pending") and \
                    (member.status in COMPLIANCE or member.compliance_review):
                return problem(400, "Member In Compliance State",
                               f"{member.email} is in a compliance state due to unsubscribe, "
                               "bounce, or compliance review and cannot be subscribed.")
            if member is None:
                if status is None:
                    return problem(400, "Invalid Resource", "The resource submitted could not "
                                   "be validated.", errors=[{"field": "status",
                                                             "message": "required"}])
                member = Member(str(body["email_address"]).lower(), status)
                self.members[digest] = member
            elif status is not None:
                member.set_status(status)
            member.merge_fields.update(body.get("merge_fields", {}))
            return Reply(200, {"email_address": member.email, "status": member.status})
        return problem(405, "Method Not Allowed", "Not supported by this fake.")

    def batch_subscribe(self, body: Any) -> Reply:
        members = body.get("members", []) if isinstance(body, dict) else []
        if len(members) > MAX_BATCH:
            return problem(400, "Invalid Resource", "The resource submitted could not be "
                           "validated. For field-specific details, see the 'errors' array.",
                           errors=[{"field": "members", "message": f"Schema describes array, "
                                    f"maximum {MAX_BATCH} items"}])
        for entry in members:
            invalid = self._invalid_merge(entry.get("merge_fields", {}))
            if invalid or str(entry.get("email_address", "")).lower() in self.batch_killers:
                return problem(400, "Invalid Resource", "The resource submitted could not be "
                               "validated.", errors=[{"field": "members.item:merge_fields",
                                                      "message": invalid or "bad data"}])
        update = bool(body.get("update_existing"))
        new, updated, errors = [], [], []
        for entry in members:
            email = str(entry.get("email_address", "")).lower()
            digest = md5(email)
            member = self.members.get(digest)
            status = entry.get("status")

            def fail(message: str, code: str = "ERROR_GENERIC", email: str = email) -> None:
                errors.append({"email_address": email, "error": message, "error_code": code})

            if email in self.poisoned:
                fail(f"{email} looks fake or invalid, please enter a real email address.")
                continue
            if member is not None and member.status != "archived":
                if not update:
                    fail(f"{email} is already a list member.", "ERROR_CONTACT_EXISTS")
                    continue
                if status in ("subscribed", "pending") and \
                        (member.status in COMPLIANCE or member.compliance_review):
                    fail(f"{email} is in a compliance state due to unsubscribe, bounce, or "
                         "compliance review and cannot be subscribed.")
                    continue
                if status is not None:
                    member.set_status(status)
                merge = entry.get("merge_fields", {})
                if any(member.merge_fields.get(k) != v for k, v in merge.items()):
                    member.last_changed = CLOCK.tick()
                member.merge_fields.update(merge)
                updated.append({"email_address": email, "status": member.status})
            else:
                # Mailchimp creates a member sent without a status as `subscribed`
                status = status or "subscribed"
                if status not in ("subscribed", "pending", "unsubscribed", "cleaned",
                                  "transactional"):
                    fail(f"{email}: the status {status!r} is not valid.")
                    continue
                self.members[digest] = Member(email, status, dict(entry.get("merge_fields", {})))
                new.append({"email_address": email, "status": status})
        return Reply(200, {"new_members": new, "updated_members": updated, "errors": errors,
                           "total_created": len(new), "total_updated": len(updated),
                           "error_count": len(errors)})
