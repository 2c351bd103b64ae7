"""A fake SendGrid v3 API (Marketing Campaigns + suppressions) on 127.0.0.1, strict where SendGrid is.

Built on the connectors' `FakeServer` (lifecycle, fault injection, call
log) with the Mailchimp fake's body-reading handler. It enforces what the
push relies on and what peers get wrong:

* `PUT /v3/marketing/contacts` refuses more than 30,000 contacts (400) or a
  body over 6 MB (413), with SendGrid's `{"errors": [...]}` body; custom
  fields must be sent by id (names give "invalid custom field ids
  supplied"); list ids must exist;
* the upsert answers 202 with a `job_id` and changes nothing yet: the job
  stays `pending` for `job_latency` polls of
  `GET /v3/marketing/contacts/imports/{id}`, then applies and ends
  `completed`, `errored` (some contacts refused, listed in a CSV at
  `results.errors_url`) or `failed` (nothing applied);
* `POST /v3/marketing/contacts/search/emails` takes at most 100 addresses
  and answers 404 when none is a contact; list removal takes contact ids;
* global and group suppressions are served, and an upsert that carries a
  suppressed address is recorded in `violations` (SendGrid itself would
  accept it silently, which is why the client must check);
* a 429 storm answers `{"errors":[{"field":null,"message":"too many
  requests"}]}` with `X-RateLimit-*` headers; every answer carries them.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from clientela.testing.fake_server import FakeServer, Reply, Request

MAX_CONTACTS = 30_000
MAX_BYTES = 6_000_000
MAX_SEARCH = 100
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_POSTS = ("/v3/marketing/contacts/search/emails",)
FIELD_TYPES = ("Text", "Number", "Date")
DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")


def errors(status: int, message: str, field_name: str | None = None, **headers: str) -> Reply:
    return Reply(status, {"errors": [{"field": field_name, "message": message}]}, dict(headers))


@dataclass
class Contact:
    id: str
    email: str
    custom_fields: dict[str, Any] = field(default_factory=dict)
    list_ids: set[str] = field(default_factory=set)


@dataclass
class Job:
    id: str
    contacts: list[dict[str, Any]]
    list_ids: list[str]
    polls_left: int
    status: str = "pending"
    results: dict[str, Any] = field(default_factory=dict)
    error_rows: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    size: int = 0


class Stamped(set[str]):
    """A set of suppressed addresses that notes when each was added, as SendGrid's `created`
    (epoch seconds) does."""

    def __init__(self, stamps: dict[str, int]) -> None:
        super().__init__()
        self.stamps = stamps

    def add(self, email: str) -> None:
        self.stamps.setdefault(email, int(time.time()))
        super().add(email)


class FakeSendGrid(FakeServer):
    api_prefix = ""
    max_connections = 10  # concurrent requests per key

    def __init__(self, api_key: str = "SG.fake-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.contacts: dict[str, Contact] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.calls: list[Call] = []
        self.first_seen: dict[str, int] = {}
        self.global_unsubscribes: set[str] = Stamped(self.first_seen)
        self.group_unsubscribes: dict[int, set[str]] = {}
        self.violations: list[str] = []
        """Suppressed addresses that were sent in an upsert anyway."""
        self.poisoned: set[str] = set()
        """Addresses the import job refuses (listed in its errors file; the job ends `errored`)."""
        self.batch_killers: set[str] = set()
        """Addresses that make the PUT itself fail with 400 (the whole request)."""
        self.failing_jobs = 0
        """The next jobs end `failed`, applying nothing."""
        self.silent_errors = 0
        """The next errored jobs give no errors_url (the client cannot tell who failed)."""
        self.job_latency = 1
        """Polls a job answers `pending` before it runs."""
        self.max_bytes = MAX_BYTES
        self.reset_epoch = 1_700_000_060
        """X-RateLimit-Reset sent with every answer (tests pin the client's clock)."""
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeSendGrid:
        return self.start()

    # -- test helpers -----------------------------------------------------------------

    def add_contact(self, email: str, *lists: str) -> Contact:
        contact = Contact(str(uuid.uuid4()), email.lower(), list_ids=set(lists))
        self.contacts[contact.email] = contact
        return contact

    def contact(self, email: str) -> Contact | None:
        return self.contacts.get(email.lower())

    def list_id(self, name: str) -> str | None:
        return next((i for i, item in self.lists.items() if item["name"] == name), None)

    def list_members(self, name: str) -> set[str]:
        list_id = self.list_id(name)
        return {c.email for c in self.contacts.values() if list_id in c.list_ids}

    def lists_of(self, email: str) -> set[str]:
        contact = self.contact(email)
        return {self.lists[i]["name"] for i in contact.list_ids} if contact else set()

    def values(self, email: str) -> dict[str, Any]:
        """A contact's custom fields by name (what a SendGrid user sees)."""
        contact = self.contact(email)
        if contact is None:
            return {}
        return {self.fields[k]["name"]: v for k, v in contact.custom_fields.items()}

    def writes(self, path: str | None = None, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method in WRITES and c.path not in READ_POSTS
                    and c.status < 429 and (path is None or re.search(path, c.path))
                    and (method is None or c.method == method)]

    def write_count(self) -> int:
        return len(self.writes())

    def upsert_calls(self) -> list[Call]:
        return [c for c in self.writes("^/v3/marketing/contacts$", "PUT") if c.status == 202]

    def list_removals(self) -> list[Call]:
        return [c for c in self.writes(r"^/v3/marketing/lists/[^/]+/contacts$", "DELETE")
                if c.status == 202]

    def setup_calls(self) -> list[Call]:
        return [c for c in self.writes(r"^/v3/marketing/(field_definitions|lists)$", "POST")]

    def polls(self) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c.method == "GET"
                       and c.path.startswith("/v3/marketing/contacts/imports/"))

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()

    # -- faults and plumbing ---------------------------------------------------------------

    def rate_headers(self, remaining: int = 599) -> dict[str, str]:
        return {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(self.reset_epoch)}

    def throttled(self, retry_after: str | None) -> Reply:
        # SendGrid sends no Retry-After: the reset epoch is the hint
        return errors(429, "too many requests", None, **self.rate_headers(0))

    def too_many_connections(self, request: Request) -> Reply:
        with self.lock:
            self.calls.append(Call(request.method, request.path, request.query, None, 429))
        return self.throttled(None)

    def dispatch(self, request: Request) -> Reply | None:
        reply = super().dispatch(request)
        with self.lock:
            size = len(json.dumps(request.body)) if \
                request.body is not None else 0
            self.calls.append(Call(request.method, request.path, request.query,
                                   request.body,
                                   reply.status if reply is not None else 0, size))
        if reply is not None and reply.status != 429:
            reply.headers.update(self.rate_headers())
        return reply

    # -- routes ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        path, method = request.path.rstrip("/"), request.method
        body = request.body
        if m := re.fullmatch(r"/v3/marketing/contacts/imports/([^/]+)/errors\.csv", path):
            return self.errors_file(m.group(1))  # a download URL: no API key
        if request.header("Authorization") != f"Bearer {self.api_key}":
            return errors(401, "authorization required")
        if path == "/v3/marketing/contacts" and method == "PUT":
            return self.upsert(request, body)
        if path == "/v3/marketing/contacts" and method == "DELETE":
            return self.delete_contacts(request)
        if m := re.fullmatch(r"/v3/marketing/contacts/imports/([^/]+)", path):
            return self.job_status(m.group(1))
        if path == "/v3/marketing/contacts/search/emails" and method == "POST":
            return self.search(body)
        if path == "/v3/marketing/field_definitions":
            return self.list_fields() if method == "GET" else self.create_field(body)
        if path == "/v3/marketing/lists":
            return self.all_lists(request) if method == "GET" else self.create_list(body)
        if (m := re.fullmatch(r"/v3/marketing/lists/([^/]+)/contacts", path)) and method == "DELETE":
            return self.remove_from_list(m.group(1), request)
        if path == "/v3/suppression/unsubscribes" and method == "GET":
            # `created` is when the address was added (or, for a set a test put in place
            # whole, when the fake first saw it)
            now = int(time.time())
            for e in self.global_unsubscribes:
                self.first_seen.setdefault(e, now)
            start = int(request.query.get("start_time", 0))
            ordered = sorted(e for e in self.global_unsubscribes if self.first_seen[e] >= start)
            offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 500))
            return Reply(200, [{"email": e, "created": self.first_seen[e]}
                               for e in ordered[offset:offset + limit]])
        if (m := re.fullmatch(r"/v3/asm/suppressions/global/(.+)", path)) and method == "GET":
            email = m.group(1).lower()
            return Reply(200, {"recipient_email": email} if email in self.global_unsubscribes
                         else {})
        if path == "/v3/asm/suppressions" and method == "GET":
            return Reply(200, [{"email": e, "group_id": g, "group_name": f"group {g}",
                                "created_at": 1_690_000_000}
                               for g, emails in sorted(self.group_unsubscribes.items())
                               for e in sorted(emails)])
        if (m := re.fullmatch(r"/v3/asm/groups/(\d+)/suppressions", path)) and method == "GET":
            return Reply(200, sorted(self.group_unsubscribes.get(int(m.group(1)), set())))
        return errors(404, "resource not found")

    def list_fields(self) -> Reply:
        return Reply(200, {"custom_fields": list(self.fields.values()),
                           "reserved_fields": [{"id": "_rf0_T", "name": "first_name",
                                                "field_type": "Text"},
                                               {"id": "_rf1_T", "name": "email",
                                                "field_type": "Text"}]})

    def create_field(self, body: Any) -> Reply:
        name, kind = str(body.get("name", "")), body.get("field_type")
        if kind not in FIELD_TYPES:
            return errors(400, "field_type must be one of Text, Number, Date", "field_type")
        if any(item["name"] == name for item in self.fields.values()):
            return errors(400, "Custom field name already exists", "name")
        field_id = f"e{next(self._ids)}_{kind[0]}"
        self.fields[field_id] = {"id": field_id, "name": name, "field_type": kind}
        return Reply(200, self.fields[field_id])

    def all_lists(self, request: Request) -> Reply:
        size = int(request.query.get("page_size", 100))
        start = int(request.query.get("page_token", 0))
        items = list(self.lists.values())
        page = [dict(item, contact_count=len(self.list_members(item["name"])))
                for item in items[start:start + size]]
        meta: dict[str, Any] = {"count": len(items)}
        if start + size < len(items):
            meta["next"] = f"{self.url}/v3/marketing/lists?page_size={size}&page_token={start + size}"
        return Reply(200, {"result": page, "_metadata": meta})

    def create_list(self, body: Any) -> Reply:
        name = str(body.get("name", ""))
        if any(item["name"] == name for item in self.lists.values()):
            return errors(400, "list name already exists", "name")
        list_id = str(uuid.uuid4())
        self.lists[list_id] = {"id": list_id, "name": name}
        return Reply(201, dict(self.lists[list_id], contact_count=0))

    def upsert(self, request: Request, body: Any) -> Reply:
        size = request.size
        if size > self.max_bytes:
            return errors(413, f"request body is {size} bytes; the maximum is {self.max_bytes}")
        contacts = body.get("contacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list) or not contacts:
            return errors(400, "contacts is required and must have at least 1 item", "contacts")
        if len(contacts) > MAX_CONTACTS:
            return errors(400, f"contacts array must have between 1 and {MAX_CONTACTS} items",
                          "contacts")
        list_ids = body.get("list_ids") or []
        for list_id in list_ids:
            if list_id not in self.lists:
                return errors(400, f"list_ids contains an invalid id: {list_id}", "list_ids")
        for index, contact in enumerate(contacts):
            email = str(contact.get("email", "")).lower()
            if email in self.batch_killers or "@" not in email:
                return errors(400, "email is invalid", f"contacts[{index}].email")
            for key, value in (contact.get("custom_fields") or {}).items():
                spec = self.fields.get(key)
                if spec is None:
                    return errors(400, "invalid custom field ids supplied",
                                  f"contacts[{index}].custom_fields")
                if value != "" and spec["field_type"] == "Number" and \
                        (isinstance(value, bool) or not isinstance(value, int | float)):
                    return errors(400, f"{spec['name']} must be a number",
                                  f"contacts[{index}].custom_fields.{key}")
                if value != "" and spec["field_type"] == "Date" and not DATE.match(str(value)):
                    return errors(400, f"{spec['name']} must be a date (MM/DD/YYYY)",
                                  f"contacts[{index}].custom_fields.{key}")
            if email in self.global_unsubscribes or any(
                    email in group for group in self.group_unsubscribes.values()):
                self.violations.append(email)
        job = Job(str(uuid.uuid4()), [dict(c) for c in contacts], list(list_ids), self.job_latency)
        self.jobs[job.id] = job
        return Reply(202, {"job_id": job.id})

    def _run(self, job: Job) -> None:
        if self.failing_jobs > 0:
            self.failing_jobs -= 1
            job.status = "failed"
            job.results = {"requested_count": len(job.contacts), "created_count": 0,
                           "updated_count": 0, "deleted_count": 0,
                           "errored_count": len(job.contacts)}
            return
        created = updated = 0
        for entry in job.contacts:
            email = str(entry["email"]).lower()
            if email in self.poisoned:
                job.error_rows.append((email, "email address is not valid for Marketing "
                                              "Campaigns"))
                continue
            contact = self.contacts.get(email)
            if contact is None:
                contact = self.add_contact(email)
                created += 1
            else:
                updated += 1
            contact.custom_fields.update(entry.get("custom_fields") or {})
            contact.list_ids.update(job.list_ids)
        job.status = "errored" if job.error_rows else "completed"
        job.results = {"requested_count": len(job.contacts), "created_count": created,
                       "updated_count": updated, "deleted_count": 0,
                       "errored_count": len(job.error_rows)}
        if job.error_rows:
            if self.silent_errors > 0:
                self.silent_errors -= 1
            else:
                job.results["errors_url"] = (f"{self.url}/v3/marketing/contacts/imports/"
                                             f"{job.id}/errors.csv")

    def job_status(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None:
            return errors(404, "job not found")
        if job.status == "pending":
            if job.polls_left > 0:
                job.polls_left -= 1
            else:
                self._run(job)
        answer: dict[str, Any] = {"id": job.id, "status": job.status, "job_type": "upsert"}
        if job.status != "pending":
            answer["results"] = dict(job.results)
            answer["finished_at"] = "2024-07-01T00:00:00Z"
        return Reply(200, answer)

    def errors_file(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None:
            return Reply(404, "not found", content_type="text/plain")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "errors"])
        writer.writerows(job.error_rows)
        return Reply(200, out.getvalue(), content_type="text/csv")

    def search(self, body: Any) -> Reply:
        emails = [str(e).lower() for e in (body or {}).get("emails", [])]
        if len(emails) > MAX_SEARCH:
            return errors(400, f"emails must have at most {MAX_SEARCH} items", "emails")
        found = {e: self.contacts[e] for e in emails if e in self.contacts}
        if not found:
            return errors(404, "No contacts found")
        result: dict[str, Any] = {}
        for email in emails:
            contact = found.get(email)
            result[email] = ({"contact": {"id": contact.id, "email": contact.email,
                                          "list_ids": sorted(contact.list_ids),
                                          "custom_fields": dict(contact.custom_fields)}}
                             if contact else {"error": "contact not found"})
        return Reply(200, {"result": result})

    def remove_from_list(self, list_id: str, request: Request) -> Reply:
        if list_id not in self.lists:
            return errors(404, "list not found")
        ids = [i for i in request.query.get("contact_ids", "").split(",") if i]
        if not ids:
            return errors(400, "contact_ids is required", "contact_ids")
        by_id = {c.id: c for c in self.contacts.values()}
        for contact_id in ids:
            if contact_id in by_id:
                by_id[contact_id].list_ids.discard(list_id)
        return Reply(202, {"job_id": str(uuid.uuid4())})

    def delete_contacts(self, request: Request) -> Reply:
        if request.query.get("delete_all_contacts"):
            return errors(400, "this fake refuses to delete every contact")
        ids = {i for i in request.query.get("ids", "").split(",") if i}
        if not ids:
            return errors(400, "ids is required", "ids")
        for email in [e for e, c in self.contacts.items() if c.id in ids]:
            del self.contacts[email]
        return Reply(202, {"job_id": str(uuid.uuid4())})
