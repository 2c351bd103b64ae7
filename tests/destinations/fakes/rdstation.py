"""A fake RD Station Marketing API on 127.0.0.1, strict where RD Station is.

Built on the connectors' `FakeServer` (lifecycle, fault injection, request
log), with a handler that also reads bodies and serves PATCH and DELETE.
What it enforces, because the destination relies on it:

* bearer tokens: a wrong one gets 401 `UNAUTHORIZED`; an expired one gets
  401 with `WWW-Authenticate: … error="expired_token"`; `POST /auth/token`
  trades client id, secret and refresh token for a new access token;
* upsert `PATCH /platform/contacts/email:{email}`: the e-mail must not also
  be in the body (400 BAD_REQUEST); every `cf_` key must be a field that
  exists (400 INVALID_FIELDS); legal bases must be well formed;
* `POST …/tag` only adds tags; there is no endpoint that removes one;
* 120 calls a minute per account and 24 PATCHes per contact per 24 h, on an
  injectable clock: 429 with `max`, `usage` and `remaining_time`, the
  per-contact one naming `lead_limiter`;
* `DELETE /platform/contacts/email:{email}` deletes (204) or 404s;
* segmentations: `GET /platform/segmentations` lists them (1, "All contacts in
  the Leads base", is RD Station's standard one; `OPTED_OUT`, a user's
  segmentation of contacts whose communications legal basis is declined), and
  `GET /platform/segmentations/{id}/contacts?page=&page_size=` lists members
  (uuid, name, email, dates; at most 125 a page, else 400; unknown id 404);
  `decline(email)` does what the person's unsubscribe does there.

`calls` records every request with its body, for counting write calls.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from clientela.testing.fake_server import Call, RecordingFake, Reply, Request

ACCOUNT_LIMIT = 120
SEGMENTATION_PAGE = 125
ALL_CONTACTS, OPTED_OUT = 1, 2
"""Segmentation ids: RD Station's standard one, and a user's segmentation of opt-outs."""
LEAD_LIMIT = 24
CONSENT_TYPES = frozenset({"consent", "legitimate_interest", "judicial_obligation", "contract",
                           "vital_interest", "public_interest"})


class Clock:
    """Shared by the fake and the client under test: time moves only when someone sleeps."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


def errors(status: int, error_type: str, message: str, **extra: Any) -> Reply:
    return Reply(status, {"errors": {"error_type": error_type, "error_message": message, **extra}})


@dataclass
class Lead:
    email: str
    uuid: str
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    legal_bases: list[dict[str, str]] = field(default_factory=list)


class FakeRDStation(RecordingFake):
    unquote_paths = True  # the contact's e-mail is in the path
    def __init__(self, clock: Clock | None = None, *, access_token: str = "token-1",
                 client_id: str = "app-id", client_secret: str = "app-secret",
                 refresh_token: str = "refresh-1") -> None:
        super().__init__()
        self.clock = clock or Clock()
        self.access_token = access_token
        self.expired: set[str] = set()
        self.client_id, self.client_secret, self.refresh_token = (client_id, client_secret,
                                                                  refresh_token)
        self.contacts: dict[str, Lead] = {}
        self.fields: dict[str, dict[str, Any]] = {
            name: {"api_identifier": name, "custom_field": False, "data_type": "STRING"}
            for name in ("name", "email", "job_title", "personal_phone", "mobile_phone")}
        self.poisoned: set[str] = set()
        """Addresses RD Station refuses (400 INVALID_FORMAT), e.g. a domain it will not take."""
        self.account_window: deque[float] = deque()
        self.patches: dict[str, deque[float]] = defaultdict(deque)
        self.tokens_issued = 0
        self.patched_tags_on_existing = 0
        self.segmentations: dict[int, dict[str, Any]] = {
            ALL_CONTACTS: {"name": "All contacts in the Leads base", "standard": True,
                           "member": lambda lead: True},
            OPTED_OUT: {"name": "Comunicações recusadas", "standard": False,
                        "member": lambda lead: any(
                            b.get("category") == "communications" and b.get("status") == "declined"
                            for b in lead.legal_bases)}}

    # -- test helpers -----------------------------------------------------------------

    def add_contact(self, email: str, *, tags: list[str] | None = None,
                    legal_bases: list[dict[str, str]] | None = None) -> Lead:
        lead = Lead(email, str(uuid.uuid4()), tags=list(tags or []),
                    legal_bases=list(legal_bases or []))
        self.contacts[email] = lead
        return lead

    def decline(self, email: str) -> None:
        """The person unsubscribes from an RD Station e-mail: communications declined."""
        lead = self.contacts[email]
        lead.legal_bases = [b for b in lead.legal_bases if b["category"] != "communications"]
        lead.legal_bases.append({"category": "communications", "type": "consent",
                                 "status": "declined"})

    def expire_token(self) -> None:
        self.expired.add(self.access_token)

    def upserts(self) -> list[Call]:
        return [c for c in self.writes(r"^/platform/contacts/email:[^/]+$")
                if c.method == "PATCH"]

    def tag_posts(self) -> list[Call]:
        return self.writes(r"/tag$")

    def write_count(self) -> int:
        return len([c for c in self.writes() if c.path != "/auth/token"])

    # -- limits -----------------------------------------------------------------------

    def throttled(self, retry_after: str | None) -> Reply:
        return errors(429, "TOO_MANY_REQUESTS", "Too many requests (account limit).",
                      max=ACCOUNT_LIMIT, usage=ACCOUNT_LIMIT + 1,
                      remaining_time=int(retry_after or 1))

    def _account_limit(self) -> Reply | None:
        now = self.clock()
        window = self.account_window
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= ACCOUNT_LIMIT:
            return errors(429, "TOO_MANY_REQUESTS", "Too many requests (account limit).",
                          max=ACCOUNT_LIMIT, usage=len(window) + 1,
                          remaining_time=int(60 - (now - window[0])) + 1)
        window.append(now)
        return None

    def _lead_limit(self, email: str) -> Reply | None:
        now = self.clock()
        seen = self.patches[email]
        while seen and now - seen[0] >= 86_400:
            seen.popleft()
        if len(seen) >= LEAD_LIMIT:
            return errors(429, "TOO_MANY_REQUESTS", "lead_limiter: too many updates of this "
                          "contact", max=LEAD_LIMIT, usage=len(seen) + 1,
                          remaining_time=int(86_400 - (now - seen[0])))
        seen.append(now)
        return None

    # -- routes ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        body = request.body
        if request.path == "/auth/token" and request.method == "POST":
            return self.token(body)
        auth = request.header("Authorization") or ""
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in (self.access_token, *self.expired):
            return errors(401, "UNAUTHORIZED", "Invalid token.")
        if token in self.expired:
            return Reply(401, {"errors": {"error_type": "EXPIRED_TOKEN_ERROR",
                                          "error_message": "The access token expired"}},
                         headers={"WWW-Authenticate": 'Bearer realm="https://api.rd.services/", '
                                  'error="expired_token", error_description="The access '
                                  'token expired"'})
        limited = self._account_limit()
        if limited is not None:
            return limited
        path, method = request.path, request.method
        if path == "/platform/contacts/fields":
            if method == "GET":
                return Reply(200, {"fields": list(self.fields.values())})
            if method == "POST":
                return self.create_field(body)
        if m := re.fullmatch(r"/platform/contacts/email:([^/]+)", path):
            email = m.group(1)
            if method == "GET":
                lead = self.contacts.get(email)
                return self.render(lead) if lead else self.not_found()
            if method == "PATCH":
                return self.upsert(email, body)
            if method == "DELETE":
                return Reply(204, None) if self.contacts.pop(email, None) else self.not_found()
        if path == "/platform/segmentations" and method == "GET":
            return Reply(200, {"segmentations": [
                {"id": number, "name": item["name"], "standard": item["standard"],
                 "created_at": "2024-01-02T10:00:00.000-03:00",
                 "updated_at": "2024-01-02T10:00:00.000-03:00", "process_status": "processed",
                 "links": [{"rel": "SELF", "media": "application/json", "type": "GET",
                            "href": f"https://api.rd.services/platform/segmentations/{number}"
                                    "/contacts"}]}
                for number, item in self.segmentations.items()]})
        if (m := re.fullmatch(r"/platform/segmentations/(\d+)/contacts", path)) and method == "GET":
            return self.segmentation_contacts(int(m.group(1)), request.query)
        if (m := re.fullmatch(r"/platform/contacts/email:([^/]+)/tag", path)) and method == "POST":
            return self.add_tags(m.group(1), body)
        return errors(404, "RESOURCE_NOT_FOUND", "The requested resource was not found.")

    def not_found(self) -> Reply:
        return errors(404, "RESOURCE_NOT_FOUND", "Lead not found.")

    def render(self, lead: Lead) -> Reply:
        return Reply(200, {"uuid": lead.uuid, "email": lead.email, "tags": lead.tags,
                           "legal_bases": lead.legal_bases, **lead.fields})

    def token(self, body: Any) -> Reply:
        if not isinstance(body, dict) or body.get("client_id") != self.client_id \
                or body.get("client_secret") != self.client_secret:
            return errors(401, "ACCESS_DENIED", "Wrong credentials provided.")
        if body.get("refresh_token") != self.refresh_token:
            return errors(400, "INVALID_REFRESH_TOKEN", "The refresh token is invalid.")
        self.tokens_issued += 1
        self.access_token = f"token-{self.tokens_issued + 1}"
        return Reply(200, {"access_token": self.access_token, "expires_in": 86400,
                           "refresh_token": self.refresh_token})

    def create_field(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return errors(400, "BAD_REQUEST", "The body must be a JSON object.")
        identifier = str(body.get("api_identifier", ""))
        if not re.fullmatch(r"cf_[a-z0-9_]+", identifier):
            return Reply(400, {"errors": {"api_identifier": [{
                "error_type": "INVALID_FORMAT", "error_message": "must start with cf_"}]}})
        if identifier in self.fields:
            return Reply(400, {"errors": {"api_identifier": [{
                "error_type": "TAKEN", "error_message": "has already been taken"}]}})
        for key in ("name", "label"):
            if not isinstance(body.get(key), dict) or not body[key].get("default"):
                return Reply(400, {"errors": {key: [{"error_type": "CANNOT_BE_NULL",
                                                     "error_message": "can't be blank"}]}})
        if body.get("data_type") not in ("STRING", "INTEGER", "DECIMAL", "BOOLEAN") \
                or not body.get("presentation_type"):
            return Reply(400, {"errors": {"data_type": [{"error_type": "INVALID_OPTION",
                                                         "error_message": "is not valid"}]}})
        self.fields[identifier] = {**body, "custom_field": True, "uuid": str(uuid.uuid4())}
        return Reply(200, self.fields[identifier])

    def upsert(self, email: str, body: Any) -> Reply:
        if not isinstance(body, dict):
            return errors(400, "BAD_REQUEST", "The body must be a JSON object.")
        if "email" in body:
            return errors(400, "BAD_REQUEST", "The identifier must not be in the body.")
        if email in self.poisoned:
            return Reply(400, {"errors": {"email": [{"error_type": "INVALID_FORMAT",
                                                     "error_message": "Email is invalid."}]}})
        unknown = [key for key in body if key.startswith("cf_") and key not in self.fields]
        if unknown:
            return Reply(400, {"errors": {key: [{"error_type": "INVALID_FIELDS",
                                                 "error_message": "is not a valid field"}]
                                          for key in unknown}})
        for basis in body.get("legal_bases", []):
            if basis.get("category") != "communications" or basis.get("type") not in \
                    CONSENT_TYPES or basis.get("status") not in ("granted", "declined"):
                return Reply(422, {"errors": {"legal_bases": [{
                    "error_type": "INVALID_LEGAL_BASE", "error_message": "invalid legal base"}]}})
        limited = self._lead_limit(email)
        if limited is not None:
            return limited
        lead = self.contacts.get(email)
        if lead is None:
            lead = self.add_contact(email)
            lead.tags = [str(t).lower() for t in body.get("tags", [])]
        elif "tags" in body:
            self.patched_tags_on_existing += 1
        if "legal_bases" in body:
            kept = [b for b in lead.legal_bases if b["category"] != "communications"]
            lead.legal_bases = kept + list(body["legal_bases"])
        lead.fields.update({k: v for k, v in body.items() if k.startswith("cf_")
                            or k in ("name", "job_title")})
        return self.render(lead)

    def add_tags(self, email: str, body: Any) -> Reply:
        lead = self.contacts.get(email)
        if lead is None:
            return self.not_found()
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
            return errors(400, "BAD_REQUEST", "tags must be a list")
        for tag in body["tags"]:
            if str(tag).lower() not in lead.tags:
                lead.tags.append(str(tag).lower())
        return Reply(200, {"uuid": lead.uuid, "tags": lead.tags})

    def segmentation_contacts(self, number: int, query: dict[str, str]) -> Reply:
        item = self.segmentations.get(number)
        if item is None:
            return errors(404, "RESOURCE_NOT_FOUND", "Segmentation not found.")
        page, size = int(query.get("page", 1)), int(query.get("page_size", 10))
        if size > SEGMENTATION_PAGE or size < 1 or page < 1:
            return errors(400, "BAD_REQUEST", f"page_size must be 1 to {SEGMENTATION_PAGE}")
        leads = [lead for lead in self.contacts.values() if item["member"](lead)]
        chunk = leads[(page - 1) * size:page * size]
        return Reply(200, {"contacts": [
            {"uuid": lead.uuid, "name": lead.fields.get("name", ""), "email": lead.email,
             "last_conversion_date": "2024-06-30T12:00:00.000-03:00",
             "created_at": "2024-06-01T12:00:00.000-03:00",
             "links": [{"rel": "SELF", "type": "GET", "media": "application/json",
                        "href": f"https://api.rd.services/platform/contacts/{lead.uuid}"}]}
            for lead in chunk]})
