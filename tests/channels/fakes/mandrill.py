"""A fake Mailchimp Transactional (Mandrill) API on 127.0.0.1.

* `POST /api/1.0/messages/send`: the `key` in the body must be valid (else
  500 with `{"status":"error","name":"Invalid_Key"}`); one result per
  recipient: `sent`, or `rejected` with `reject_reason` (`unsub` for
  addresses in `unsubscribed`, `hard-bounce` for `bounced`).
* `POST /api/1.0/messages/search` with `query` `u_<metadata field>:<value>`.
* `events()` builds the form POSTs of the webhook (`mandrill_events`), signed
  with `X-Mandrill-Signature` for the registered URL.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from clientela.channels.signing import url_form_signature
from clientela.testing.fake_server import Reply, Request

from .common import Accepted, MessagingFake

API_KEY = "md-fake-key-0123456789"
WEBHOOK_KEY = "md-webhook-key-abcdef"


class FakeMandrill(MessagingFake):
    api_prefix = "/api/1.0"

    def __init__(self) -> None:
        super().__init__()
        self.unsubscribed: set[str] = set()
        self.bounced: set[str] = set()
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeMandrill:
        self.start()
        return self

    def route(self, request: Request) -> Reply:
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        if body.get("key") != API_KEY:
            return Reply(500, {"status": "error", "code": -1, "name": "Invalid_Key",
                               "message": "Invalid API key"})
        if request.path == "/api/1.0/messages/search":
            field, _, value = str(body.get("query", "")).partition(":")
            name = field.removeprefix("u_")
            found = [m for m in self.accepted if m.extra.get("metadata", {}).get(name) == value]
            return Reply(200, [{"_id": m.id, "email": m.to, "state": "sent"} for m in found])
        if request.path != "/api/1.0/messages/send":
            return Reply(500, {"status": "error", "code": -1, "name": "Unknown_Method",
                               "message": "not found"})
        self.send_calls += 1
        message = body.get("message") or {}
        results = []
        for to in message.get("to", []):
            email = to.get("email")
            mid = f"md{next(self._ids):012d}"
            if email in self.unsubscribed or email in self.bounced:
                reason = "unsub" if email in self.unsubscribed else "hard-bounce"
                results.append({"email": email, "status": "rejected", "reject_reason": reason,
                                "_id": mid})
                continue
            with self.lock:
                self.accepted.append(Accepted(mid, email, (message.get("metadata") or {}).get(
                    "clientela_key"), message.get("text"), extra={
                        "metadata": message.get("metadata") or {},
                        "subject": message.get("subject")}))
            results.append({"email": email, "status": "sent", "reject_reason": None,
                            "_id": mid})
        return Reply(200, results)

    def events(self, url: str, kinds: tuple[str, ...] = ("send", "open")
               ) -> list[dict[str, str]]:
        forms = []
        for message in self.accepted:
            items = [{"event": kind, "_id": message.id, "ts": 1_765_000_000 + i,
                      "msg": {"_id": message.id, "email": message.to, "state": "sent",
                              "metadata": message.extra["metadata"]}}
                     for i, kind in enumerate(kinds)]
            forms.append({"mandrill_events": json.dumps(items)})
        return forms

    @staticmethod
    def sign(url: str, form: dict[str, str], key: str = WEBHOOK_KEY) -> dict[str, str]:
        return {"X-Mandrill-Signature": url_form_signature(key, url, form),
                "Content-Type": "application/x-www-form-urlencoded"}
