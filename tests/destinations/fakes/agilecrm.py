"""A fake Agile CRM REST API (`/dev/api`) on 127.0.0.1, strict where Agile CRM is.

Built on the connectors' `FakeServer` through the RD Station fake's body
handler. What it enforces, because the destination relies on it:

* basic auth with the user's e-mail and REST key, else 401
  `{"status":"401","exception message":"authentication issue"}`; JSON only
  when asked for with `Accept: application/json` (XML otherwise);
* e-mails are case-sensitive; `GET contacts/search/email/{email}` answers
  204 when nobody has it; `POST contacts/search/email` takes a form field
  `email_ids` holding a JSON list;
* `POST contacts` needs `first_name` and refuses an e-mail it already holds
  (400, plain text "Sorry, duplicate contact found with the same email
  address."), or any contact past the account's limit (406); tags must start
  with a letter and hold only letters, digits, `_` and spaces (400);
* `PUT contacts/edit-properties` updates properties by id and ignores tags;
  `PUT contacts/edit/tags` adds and `PUT contacts/delete/tags` removes tags;
* `DELETE contacts/{id}` answers 204;
* `GET contacts?page_size=&cursor=` lists contacts by creation, the count on
  the first and the next page's cursor on the last (none on the last page); a
  cursor it did not hand out is refused (400); every contact carries
  `created_time`/`updated_time` (epoch seconds, bumped by each edit),
  `unsubscribeStatus` and `emailBounceStatus`, which `unsubscribe(email)` and
  `bounce(email)` fill as a campaign's unsubscribe link and a bounce do;
* injected 429 storms come from the base (Retry-After, HTML body).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from clientela.testing.fake_server import RecordingFake, Reply, Request

TAG = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*")
DUPLICATE = "Sorry, duplicate contact found with the same email address."


def text(status: int, message: str) -> Reply:
    return Reply(status, message, content_type="text/plain")


@dataclass
class Person:
    id: int
    email: str
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    created_time: int = field(default_factory=lambda: int(time.time()))
    updated_time: int = field(default_factory=lambda: int(time.time()))
    unsubscribe_status: list[dict[str, str]] = field(default_factory=list)
    bounce_status: list[dict[str, object]] = field(default_factory=list)

    def touch(self) -> None:
        self.updated_time = int(time.time())


class FakeAgileCRM(RecordingFake):
    unquote_paths = True
    api_prefix = "/dev/api"

    def __init__(self, user: str = "owner@loja.com.br", api_key: str = "agile-key-123",
                 contact_limit: int = 50_000) -> None:
        super().__init__()
        self.user, self.api_key, self.contact_limit = user, api_key, contact_limit
        self.people: dict[int, Person] = {}
        self.poisoned: set[str] = set()
        """Addresses Agile CRM refuses on create (400 plain text)."""
        self._ids = itertools.count(5_629_499_534_213_120)

    # -- test helpers -----------------------------------------------------------------

    def add_person(self, email: str, tags: list[str] | None = None) -> Person:
        person = Person(next(self._ids), email, {"first_name": "X"}, list(tags or []))
        self.people[person.id] = person
        return person

    def by_email(self, email: str) -> Person | None:
        return next((p for p in self.people.values() if p.email == email), None)

    def unsubscribe(self, email: str, kind: str = "ALL",
                    campaign_id: str = "5707702298738688") -> None:
        """The person clicks a campaign's unsubscribe link (ALL: from every campaign)."""
        person = self.by_email(email)
        assert person is not None
        person.unsubscribe_status.append({"campaign_id": campaign_id, "unsubscribeType": kind})
        person.touch()

    def bounce(self, email: str, kind: str = "HARD_BOUNCE", at: int | None = None) -> None:
        """A campaign e-mail bounces (HARD_BOUNCE, SOFT_BOUNCE) or is reported as SPAM."""
        person = self.by_email(email)
        assert person is not None
        person.bounce_status.append({"email": email, "emailBounceType": kind,
                                     "time": at if at is not None else int(time.time()),
                                     "campaign_id": "5707702298738688"})
        person.touch()

    def listings(self) -> list[Any]:
        return [c for c in self.calls if c.method == "GET" and c.path == "/dev/api/contacts"]

    def tags_of(self, email: str) -> list[str]:
        person = self.by_email(email)
        return person.tags if person else []

    def write_count(self) -> int:
        return len([c for c in self.writes() if not c.path.endswith("/search/email")])

    def creates(self) -> list[Any]:
        return [c for c in self.writes(r"/dev/api/contacts$") if c.method == "POST"]

    # -- routes ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        auth = request.header("Authorization") or ""
        expected = base64.b64encode(f"{self.user}:{self.api_key}".encode()).decode()
        if auth != f"Basic {expected}":
            return Reply(401, {"status": "401", "exception message": "authentication issue"})
        if "application/json" not in (request.header("Accept") or ""):
            return Reply(200, "<?xml version=\"1.0\"?><contacts/>", content_type="application/xml")
        body = request.body
        path, method = request.path.removeprefix(self.api_prefix), request.method
        if path == "/contacts/search/email" and method == "POST":
            return self.search(body)
        if (m := re.fullmatch(r"/contacts/search/email/(.+)", path)) and method == "GET":
            person = self.by_email(m.group(1))
            return self.render(person) if person else Reply(204, None)
        if path == "/contacts" and method == "POST":
            return self.create(body)
        if path == "/contacts" and method == "GET":
            return self.listing(request.query)
        if path == "/contacts/edit-properties" and method == "PUT":
            return self.edit(body, self.edit_properties)
        if path == "/contacts/edit/tags" and method == "PUT":
            return self.edit(body, self.add_tags)
        if path == "/contacts/delete/tags" and method == "PUT":
            return self.edit(body, self.delete_tags)
        if (m := re.fullmatch(r"/contacts/(\d+)", path)) and method == "DELETE":
            self.people.pop(int(m.group(1)), None)
            return Reply(204, None)
        return text(404, "Not Found")

    def render(self, person: Person) -> Reply:
        return Reply(200, self.json_of(person))

    @staticmethod
    def json_of(person: Person) -> dict[str, Any]:
        props = [{"type": "SYSTEM", "name": "email", "subtype": "work", "value": person.email}]
        props += [{"type": "SYSTEM" if name == "first_name" else "CUSTOM", "name": name,
                   "value": value} for name, value in person.properties.items()]
        return {"id": person.id, "type": "PERSON", "created_time": person.created_time,
                "updated_time": person.updated_time, "tags": person.tags, "properties": props,
                "campaignStatus": [], "unsubscribeStatus": list(person.unsubscribe_status),
                "emailBounceStatus": list(person.bounce_status)}

    def listing(self, query: dict[str, str]) -> Reply:
        try:
            size = int(query.get("page_size", 10))
            start = int(base64.urlsafe_b64decode(query["cursor"]).decode().removeprefix(
                "offset:")) if query.get("cursor") else 0
        except (ValueError, UnicodeDecodeError):
            return text(400, "Invalid cursor")
        people = sorted(self.people.values(), key=lambda p: (p.created_time, p.id))
        rows = [self.json_of(p) for p in people[start:start + size]]
        if rows:
            rows[0]["count"] = len(people)
            if start + size < len(people):
                rows[-1]["cursor"] = base64.urlsafe_b64encode(
                    f"offset:{start + size}".encode()).decode()
        return Reply(200, rows)

    def search(self, body: Any) -> Reply:
        try:
            wanted = json.loads(body["email_ids"]) if isinstance(body, dict) else None
        except (KeyError, ValueError):
            wanted = None
        if not isinstance(wanted, list):
            return text(400, "email_ids must be a JSON list")
        found = [self.json_of(p) for e in wanted if (p := self.by_email(str(e))) is not None]
        return Reply(200, found)

    def create(self, body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), list):
            return text(400, "Invalid input")
        props = {p.get("name"): p for p in body["properties"] if isinstance(p, dict)}
        address = str(props.get("email", {}).get("value", ""))
        if not props.get("first_name", {}).get("value"):
            return text(400, "first_name is mandatory")
        if address in self.poisoned:
            return text(400, "Invalid email address")
        if self.by_email(address) is not None:
            return text(400, DUPLICATE)
        tags = body.get("tags", [])
        if not all(isinstance(t, str) and TAG.fullmatch(t) for t in tags):
            return text(400, "Tag name should start with an alphabet and can not contain special "
                        "characters other than underscore and space")
        if len(self.people) >= self.contact_limit:
            return text(406, "Contacts limit reached")
        person = self.add_person(address, list(tags))
        person.properties = {str(name): str(p.get("value", "")) for name, p in props.items()
                             if name != "email"}
        return self.render(person)

    def edit(self, body: Any, apply: Any) -> Reply:
        if not isinstance(body, dict) or "id" not in body:
            return text(400, "Invalid input: id is required")
        person = self.people.get(int(body["id"]))
        if person is None:
            return text(400, "Contact not found")
        return apply(person, body)  # type: ignore[no-any-return]

    def edit_properties(self, person: Person, body: Any) -> Reply:
        for prop in body.get("properties", []):  # "tags" in the body are ignored, as documented
            person.properties[str(prop["name"])] = str(prop.get("value", ""))
        person.touch()
        return self.render(person)

    def add_tags(self, person: Person, body: Any) -> Reply:
        tags = body.get("tags", [])
        if not all(isinstance(t, str) and TAG.fullmatch(t) for t in tags):
            return text(400, "Invalid tag name")
        person.tags += [t for t in tags if t not in person.tags]
        person.touch()
        return self.render(person)

    def delete_tags(self, person: Person, body: Any) -> Reply:
        person.tags = [t for t in person.tags if t not in body.get("tags", [])]
        person.touch()
        return Reply(200, person.tags)
