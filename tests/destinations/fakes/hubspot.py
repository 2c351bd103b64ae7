"""A fake HubSpot CRM v3 API (contacts and their properties) on 127.0.0.1, strict where HubSpot is.

Built on the connectors' `FakeServer` (lifecycle, fault injection, call
log) with the Mailchimp fake's body-reading handler. It enforces what the
push relies on:

* batch endpoints take at most 100 inputs (400 VALIDATION_ERROR), and the
  same id twice in one batch is refused as a whole (409);
* properties must exist, numbers must be numbers, dates YYYY-MM-DD and
  enumeration values known options, or the whole batch is refused (400);
* a row HubSpot refuses alone (`poisoned`, or a GDPR-deleted address, which
  is blocklisted) comes back in a 207 multi-status answer, the rest land;
* `batch/read` by e-mail answers found rows, with the `properties` asked for (null when
  unset; a subscription type's `hs_email_optout_<id>` too), and a 207 with the missing ones;
* writing a subscription property (`hs_marketable_status`, opt-outs) is
  recorded in `violations`;
* a 429 storm answers HubSpot's RATE_LIMIT body with `policyName` and the
  `X-HubSpot-RateLimit-*` headers;
* every write stamps the contact's `lastmodifieddate` (ISO 8601 with
  milliseconds); `POST /crm/v3/objects/contacts/search` filters on property
  values (EQ, NEQ, GT, GTE, LT, LTE, HAS_PROPERTY, NOT_HAS_PROPERTY; dates
  compared as epoch milliseconds), OR-s its filter groups (at most 5, 6 filters
  each), sorts on one property, answers at most 100 rows a page with
  `paging.next.after`, and refuses to page past 10,000 rows of one query (400);
  a fifth search within one second (on `search_clock`, the real clock unless a
  test shares a virtual one with the client) answers HubSpot's secondly 429
  with Retry-After 1, and `search_throttles` makes the next searches do so;
* `unsubscribe(email)` and `hard_bounce(email)` do what a person's unsubscribe
  link and a bouncing mailbox do there;
* subscription types each come with their contact property `hs_email_optout_<id>`;
  an account starts with the three a new HubSpot portal has (`DEFAULT_TYPES`:
  "Marketing Information", "One to One", "Customer Service Communication"), unless
  the fake is made with other `types` (`{}` for none), and `add_subscription_type`
  adds one; `unsubscribe_from(email, id)` is a person
  leaving one type in the preferences page (the property turns `true`, the
  contact's `lastmodifieddate` moves; a contact created later for an address
  already unsubscribed from a type carries it too). `GET /communication-preferences/v3/definitions`
  lists them; `POST /communication-preferences/v3/unsubscribe` needs
  `emailAddress` and `subscriptionId` (400 naming them otherwise), refuses an
  unknown type (400), answers an address already unsubscribed from that type
  (or from all e-mail) with HubSpot's 400 "<email> is already unsubscribed from
  subscription <id>", and, with `requires_legal_basis` (data-privacy settings on),
  refuses a call without `legalBasis` (400). Writing `hs_email_optout_<id>`
  through an upsert is a violation.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clientela.testing.fake_server import FakeServer, Reply, Request

MAX_BATCH = 100
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_POSTS = ("/crm/v3/objects/contacts/batch/read", "/crm/v3/objects/contacts/search")
SUBSCRIPTION = frozenset({"hs_marketable_status", "hs_email_optout", "hs_marketable_reason_id",
                          "hs_legal_basis"})
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STANDARD = ("email", "firstname", "lastname", "hs_object_id", "hs_marketable_status",
            "hs_email_optout", "hs_email_hard_bounce_reason_enum", "lifecyclestage",
            "lastmodifieddate")
SEARCH_PAGE = 100
SEARCH_CAP = 10_000
SEARCHES_PER_SECOND = 4
MAX_GROUPS, MAX_FILTERS = 5, 6
DATES = frozenset({"lastmodifieddate", "createdate"})
DEFAULT_TYPES: dict[str, tuple[str, str]] = {
    "7400001": ("Marketing Information", "Marketing"),
    "7400002": ("One to One", "Sales"),
    "7400003": ("Customer Service Communication", "Customer Service"),
}
"""id -> (name, purpose) of the subscription types a new HubSpot portal starts with."""


def stamp(moment: float | None = None) -> str:
    """HubSpot's datetime property format: ISO 8601, UTC, milliseconds."""
    at = datetime.fromtimestamp(time.time() if moment is None else moment, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def as_ms(value: str) -> float:
    if value.isdigit():
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


def error(status: int, category: str, message: str, **extra: Any) -> Reply:
    return Reply(status, {"status": "error", "message": message,
                          "correlationId": "00000000-0000-0000-0000-000000000000",
                          "category": category, **extra})


@dataclass
class Contact:
    id: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int


class FakeHubSpot(FakeServer):
    max_connections = 10  # concurrent requests per app, as HubSpot enforces for bursts
    api_prefix = ""

    def __init__(self, token: str = "pat-na1-fake",
                 types: dict[str, tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[str, Contact] = {}
        """lower-cased e-mail -> contact."""
        self.groups: dict[str, dict[str, Any]] = {
            "contactinformation": {"name": "contactinformation", "label": "Contact information"}}
        self.properties: dict[str, dict[str, Any]] = {
            name: {"name": name, "label": name, "type": "string", "fieldType": "text",
                   "groupName": "contactinformation", "options": []} for name in STANDARD}
        self.calls: list[Call] = []
        self.poisoned: set[str] = set()
        """Addresses refused inside a 207 answer (the rest of the batch lands)."""
        self.batch_killers: set[str] = set()
        """Addresses that make HubSpot refuse their whole batch (400)."""
        self.blocklist: set[str] = set()
        self.violations: list[tuple[str, str]] = []
        self.gdpr_deleted: list[str] = []
        self._ids = itertools.count(1001)
        self.search_throttles = 0
        """The next searches answer 429 (as the 4-a-second search limit does), Retry-After 1."""
        self.search_clock: Callable[[], float] = time.monotonic
        self._searched: deque[float] = deque()
        self.subscription_types: dict[str, dict[str, Any]] = {}
        """id -> HubSpot's subscription definition."""
        self.unsubscribed_from: dict[tuple[str, str], str] = {}
        """(lower-cased e-mail, type id) -> who unsubscribed it: `person` or `api`."""
        self.requires_legal_basis = False
        for type_id, (name, purpose) in (DEFAULT_TYPES if types is None else types).items():
            self.add_subscription_type(type_id, name, purpose)

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    # -- test helpers -----------------------------------------------------------------

    def add_contact(self, email: str, **properties: str) -> Contact:
        left = {f"hs_email_optout_{t}": "true" for (who, t) in self.unsubscribed_from
                if who == email.lower()}  # the status is kept per address, contact or not
        contact = Contact(str(next(self._ids)), {"email": email.lower(), "lastmodifieddate":
                                                 stamp(), **left, **properties})
        self.contacts[email.lower()] = contact
        return contact

    def touch(self, contact: Contact, **properties: str) -> None:
        contact.properties.update(properties)
        contact.properties["lastmodifieddate"] = stamp()

    def unsubscribe(self, email: str) -> None:
        """The person clicks "unsubscribe from all" in a HubSpot e-mail."""
        contact = self.contacts[email.lower()]
        self.touch(contact, hs_email_optout="true", hs_marketable_status="false")

    def hard_bounce(self, email: str, reason: str = "BAD_MAILBOX") -> None:
        """A marketing e-mail to the address hard-bounces: HubSpot stops mailing it."""
        self.touch(self.contacts[email.lower()], hs_email_hard_bounce_reason_enum=reason)

    def add_subscription_type(self, type_id: str, name: str,
                              purpose: str = "Marketing") -> None:
        """A subscription type of the account, with its opt-out contact property."""
        self.subscription_types[type_id] = {
            "id": type_id, "name": name, "description": f"{name} e-mails", "purpose": purpose,
            "communicationMethod": "Email", "isActive": True, "isDefault": False,
            "isInternal": False, "createdAt": "2024-01-01T00:00:00Z",
            "updatedAt": "2024-01-01T00:00:00Z"}
        prop = f"hs_email_optout_{type_id}"
        self.properties[prop] = {
            "name": prop, "label": f"Opted out of email: {name}", "type": "enumeration",
            "fieldType": "booleancheckbox", "groupName": "contactinformation",
            "options": [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]}

    def unsubscribe_from(self, email: str, type_id: str, by: str = "person") -> None:
        """The person leaves one subscription type in HubSpot's preferences page."""
        self.unsubscribed_from[(email.lower(), type_id)] = by
        contact = self.contacts.get(email.lower())
        if contact is not None:
            self.touch(contact, **{f"hs_email_optout_{type_id}": "true"})

    def snapshot(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """e-mail -> its properties but the ones HubSpot stamps (ids, dates), and
        (e-mail, type id) -> who unsubscribed it: what two runs are compared on."""
        stamped = {"hs_object_id", "lastmodifieddate", "createdate"}
        with self.lock:
            held = {address: tuple(sorted((k, v) for k, v in c.properties.items()
                                          if k not in stamped))
                    for address, c in self.contacts.items()}
            left = {f"{address} left {type_id}": ((by, by),)
                    for (address, type_id), by in self.unsubscribed_from.items()}
        return {**held, **left}

    def unsubscribe_calls(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == "/communication-preferences/v3/unsubscribe"]

    def searches(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith("/contacts/search")]

    def contact(self, email: str) -> Contact | None:
        return self.contacts.get(email.lower())

    def writes(self, path: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method in WRITES and c.path not in READ_POSTS
                    and c.status < 429 and (path is None or re.search(path, c.path))]

    def write_count(self) -> int:
        return len(self.writes())

    def upsert_calls(self) -> list[Call]:
        return [c for c in self.writes(r"/batch/upsert$") if c.status in (200, 207)]

    def reads(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith("/batch/read")]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()
            self._searched.clear()

    # -- faults and plumbing ---------------------------------------------------------------

    def throttled(self, retry_after: str | None) -> Reply:
        reply = error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.",
                      errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING",
                      groupName="publicapi:private-app:ten-secondly")
        reply.headers.update({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                              "X-HubSpot-RateLimit-Max": "100",
                              "X-HubSpot-RateLimit-Remaining": "0"})
        if retry_after is not None:
            reply.headers["Retry-After"] = retry_after
        return reply

    def too_many_connections(self, request: Request) -> Reply:
        with self.lock:
            self.calls.append(Call(request.method, request.path, None, 429))
        return self.throttled(None)

    def dispatch(self, request: Request) -> Reply | None:
        reply = super().dispatch(request)
        with self.lock:
            self.calls.append(Call(request.method, request.path, request.body,
                                   reply.status if reply is not None else 0))
        return reply

    # -- routes ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        if request.header("Authorization") != f"Bearer {self.token}":
            return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        path, method = request.path.rstrip("/"), request.method
        body = request.body
        base = "/crm/v3/properties/contacts"
        if path == f"{base}/groups":
            return (Reply(200, {"results": list(self.groups.values())}) if method == "GET"
                    else self.create_group(body))
        if path == base and method == "GET":
            return Reply(200, {"results": list(self.properties.values())})
        if path == f"{base}/batch/create" and method == "POST":
            return self.create_properties(body)
        if (m := re.fullmatch(rf"{base}/([a-z0-9_]+)", path)) and method == "PATCH":
            return self.update_property(m.group(1), body)
        if path == "/crm/v3/objects/contacts/batch/upsert" and method == "POST":
            return self.upsert(body)
        if path == "/crm/v3/objects/contacts/batch/read" and method == "POST":
            return self.read(body)
        if path == "/crm/v3/objects/contacts/search" and method == "POST":
            return self.search(body)
        if path == "/crm/v3/objects/contacts/gdpr-delete" and method == "POST":
            return self.gdpr_delete(body)
        if path == "/communication-preferences/v3/definitions" and method == "GET":
            return Reply(200, {"subscriptionDefinitions": list(self.subscription_types.values())})
        if path == "/communication-preferences/v3/unsubscribe" and method == "POST":
            return self.unsubscribe_type(body)
        return error(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}")

    def create_group(self, body: Any) -> Reply:
        name = str(body.get("name", ""))
        if name in self.groups:
            return error(409, "OBJECT_ALREADY_EXISTS", f"A property group named {name} exists.")
        self.groups[name] = {"name": name, "label": body.get("label", name)}
        return Reply(201, self.groups[name])

    def create_properties(self, body: Any) -> Reply:
        inputs = body.get("inputs", [])
        for spec in inputs:
            if spec.get("name") in self.properties:
                return error(409, "OBJECT_ALREADY_EXISTS",
                             f"Property {spec.get('name')} already exists.")
            if spec.get("groupName") not in self.groups:
                return error(400, "VALIDATION_ERROR", f"group {spec.get('groupName')} does not "
                             "exist")
            if spec.get("type") == "enumeration" and not spec.get("options"):
                return error(400, "VALIDATION_ERROR", "enumeration properties need options")
        for spec in inputs:
            self.properties[spec["name"]] = {**spec, "options": list(spec.get("options", []))}
        return Reply(201, {"status": "COMPLETE", "results": [self.properties[s["name"]]
                                                             for s in inputs]})

    def update_property(self, name: str, body: Any) -> Reply:
        if name not in self.properties:
            return error(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist.")
        self.properties[name].update(body)
        return Reply(200, self.properties[name])

    def _invalid(self, properties: dict[str, Any]) -> str | None:
        for name, value in properties.items():
            spec = self.properties.get(name)
            if spec is None:
                return f'Property "{name}" does not exist'
            if value in ("", None):
                continue
            if spec["type"] == "number":
                try:
                    float(value)
                except (TypeError, ValueError):
                    return f"{value!r} is not a valid number for {name}"
            if spec["type"] == "date" and not DATE.match(str(value)):
                return f"{value!r} is not a valid date for {name}"
            if spec["type"] == "enumeration" and \
                    value not in {o["value"] for o in spec.get("options", [])}:
                return f"{value!r} was not one of the allowed options for {name}"
        return None

    def upsert(self, body: Any) -> Reply:
        inputs = body.get("inputs", []) if isinstance(body, dict) else []
        if len(inputs) > MAX_BATCH:
            return error(400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the "
                         f"maximum of {MAX_BATCH}.")
        ids = [str(i.get("id", "")).lower() for i in inputs]
        if len(set(ids)) != len(ids):
            return error(409, "CONFLICT", "Duplicate IDs found in batch input.")
        for entry in inputs:
            if entry.get("idProperty") != "email":
                return error(400, "VALIDATION_ERROR", "idProperty must be a unique property")
            invalid = self._invalid(entry.get("properties") or {})
            if invalid or str(entry.get("id", "")).lower() in self.batch_killers:
                return error(400, "VALIDATION_ERROR", "Property values were not valid: "
                             f"{invalid or 'bad data'}")
        results, errors = [], []
        for entry in inputs:
            email = str(entry["id"]).lower()
            properties = dict(entry.get("properties") or {})
            for name in properties:
                if name in SUBSCRIPTION or name.startswith("hs_email_optout_"):
                    self.violations.append((email, name))
            if email in self.poisoned or email in self.blocklist:
                errors.append({"status": "error", "category": "VALIDATION_ERROR",
                               "message": f"Contact {email} cannot be created or updated "
                               "(blocklisted or invalid)", "context": {"ids": [email]}})
                continue
            contact = self.contacts.get(email)
            new = contact is None
            if contact is None:
                contact = self.add_contact(email)
            self.touch(contact, **{k: str(v) for k, v in properties.items()})
            results.append({"id": contact.id, "new": new, "archived": False,
                            "properties": {"email": email, "hs_object_id": contact.id,
                                           **properties},
                            "createdAt": "2024-07-01T00:00:00Z",
                            "updatedAt": "2024-07-01T00:00:00Z"})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results,
                                  "startedAt": "2024-07-01T00:00:00Z",
                                  "completedAt": "2024-07-01T00:00:01Z"}
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
            return Reply(207, answer)
        return Reply(200, answer)

    def read(self, body: Any) -> Reply:
        inputs = body.get("inputs", []) if isinstance(body, dict) else []
        if len(inputs) > MAX_BATCH:
            return error(400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the "
                         f"maximum of {MAX_BATCH}.")
        if body.get("idProperty") != "email":
            return error(400, "VALIDATION_ERROR", "this fake reads by email only")
        results, missing = [], []
        for entry in inputs:
            contact = self.contacts.get(str(entry.get("id", "")).lower())
            if contact is None:
                missing.append(str(entry.get("id")))
            else:  # the properties asked for, null when unset, as HubSpot answers them
                asked = {name: contact.properties.get(name)
                         for name in body.get("properties") or [] if name in self.properties}
                results.append({"id": contact.id, "properties": {
                    **asked, "email": contact.properties["email"], "hs_object_id": contact.id}})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                "message": "Could not get some CONTACT objects, "
                                                "they may be deleted or not exist.",
                                                "context": {"ids": missing}}])
            return Reply(207, answer)
        return Reply(200, answer)

    def gdpr_delete(self, body: Any) -> Reply:
        email = str(body.get("objectId", "")).lower()
        if body.get("idProperty") != "email":
            return error(400, "VALIDATION_ERROR", "this fake deletes by email only")
        self.contacts.pop(email, None)
        self.blocklist.add(email)  # HubSpot blocklists the address, present or not
        self.gdpr_deleted.append(email)
        return Reply(204, None)

    def unsubscribe_type(self, body: Any) -> Reply:
        body = body if isinstance(body, dict) else {}
        missing = [k for k in ("emailAddress", "subscriptionId") if not body.get(k)]
        if missing:
            return error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1, column 2: "
                         "Cannot build PublicUpdateSubscriptionStatusRequest, some of required "
                         f"attributes are not set [{', '.join(missing)}]")
        email, type_id = str(body["emailAddress"]).lower(), str(body["subscriptionId"])
        definition = self.subscription_types.get(type_id)
        if definition is None:
            return error(400, "VALIDATION_ERROR", f"Subscription {type_id} does not exist")
        if self.requires_legal_basis and not body.get("legalBasis"):
            return error(400, "VALIDATION_ERROR", "A legal basis is required to update the "
                         "subscription status of a contact in a portal with GDPR enabled")
        contact = self.contacts.get(email)
        everything = contact is not None and contact.properties.get("hs_email_optout") == "true"
        if (email, type_id) in self.unsubscribed_from or everything:
            return error(400, "VALIDATION_ERROR",
                         f"{email} is already unsubscribed from subscription {type_id}")
        self.unsubscribe_from(email, type_id, by="api")
        return Reply(200, {"id": type_id, "name": definition["name"],
                           "description": definition["description"], "status": "NOT_SUBSCRIBED",
                           "sourceOfStatus": "SUBSCRIPTION_STATUS",
                           **({"legalBasis": body["legalBasis"],
                               "legalBasisExplanation": body.get("legalBasisExplanation", "")}
                              if body.get("legalBasis") else {})})

    # -- search ----------------------------------------------------------------------------

    def _over_search_limit(self) -> bool:
        now = self.search_clock()
        while self._searched and now - self._searched[0] >= 1.0:
            self._searched.popleft()
        if len(self._searched) >= SEARCHES_PER_SECOND:
            return True
        self._searched.append(now)
        return False

    def search(self, body: Any) -> Reply:
        if self.search_throttles > 0 or self._over_search_limit():
            self.search_throttles = max(0, self.search_throttles - 1)
            reply = error(429, "RATE_LIMITS", "You have reached your secondly limit.",
                          errorType="RATE_LIMIT", policyName="SECONDLY")
            reply.headers["Retry-After"] = "1"
            return reply
        if not isinstance(body, dict):
            return error(400, "VALIDATION_ERROR", "Invalid input JSON")
        limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        if limit > SEARCH_PAGE:
            return error(400, "VALIDATION_ERROR", f"limit must be at most {SEARCH_PAGE}")
        if after >= SEARCH_CAP:
            return error(400, "VALIDATION_ERROR", f"paging past {SEARCH_CAP} results of one "
                         "search is not allowed")
        groups = body.get("filterGroups") or []
        if len(groups) > MAX_GROUPS or any(len(g.get("filters", [])) > MAX_FILTERS
                                           for g in groups):
            return error(400, "VALIDATION_ERROR", "too many filter groups or filters")
        for group in groups:
            for rule in group.get("filters", []):
                if rule.get("propertyName") not in self.properties:
                    return error(400, "VALIDATION_ERROR",
                                 f"Property {rule.get('propertyName')} does not exist")
        hits = [c for c in self.contacts.values()
                if not groups or any(all(self._matches(c, f) for f in g.get("filters", []))
                                     for g in groups)]
        for sort in (body.get("sorts") or [])[:1]:  # HubSpot takes one sort
            hits.sort(key=lambda c, name=str(sort.get("propertyName")): (
                          as_ms(c.properties.get(name) or "0") if name in DATES
                          else c.properties.get(name) or ""),
                      reverse=sort.get("direction") == "DESCENDING")
        page = hits[after:after + limit]
        wanted = ["email", "createdate", "lastmodifieddate", "hs_object_id",
                  *(body.get("properties") or [])]
        answer: dict[str, Any] = {"total": len(hits), "results": [
            {"id": c.id, "properties": {name: c.properties.get(name) for name in wanted},
             "archived": False} for c in page]}
        if after + limit < len(hits):
            answer["paging"] = {"next": {"after": str(after + limit), "link": "?after="}}
        return Reply(200, answer)

    @staticmethod
    def _matches(contact: Contact, rule: dict[str, Any]) -> bool:
        name, operator = str(rule.get("propertyName")), str(rule.get("operator"))
        have = contact.properties.get(name)
        if operator == "HAS_PROPERTY":
            return have not in (None, "")
        if operator == "NOT_HAS_PROPERTY":
            return have in (None, "")
        if have in (None, ""):
            return False
        want = str(rule.get("value", ""))
        left: Any = have
        right: Any = want
        if name in DATES:
            left, right = as_ms(have), as_ms(want)
        elif operator in ("EQ", "NEQ"):
            left, right = have.lower(), want.lower()
        return {"EQ": left == right, "NEQ": left != right, "GT": left > right,
                "GTE": left >= right, "LT": left < right, "LTE": left <= right}.get(operator,
                                                                                  False)
